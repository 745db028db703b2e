// instance_data.h — what the layer keeps per VkInstance: the next layer's entry points, the stable
// physical-device wrappers and the instance-level objects (surfaces, messengers, displays).
//
// The application's VkInstance is the loader's own object; InstanceData is found by its dispatch key.
//
//   InstanceData* d = InstanceDataOf(instance);
//   d->dispatch.GetPhysicalDeviceProperties(Unwrap(physical_device), &props);
#pragma once

#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "layers/vulkan/object_table.h"
#include "layers/vulkan/objects.h"
#include "vk_dispatch.h"

namespace gpucr::vk {

struct InstanceData {
    InstanceData() = default;
    InstanceData(const InstanceData&) = delete;
    InstanceData& operator=(const InstanceData&) = delete;
    ~InstanceData();

    InstanceDispatch dispatch{};
    PFN_vkGetInstanceProcAddr next_gipa = nullptr;
    PFN_vkLayerCreateDevice layer_create_device = nullptr;  // loader callbacks (device re-creation)
    PFN_vkLayerDestroyDevice layer_destroy_device = nullptr;
    VkInstance instance = VK_NULL_HANDLE;  // the loader's handle (also what the next layer takes)
    uint32_t api_version = VK_API_VERSION_1_0;
    std::vector<std::string> enabled_extensions;

    // Stable wrappers: the loader re-uses its own physical-device objects only if every
    // enumeration returns the same values. Owned here; never deleted before the instance.
    std::mutex physical_devices_mutex;
    std::vector<DispatchableObject*> physical_devices;

    ObjectTable objects;  // instance-level objects, physical devices included
};

// Lookup by the instance's dispatch key (first word); nullptr when unknown.
InstanceData* InstanceDataOf(VkInstance instance);
InstanceData* InstanceDataOf(VkPhysicalDevice physical_device);

// Registry used by layer.cpp.
void RegisterInstanceData(void* key, std::unique_ptr<InstanceData> data);
std::unique_ptr<InstanceData> UnregisterInstanceData(void* key);
InstanceData* FindInstanceDataByKey(void* key);

inline void* DispatchKey(const void* dispatchable) { return *static_cast<void* const*>(dispatchable); }

}  // namespace gpucr::vk
