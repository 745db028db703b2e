// arena.h — per-call scratch memory for the unwrapped copies of application structs.
//
// The first 2 KiB live inside the Arena (on the caller's stack); larger needs go to the heap and are
// released with the Arena. Allocation failure throws std::bad_alloc, which entry points turn into
// VK_ERROR_OUT_OF_HOST_MEMORY.
//
//   Arena a;
//   auto* infos = a.Alloc<VkSubmitInfo>(count);
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace gpucr::vk {

class Arena {
public:
    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() {
        while (blocks_ != nullptr) {
            Block* next = blocks_->next;
            std::free(blocks_);
            blocks_ = next;
        }
    }

    void* AllocBytes(size_t size, size_t align = alignof(std::max_align_t)) {
        size_t start = (used_ + align - 1) & ~(align - 1);
        if (start + size <= kInline) {
            used_ = start + size;
            return inline_ + start;
        }
        return AllocHeap(size);
    }

    template <typename T>
    T* Alloc(size_t count) {
        return static_cast<T*>(AllocBytes(sizeof(T) * count, alignof(T)));
    }

private:
    struct Block {
        Block* next;
        std::max_align_t payload[1];
    };
    static constexpr size_t kInline = 2048;

    void* AllocHeap(size_t size) {
        auto* b = static_cast<Block*>(std::malloc(sizeof(Block) + size));
        if (b == nullptr) throw std::bad_alloc();
        b->next = blocks_;
        blocks_ = b;
        return b->payload;
    }

    alignas(std::max_align_t) unsigned char inline_[kInline];
    size_t used_ = 0;
    Block* blocks_ = nullptr;
};

}  // namespace gpucr::vk
