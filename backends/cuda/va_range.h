// va_range.h — first-fit placement of allocations inside one reserved range of device addresses.
//
// gpucr reserves a large range of the GPU's virtual address space once (cuMemAddressReserve) and
// places every device allocation of the application inside it, so that an allocation keeps its
// address when its physical memory is released and created again (suspend, resume, migrate to
// another GPU). This class only does the arithmetic: which addresses are free. Not thread-safe.
//
//   VaRange va(base, 1ull << 40);
//   uint64_t p = va.Allocate(6 << 20, 2 << 20);  // 0: no room
//   va.Free(p, 6 << 20);
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

namespace gpucr::cuda {

class VaRange {
public:
    VaRange() = default;
    VaRange(uint64_t base, uint64_t size);

    // The lowest free address aligned to `align` (a power of two) with `size` bytes free, marked
    // used; 0 when none (or size 0).
    [[nodiscard]] uint64_t Allocate(uint64_t size, uint64_t align);
    // Returns [addr, addr + size) to the free space (merging neighbours). False when any of it is
    // outside the range or already free.
    bool Free(uint64_t addr, uint64_t size);

    uint64_t base() const { return base_; }
    uint64_t size() const { return size_; }
    uint64_t used() const { return used_; }
    bool Contains(uint64_t addr) const { return addr >= base_ && addr - base_ < size_; }
    size_t free_extents() const { return free_.size(); }

private:
    uint64_t base_ = 0;
    uint64_t size_ = 0;
    uint64_t used_ = 0;
    std::map<uint64_t, uint64_t> free_;  // start -> length
};

}  // namespace gpucr::cuda
