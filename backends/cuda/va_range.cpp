#include "backends/cuda/va_range.h"

#include <iterator>

namespace gpucr::cuda {

VaRange::VaRange(uint64_t base, uint64_t size) : base_(base), size_(size) {
    if (size > 0) free_[base] = size;
}

uint64_t VaRange::Allocate(uint64_t size, uint64_t align) {
    if (size == 0 || align == 0 || (align & (align - 1)) != 0) return 0;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        const uint64_t start = it->first;
        const uint64_t len = it->second;
        const uint64_t at = (start + align - 1) & ~(align - 1);
        if (at < start || at - start > len || len - (at - start) < size) continue;
        const uint64_t tail = len - (at - start) - size;
        free_.erase(it);
        if (at > start) free_[start] = at - start;
        if (tail > 0) free_[at + size] = tail;
        used_ += size;
        return at;
    }
    return 0;
}

bool VaRange::Free(uint64_t addr, uint64_t size) {
    if (size == 0 || addr < base_ || addr + size > base_ + size_ || addr + size < addr) return false;
    auto next = free_.lower_bound(addr);
    if (next != free_.end() && next->first < addr + size) return false;  // overlaps free space
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second > addr) return false;
    }
    uint64_t start = addr;
    uint64_t len = size;
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == addr) {
            start = prev->first;
            len += prev->second;
            free_.erase(prev);
        }
    }
    if (next != free_.end() && next->first == addr + size) {
        len += next->second;
        free_.erase(next);
    }
    free_[start] = len;
    used_ -= size;
    return true;
}

}  // namespace gpucr::cuda
