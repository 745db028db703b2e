// layer_create.cpp — instance and device creation through the loader chain, stable physical-device
// wrappers, and the per-device registry.
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "backends/vulkan/vk_memory.h"
#include "dag/log.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/instance_data.h"
#include "layers/vulkan/layer_internal.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"
#include "vk_unwrap.h"

namespace gpucr::vk {

namespace {

std::mutex g_devices_mutex;
std::unordered_map<void*, std::unique_ptr<DeviceData>>& Devices() {
    static auto* map = new std::unordered_map<void*, std::unique_ptr<DeviceData>>();
    return *map;
}

template <typename Info>
Info* FindLoaderInfo(const void* next, VkStructureType stype, VkLayerFunction function) {
    for (auto* p = static_cast<const VkBaseInStructure*>(next); p != nullptr; p = p->pNext) {
        auto* info = reinterpret_cast<Info*>(const_cast<VkBaseInStructure*>(p));
        if (p->sType == stype && info->function == function) return info;
    }
    return nullptr;
}

VkResult DriverPhysicalDevices(InstanceData& data, std::vector<VkPhysicalDevice>* out) {
    uint32_t count = 0;
    VkResult r = data.dispatch.EnumeratePhysicalDevices(data.instance, &count, nullptr);
    if (r != VK_SUCCESS) return r;
    out->resize(count);
    r = data.dispatch.EnumeratePhysicalDevices(data.instance, &count, out->data());
    out->resize(count);
    return r == VK_INCOMPLETE ? VK_SUCCESS : r;
}

// Identity of a physical device across re-enumerations: its deviceUUID where available.
std::string PhysicalDeviceKey(InstanceData& data, VkPhysicalDevice pd) {
    if (data.dispatch.GetPhysicalDeviceProperties2 != nullptr) {
        VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
        VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &id};
        data.dispatch.GetPhysicalDeviceProperties2(pd, &props);
        return std::string(reinterpret_cast<const char*>(id.deviceUUID), VK_UUID_SIZE);
    }
    VkPhysicalDeviceProperties props{};
    data.dispatch.GetPhysicalDeviceProperties(pd, &props);
    return std::string(props.deviceName) + std::to_string(props.vendorID) + ":" + std::to_string(props.deviceID);
}

}  // namespace

VkResult RefreshPhysicalDevices(InstanceData& data, std::vector<DispatchableObject*>* current) {
    std::vector<VkPhysicalDevice> drivers;
    VkResult r = DriverPhysicalDevices(data, &drivers);
    if (r != VK_SUCCESS) return r;
    std::lock_guard lock(data.physical_devices_mutex);
    current->clear();
    for (VkPhysicalDevice pd : drivers) {
        DispatchableObject* found = nullptr;
        for (DispatchableObject* w : data.physical_devices) {
            if (w->driver == pd) found = w;
        }
        if (found == nullptr) {
            std::string key = PhysicalDeviceKey(data, pd);
            for (DispatchableObject* w : data.physical_devices) {
                if (PhysicalDeviceKey(data, static_cast<VkPhysicalDevice>(w->driver)) == key) found = w;
            }
            if (found != nullptr) found->driver = pd;  // same device, new driver handle: re-point
        }
        if (found == nullptr) {
            found = Get(Wrap(pd, &data));
            data.physical_devices.push_back(found);
        }
        current->push_back(found);
    }
    return VK_SUCCESS;
}

VkPhysicalDevice AppPhysicalDevice(InstanceData& data, VkPhysicalDevice driver) {
    std::lock_guard lock(data.physical_devices_mutex);
    for (DispatchableObject* w : data.physical_devices) {
        if (w->driver == driver) return reinterpret_cast<VkPhysicalDevice>(w);
    }
    return VK_NULL_HANDLE;
}

DeviceData* FindDeviceDataByKey(void* key) {
    std::lock_guard lock(g_devices_mutex);
    auto it = Devices().find(key);
    return it == Devices().end() ? nullptr : it->second.get();
}

