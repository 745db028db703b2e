// hooks_example.cpp — placeholder hooks proving the hook path (hooks.json lists vkCreateBuffer in pre and
// post); the checkpoint code replaces this file. The counts are read by the layer's tests.
#include <atomic>
#include <cstdint>

#include "vk_hooks.h"

namespace gpucr::vk::hooks {

std::atomic<uint64_t> g_example_pre_create_buffer{0};
std::atomic<uint64_t> g_example_post_create_buffer{0};

VkResult PreCall_vkCreateBuffer(VkDevice, const VkBufferCreateInfo*, const VkAllocationCallbacks*, VkBuffer*) {
    g_example_pre_create_buffer.fetch_add(1, std::memory_order_relaxed);
    return VK_SUCCESS;
}

void PostCall_vkCreateBuffer(VkResult, VkDevice, const VkBufferCreateInfo*, const VkAllocationCallbacks*, VkBuffer*) {
    g_example_post_create_buffer.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace gpucr::vk::hooks
