// addr_map.cpp — interval map of device allocations (see addr_map.h).
#include "backends/cuda/addr_map.h"

#include <iterator>

namespace gpucr::cuda {

bool AddrMap::Insert(uint64_t base, uint64_t size, uint64_t id) {
    if (size == 0 || base + size < base) return false;  // empty, or wraps around
    auto next = by_base_.lower_bound(base);
    if (next != by_base_.end() && next->first < base + size) return false;
    if (next != by_base_.begin()) {
        const Allocation& prev = std::prev(next)->second;
        if (base - prev.base < prev.size) return false;
    }
    by_base_.emplace_hint(next, base, Allocation{.base = base, .size = size, .id = id});
    bytes_ += size;
    return true;
}

std::optional<Allocation> AddrMap::Erase(uint64_t base) {
    auto it = by_base_.find(base);
    if (it == by_base_.end()) return std::nullopt;
    Allocation gone = it->second;
    by_base_.erase(it);
    bytes_ -= gone.size;
    return gone;
}

const Allocation* AddrMap::Find(uint64_t addr) const {
    auto it = by_base_.upper_bound(addr);
    if (it == by_base_.begin()) return nullptr;
    const Allocation& a = std::prev(it)->second;
    return addr - a.base < a.size ? &a : nullptr;
}

const Allocation* AddrMap::FindExact(uint64_t base) const {
    auto it = by_base_.find(base);
    return it == by_base_.end() ? nullptr : &it->second;
}

std::vector<Allocation> AddrMap::All() const {
    std::vector<Allocation> all;
    all.reserve(by_base_.size());
    for (const auto& [base, a] : by_base_) all.push_back(a);
    return all;
}

}  // namespace gpucr::cuda