namespace layer {

bool Disabled() {
    static const bool disabled = [] {
        const char* v = std::getenv("GPUCR_DISABLE");
        return v != nullptr && std::strcmp(v, "1") == 0;
    }();
    return disabled;
}

VkResult Layer_vkCreateInstance(const VkInstanceCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator,
                                VkInstance* pInstance) {
    auto* link = FindLoaderInfo<VkLayerInstanceCreateInfo>(pCreateInfo->pNext,
                                                           VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO,
                                                           VK_LAYER_LINK_INFO);
    if (link == nullptr || link->u.pLayerInfo == nullptr) {
        GPUCR_LOG_ERROR("vk", "vkCreateInstance: no loader link info; is the layer loaded by the Vulkan loader?");
        return VK_ERROR_INITIALIZATION_FAILED;
    }
    PFN_vkGetInstanceProcAddr next_gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
    link->u.pLayerInfo = link->u.pLayerInfo->pNext;
    auto create = reinterpret_cast<PFN_vkCreateInstance>(next_gipa(VK_NULL_HANDLE, "vkCreateInstance"));
    if (create == nullptr) return VK_ERROR_INITIALIZATION_FAILED;

    auto data = std::make_unique<InstanceData>();
    if (auto* cb = FindLoaderInfo<VkLayerInstanceCreateInfo>(pCreateInfo->pNext,
                                                             VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO,
                                                             VK_LOADER_LAYER_CREATE_DEVICE_CALLBACK)) {
        data->layer_create_device = cb->u.layerDevice.pfnLayerCreateDevice;
        data->layer_destroy_device = cb->u.layerDevice.pfnLayerDestroyDevice;
    }
    VkResult r = create(pCreateInfo, pAllocator, pInstance);
    if (r != VK_SUCCESS) return r;
    data->next_gipa = next_gipa;
    data->instance = *pInstance;
    if (pCreateInfo->pApplicationInfo != nullptr && pCreateInfo->pApplicationInfo->apiVersion != 0) {
        data->api_version = pCreateInfo->pApplicationInfo->apiVersion;
    }
    for (uint32_t i = 0; i < pCreateInfo->enabledExtensionCount; ++i) {
        data->enabled_extensions.emplace_back(pCreateInfo->ppEnabledExtensionNames[i]);
    }
    FillInstanceDispatch(&data->dispatch, next_gipa, *pInstance);
    RegisterInstanceData(DispatchKey(*pInstance), std::move(data));
    GPUCR_LOG_DEBUG("vk", "instance created{}", Disabled() ? " (GPUCR_DISABLE=1: pass-through)" : "");
    return VK_SUCCESS;
}

void Layer_vkDestroyInstance(VkInstance instance, const VkAllocationCallbacks* pAllocator) {
    if (instance == VK_NULL_HANDLE) return;
    InstanceData* data = InstanceDataOf(instance);
    if (data != nullptr) data->dispatch.DestroyInstance(instance, pAllocator);
}

void LayerFinish_vkDestroyInstance(VkInstance instance, const VkAllocationCallbacks*) {
    if (instance != VK_NULL_HANDLE) UnregisterInstanceData(DispatchKey(instance));
}

}  // namespace layer

namespace {

void RecordDeviceCreateInfo(DeviceData& d, const VkDeviceCreateInfo& info) {
    for (uint32_t i = 0; i < info.enabledExtensionCount; ++i) {
        d.enabled_extensions.emplace_back(info.ppEnabledExtensionNames[i]);
    }
    for (uint32_t i = 0; i < info.queueCreateInfoCount; ++i) {
        const VkDeviceQueueCreateInfo& q = info.pQueueCreateInfos[i];
        d.queues.push_back({q.flags, q.queueFamilyIndex,
                            std::vector<float>(q.pQueuePriorities, q.pQueuePriorities + q.queueCount)});
    }
    if (info.pEnabledFeatures != nullptr) d.enabled_features = *info.pEnabledFeatures;
    for (auto* p = static_cast<const VkBaseInStructure*>(info.pNext); p != nullptr; p = p->pNext) {
        size_t size = 0;
        switch (p->sType) {
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2:
                d.enabled_features = reinterpret_cast<const VkPhysicalDeviceFeatures2*>(p)->features;
                d.features2 = true;
                break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES: size = sizeof(VkPhysicalDeviceVulkan11Features); break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES: size = sizeof(VkPhysicalDeviceVulkan12Features); break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES: size = sizeof(VkPhysicalDeviceVulkan13Features); break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES:
                size = sizeof(VkPhysicalDeviceTimelineSemaphoreFeatures);
                break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES:
                size = sizeof(VkPhysicalDeviceBufferDeviceAddressFeatures);
                break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES: size = sizeof(VkPhysicalDevice8BitStorageFeatures); break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES: size = sizeof(VkPhysicalDevice16BitStorageFeatures); break;
            case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES:
                size = sizeof(VkPhysicalDeviceShaderFloat16Int8Features);
                break;
            case VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO: break;  // the loader's own
            default:
                GPUCR_LOG_DEBUG("vk", "vkCreateDevice: pNext sType {} is not kept for re-creating the device",
                                static_cast<int>(p->sType));
        }
        if (size > 0) {
            const auto* bytes = reinterpret_cast<const uint8_t*>(p);
            d.feature_chain.emplace_back(bytes, bytes + size);
        }
    }
    if (d.physical_device != nullptr) {
        d.instance->dispatch.GetPhysicalDeviceMemoryProperties(static_cast<VkPhysicalDevice>(d.physical_device->driver),
                                                              &d.app_memory);
    }
}

}  // namespace

