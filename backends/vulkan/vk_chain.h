// vk_chain.h — looking up a structure in a Vulkan pNext chain.
//
//   if (auto* d = FindInChain<VkMemoryDedicatedAllocateInfo>(info->pNext,
//                                                           VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO)) ...
#pragma once

#include <vulkan/vulkan.h>

namespace gpucr::vk {

// The first element of `next`'s chain with `type`, or nullptr. Non-const: the layer may adjust
// an application's feature struct for the duration of one call (and restores it).
template <typename T>
T* FindInChain(const void* next, VkStructureType type) {
    for (auto* s = static_cast<const VkBaseInStructure*>(next); s != nullptr; s = s->pNext) {
        if (s->sType == type) return reinterpret_cast<T*>(const_cast<VkBaseInStructure*>(s));
    }
    return nullptr;
}

}  // namespace gpucr::vk
