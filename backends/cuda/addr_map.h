// addr_map.h — interval map of the device allocations a CUDA process holds.
//
// The CUDA backend records every allocation (base address, size, stable resource id) here, so that
// a device address (a kernel argument word, a memcpy pointer) can be resolved to the resource it
// falls in. Lookups are O(log n). Not thread-safe: the caller holds its own lock.
//
//   AddrMap map;
//   if (!map.Insert(0x7f0000000000, 1 << 20, /*id=*/42)) return Internal("overlapping allocation");
//   if (const Allocation* a = map.Find(0x7f0000000100)) UseResource(a->id, 0x100);  // a->id == 42
//   std::optional<Allocation> gone = map.Erase(0x7f0000000000);
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace gpucr::cuda {

struct Allocation {
    uint64_t base = 0;
    uint64_t size = 0;
    uint64_t id = 0;  // stable resource id (dag::ResourceId)
};

class AddrMap {
public:
    // False when size is 0, the range wraps past 2^64, or it overlaps an allocation already held.
    [[nodiscard]] bool Insert(uint64_t base, uint64_t size, uint64_t id);
    // Removes the allocation starting exactly at base; nullopt when there is none.
    std::optional<Allocation> Erase(uint64_t base);
    // The allocation containing addr (base <= addr < base + size), or null.
    [[nodiscard]] const Allocation* Find(uint64_t addr) const;
    // The allocation starting exactly at base, or null.
    [[nodiscard]] const Allocation* FindExact(uint64_t base) const;
    // Every allocation, sorted by base.
    [[nodiscard]] std::vector<Allocation> All() const;

    [[nodiscard]] size_t size() const { return by_base_.size(); }
    // Sum of the sizes of all allocations held.
    [[nodiscard]] uint64_t bytes() const { return bytes_; }

private:
    std::map<uint64_t, Allocation> by_base_;
    uint64_t bytes_ = 0;
};

}  // namespace gpucr::cuda