namespace layer {

VkResult Layer_vkCreateDevice(VkPhysicalDevice physicalDevice, const VkDeviceCreateInfo* pCreateInfo,
                              const VkAllocationCallbacks* pAllocator, VkDevice* pDevice) {
    auto* link = FindLoaderInfo<VkLayerDeviceCreateInfo>(pCreateInfo->pNext, VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO,
                                                         VK_LAYER_LINK_INFO);
    if (link == nullptr || link->u.pLayerInfo == nullptr) {
        GPUCR_LOG_ERROR("vk", "vkCreateDevice: no loader link info");
        return VK_ERROR_INITIALIZATION_FAILED;
    }
    PFN_vkGetInstanceProcAddr next_gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
    PFN_vkGetDeviceProcAddr next_gdpa = link->u.pLayerInfo->pfnNextGetDeviceProcAddr;
    link->u.pLayerInfo = link->u.pLayerInfo->pNext;

    const bool disabled = Disabled();
    InstanceData* inst = disabled ? FindInstanceDataByKey(DispatchKey(physicalDevice)) : InstanceDataOf(physicalDevice);
    if (inst == nullptr) {
        GPUCR_LOG_ERROR("vk", "vkCreateDevice: unknown physical device");
        return VK_ERROR_INITIALIZATION_FAILED;
    }
    auto create = reinterpret_cast<PFN_vkCreateDevice>(next_gipa(inst->instance, "vkCreateDevice"));
    if (create == nullptr) return VK_ERROR_INITIALIZATION_FAILED;

    auto d = std::make_unique<DeviceData>();
    if (auto* cb = FindLoaderInfo<VkLayerDeviceCreateInfo>(pCreateInfo->pNext, VK_STRUCTURE_TYPE_LOADER_DEVICE_CREATE_INFO,
                                                           VK_LOADER_DATA_CALLBACK)) {
        d->set_loader_data = cb->u.pfnSetDeviceLoaderData;
    }
    Arena a;
    const VkDeviceCreateInfo* down = disabled ? pCreateInfo : UnwrapCopy(a, pCreateInfo, 1);
    VkPhysicalDevice driver_pd = disabled ? physicalDevice : Unwrap(physicalDevice);
    // The loader passes its own device object down in *pDevice (its terminator reads it): keep it.
    VkDevice driver = *pDevice;
    std::function<void()> restore;
    if (!disabled) down = PrepareDeviceCreateInfo(*inst, driver_pd, down, a, &restore);
    VkResult r = create(driver_pd, down, pAllocator, &driver);
    if (restore) restore();
    if (r != VK_SUCCESS) return r;

    d->next_gdpa = next_gdpa;
    d->layer_create_device = inst->layer_create_device;
    d->layer_destroy_device = inst->layer_destroy_device;
    d->driver = driver;
    d->anchor = driver;
    d->instance = inst;
    if (!disabled) d->physical_device = Get(physicalDevice);
    RecordDeviceCreateInfo(*d, *pCreateInfo);
    FillDeviceDispatch(&d->dispatch, next_gdpa, driver);
    d->anchor_destroy = d->dispatch.DestroyDevice;
    void* key = DispatchKey(driver);
    if (!disabled) {
        auto* w = new WrapperOf<VkDevice>::type();
        w->loader_data = DispatchKey(driver);  // the loader does not write it into a layer's device
        w->type = VK_OBJECT_TYPE_DEVICE;
        w->id = NextObjectId();
        w->driver = driver;
        w->device = d.get();
        w->instance = inst;
        d->wrapper = w;
        d->physical_device = Get(physicalDevice);
        key = w;
        *pDevice = reinterpret_cast<VkDevice>(w);
    } else {
        *pDevice = driver;
    }
    std::lock_guard lock(g_devices_mutex);
    Devices()[key] = std::move(d);
    return VK_SUCCESS;
}

void Layer_vkDestroyDevice(VkDevice device, const VkAllocationCallbacks* pAllocator) {
    if (device == VK_NULL_HANDLE) return;
    DeviceData* d = Disabled() ? FindDeviceDataByKey(DispatchKey(device)) : DeviceDataOf(device);
    if (d == nullptr) return;
    // A device re-created by resume or migrate goes back through the loader's callback; the
    // first one (the anchor) down the chain, as it came.
    if (d->driver != VK_NULL_HANDLE && d->driver != d->anchor && d->layer_destroy_device != nullptr) {
        d->layer_destroy_device(d->driver, pAllocator, d->dispatch.DestroyDevice);
    }
    if (d->anchor_destroy != nullptr) d->anchor_destroy(d->anchor, pAllocator);
}

void LayerFinish_vkDestroyDevice(VkDevice device, const VkAllocationCallbacks*) {
    if (device == VK_NULL_HANDLE) return;
    void* key = Disabled() ? DispatchKey(device) : static_cast<void*>(device);
    std::unique_ptr<DeviceData> d;
    {
        std::lock_guard lock(g_devices_mutex);
        auto it = Devices().find(key);
        if (it == Devices().end()) return;
        d = std::move(it->second);
        Devices().erase(it);
    }
    auto* w = static_cast<WrapperOf<VkDevice>::type*>(d->wrapper);
    d.reset();  // deletes the wrappers still in the table
    delete w;
}

VkResult Layer_vkEnumeratePhysicalDevices(VkInstance instance, uint32_t* pPhysicalDeviceCount,
                                          VkPhysicalDevice* pPhysicalDevices) {
    InstanceData* data = InstanceDataOf(instance);
    if (data == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
    if (Disabled()) return data->dispatch.EnumeratePhysicalDevices(instance, pPhysicalDeviceCount, pPhysicalDevices);
    std::vector<DispatchableObject*> current;
    VkResult r = RefreshPhysicalDevices(*data, &current);
    if (r != VK_SUCCESS) return r;
    if (pPhysicalDevices == nullptr) {
        *pPhysicalDeviceCount = static_cast<uint32_t>(current.size());
        return VK_SUCCESS;
    }
    uint32_t n = std::min<uint32_t>(*pPhysicalDeviceCount, static_cast<uint32_t>(current.size()));
    for (uint32_t i = 0; i < n; ++i) pPhysicalDevices[i] = reinterpret_cast<VkPhysicalDevice>(current[i]);
    *pPhysicalDeviceCount = n;
    return n < current.size() ? VK_INCOMPLETE : VK_SUCCESS;
}

namespace {

VkResult EnumerateGroups(VkInstance instance, uint32_t* count, VkPhysicalDeviceGroupProperties* groups,
                         PFN_vkEnumeratePhysicalDeviceGroups InstanceDispatch::*next) {
    InstanceData* data = InstanceDataOf(instance);
    if (data == nullptr || data->dispatch.*next == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
    VkResult r = (data->dispatch.*next)(instance, count, groups);
    if (Disabled() || r < 0 || groups == nullptr) return r;
    std::vector<DispatchableObject*> current;
    VkResult refreshed = RefreshPhysicalDevices(*data, &current);
    if (refreshed != VK_SUCCESS) return refreshed;
    for (uint32_t g = 0; g < *count; ++g) {
        for (uint32_t i = 0; i < groups[g].physicalDeviceCount; ++i) {
            groups[g].physicalDevices[i] = AppPhysicalDevice(*data, groups[g].physicalDevices[i]);
        }
    }
    return r;
}

}  // namespace

VkResult Layer_vkEnumeratePhysicalDeviceGroups(VkInstance instance, uint32_t* pPhysicalDeviceGroupCount,
                                               VkPhysicalDeviceGroupProperties* pPhysicalDeviceGroupProperties) {
    return EnumerateGroups(instance, pPhysicalDeviceGroupCount, pPhysicalDeviceGroupProperties,
                           &InstanceDispatch::EnumeratePhysicalDeviceGroups);
}

VkResult Layer_vkEnumeratePhysicalDeviceGroupsKHR(VkInstance instance, uint32_t* pPhysicalDeviceGroupCount,
                                                  VkPhysicalDeviceGroupProperties* pPhysicalDeviceGroupProperties) {
    return EnumerateGroups(instance, pPhysicalDeviceGroupCount, pPhysicalDeviceGroupProperties,
                           &InstanceDispatch::EnumeratePhysicalDeviceGroupsKHR);
}

}  // namespace layer

}  // namespace gpucr::vk
