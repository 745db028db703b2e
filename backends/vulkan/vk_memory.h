// vk_memory.h — device memory the layer can read, protect and keep in place.
//
// Host-visible allocations are backed by layer-owned anonymous memory imported through
// VK_EXT_external_memory_host: the application's mapped pointer then stays valid and keeps
// its contents when the driver objects behind it are re-created, and a checkpoint reads the
// bytes directly. Where import is impossible, host-visible memory is mapped once by the layer
// (the application's vkMapMemory returns a pointer into that mapping). Device-local-only
// memory has no host view yet, and a dump that meets it refuses.
//
//   const VkDeviceCreateInfo* ci = PrepareDeviceCreateInfo(inst, driver_pd, app_ci, arena, &restore);
//   VkResult r = AllocateMemory(device, info, allocator, &memory);   // wraps and tracks
#pragma once

#include <vulkan/vulkan.h>

#include <functional>

#include "layers/vulkan/arena.h"
#include "layers/vulkan/object_types.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/instance_data.h"

namespace gpucr::vk {

struct DeviceCaps {
    VkPhysicalDeviceMemoryProperties memory{};
    bool host_import = false;             // VK_EXT_external_memory_host enabled
    VkDeviceSize import_alignment = 4096;
    bool timeline = false;                // timeline semaphores enabled
};

// Adds what checkpointing needs to a device about to be created: VK_EXT_external_memory_host
// and timeline semaphores, where the physical device has them. `restore` undoes a temporary
// change to the application's feature structs after the call.
const VkDeviceCreateInfo* PrepareDeviceCreateInfo(InstanceData& instance, VkPhysicalDevice driver_pd,
                                                  const VkDeviceCreateInfo* create_info, Arena& arena,
                                                  std::function<void()>* restore);
// Records the capabilities of a created device (call once, after creation).
void InitDeviceCaps(DeviceData& device);
const DeviceCaps& CapsOf(DeviceData& device);
void ForgetDeviceCaps(DeviceData& device);

// The driver's memory type for an index the application chose from the memory properties of
// the device it created (they differ after a migration to another kind of device).
uint32_t TranslateMemoryType(DeviceData& device, uint32_t app_index);

VkResult AllocateMemory(VkDevice device, const VkMemoryAllocateInfo* info, const VkAllocationCallbacks* allocator,
                        VkDeviceMemory* memory);
// Releases the layer's host backing after the driver memory is freed.
void ReleaseHostBacking(DeviceMemory& memory);

}  // namespace gpucr::vk
