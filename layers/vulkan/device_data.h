// device_data.h — what the layer keeps per VkDevice: the next layer's entry points, the driver device,
// how it was created (to create it again) and the ObjectTable of all its live wrappers.
//
//   DeviceData* d = DeviceDataOf(command_buffer);
//   d->dispatch.CmdDispatch(Unwrap(command_buffer), x, y, z);
//   for (const std::string& s : UnsupportedObjects(*d)) ...  // "VkSwapchainKHR x1"
#pragma once

#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#include <memory>
#include <string>
#include <vector>

#include "layers/vulkan/object_table.h"
#include "layers/vulkan/objects.h"
#include "vk_dispatch.h"

namespace gpucr::vk {

struct DeviceQueueRequest {
    VkDeviceQueueCreateFlags flags = 0;
    uint32_t family = 0;
    std::vector<float> priorities;
};

struct DeviceData {
    DeviceData() = default;
    DeviceData(const DeviceData&) = delete;
    DeviceData& operator=(const DeviceData&) = delete;
    ~DeviceData();

    DeviceDispatch dispatch{};
    PFN_vkGetDeviceProcAddr next_gdpa = nullptr;
    PFN_vkSetDeviceLoaderData set_loader_data = nullptr;  // for driver objects the layer makes itself
    PFN_vkLayerCreateDevice layer_create_device = nullptr;  // loader callbacks for re-creating the device
    PFN_vkLayerDestroyDevice layer_destroy_device = nullptr;
    VkDevice driver = VK_NULL_HANDLE;
    DispatchableObject* wrapper = nullptr;           // the application's VkDevice (WrapperOf<VkDevice>::type)
    DispatchableObject* physical_device = nullptr;   // the layer's physical-device wrapper
    InstanceData* instance = nullptr;

    // Creation parameters (enough to create the device again).
    std::vector<std::string> enabled_extensions;
    std::vector<DeviceQueueRequest> queues;
    VkPhysicalDeviceFeatures enabled_features{};  // from pEnabledFeatures or VkPhysicalDeviceFeatures2
    bool features2 = false;                       // features came through VkPhysicalDeviceFeatures2

    // Suspend, resume and migrate re-create the driver device. The first one stays: the loader's
    // dispatch table, which every application handle of this device points at, lives in it. It
    // is destroyed with the application's device (anchor_destroy), holding no other object.
    VkDevice anchor = VK_NULL_HANDLE;
    PFN_vkDestroyDevice anchor_destroy = nullptr;
    // Memory types as the application saw them when it created the device: its memory type
    // indices keep this meaning after a migration to a device with other types.
    VkPhysicalDeviceMemoryProperties app_memory{};
    // Feature structs of the application's pNext chain (VkPhysicalDeviceVulkan1xFeatures ...),
    // copied to create the device again.
    std::vector<std::vector<uint8_t>> feature_chain;

    ObjectTable objects;
};

inline DeviceData* DeviceDataOf(VkDevice h) { return reinterpret_cast<DispatchableObject*>(h)->device; }
inline DeviceData* DeviceDataOf(VkQueue h) { return reinterpret_cast<DispatchableObject*>(h)->device; }
inline DeviceData* DeviceDataOf(VkCommandBuffer h) { return reinterpret_cast<DispatchableObject*>(h)->device; }

// Marks a live object as one gpucr cannot capture (e.g. a graphics pipeline), or clears the mark.
void MarkUnsupported(DeviceData& device, uint64_t object_id, bool unsupported = true);
// Live objects of unsupported types or marked unsupported, by type: {"VkSwapchainKHR x1", ...}.
std::vector<std::string> UnsupportedObjects(DeviceData& device);

}  // namespace gpucr::vk
