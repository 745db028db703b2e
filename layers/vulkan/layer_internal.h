// layer_internal.h — helpers shared by the layer's hand-written entry points (layer*.cpp).
//
//   std::vector<DispatchableObject*> pds;
//   VkResult r = RefreshPhysicalDevices(instance_data, &pds);  // stable wrappers, driver order
#pragma once

#include <vulkan/vulkan.h>

#include <vector>

#include "layers/vulkan/device_data.h"
#include "layers/vulkan/instance_data.h"

namespace gpucr::vk {

inline constexpr const char* kLayerName = "VK_LAYER_GPUCR_checkpoint";
inline constexpr const char* kLayerDescription = "gpucr: transparent GPU checkpoint/restore";
inline constexpr uint32_t kLayerImplementationVersion = 1;

// Enumerates the driver's physical devices and returns the layer's stable wrappers for them
// (re-pointing a wrapper by deviceUUID when the driver handle changed).
VkResult RefreshPhysicalDevices(InstanceData& data, std::vector<DispatchableObject*>* current);
// The wrapper of a driver physical device already enumerated; VK_NULL_HANDLE if none.
VkPhysicalDevice AppPhysicalDevice(InstanceData& data, VkPhysicalDevice driver);
// Registry of devices: key is the device wrapper (or the driver's dispatch key with GPUCR_DISABLE=1).
DeviceData* FindDeviceDataByKey(void* key);
// The layer's vkGetInstanceProcAddr as the loader knows it (pfnLayerCreateDevice finds the
// layer's place in the chain by it).
PFN_vkGetInstanceProcAddr LayerGetInstanceProcAddr();

// While the layer creates a driver device again through the loader's pfnLayerCreateDevice, the
// loader calls instance entry points at the top of the chain with the driver's physical-device
// handle (the one the layer passed): on that thread they take it as such.
class DriverPhysicalDeviceScope {
public:
    explicit DriverPhysicalDeviceScope(InstanceData* instance) noexcept;
    ~DriverPhysicalDeviceScope();
    DriverPhysicalDeviceScope(const DriverPhysicalDeviceScope&) = delete;
    DriverPhysicalDeviceScope& operator=(const DriverPhysicalDeviceScope&) = delete;
    // The instance whose driver handles are in flight on this thread, or null.
    static InstanceData* Active() noexcept;
};

}  // namespace gpucr::vk
