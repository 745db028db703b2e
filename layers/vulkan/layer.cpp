// layer.cpp — the loader-facing exports of VK_LAYER_GPUCR_checkpoint: interface negotiation,
// vkGetInstanceProcAddr / vkGetDeviceProcAddr, and the layer and extension queries.
#include <vulkan/vk_layer.h>
#include <vulkan/vulkan.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "dag/log.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/instance_data.h"
#include "layers/vulkan/layer_internal.h"
#include "layers/vulkan/proc_table.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"

#define GPUCR_EXPORT extern "C" __attribute__((visibility("default")))

namespace gpucr::vk {

namespace {

// Entry points the layer keeps even when GPUCR_DISABLE=1 (it must see creation to find the next layer).
bool KeptWhenDisabled(const char* name) {
    static constexpr const char* kKept[] = {
        "vkGetInstanceProcAddr", "vkGetDeviceProcAddr", "vkCreateInstance", "vkDestroyInstance",
        "vkCreateDevice", "vkDestroyDevice", "vkEnumerateInstanceExtensionProperties",
        "vkEnumerateInstanceLayerProperties", "vkEnumerateDeviceLayerProperties",
        "vkEnumerateDeviceExtensionProperties",
    };
    for (const char* k : kKept) {
        if (std::strcmp(k, name) == 0) return true;
    }
    return false;
}

PFN_vkVoidFunction NextPointer(const void* dispatch, const ProcEntry& e) {
    return *reinterpret_cast<const PFN_vkVoidFunction*>(static_cast<const char*>(dispatch) + e.dispatch_offset);
}

template <typename T>
VkResult CopyOut(const std::vector<T>& all, uint32_t* count, T* out) {
    if (out == nullptr) {
        *count = static_cast<uint32_t>(all.size());
        return VK_SUCCESS;
    }
    uint32_t n = std::min<uint32_t>(*count, static_cast<uint32_t>(all.size()));
    std::copy(all.begin(), all.begin() + n, out);
    *count = n;
    return n < all.size() ? VK_INCOMPLETE : VK_SUCCESS;
}

VkLayerProperties LayerProperties() {
    VkLayerProperties p{};
    std::strncpy(p.layerName, kLayerName, sizeof(p.layerName) - 1);
    std::strncpy(p.description, kLayerDescription, sizeof(p.description) - 1);
    p.specVersion = VK_HEADER_VERSION_COMPLETE;
    p.implementationVersion = kLayerImplementationVersion;
    return p;
}

}  // namespace

namespace layer {

PFN_vkVoidFunction Layer_vkGetInstanceProcAddr(VkInstance instance, const char* pName) {
    if (pName == nullptr) return nullptr;
    const ProcEntry* e = FindProc(pName);
    if (Disabled() && !(e != nullptr && KeptWhenDisabled(pName))) {
        InstanceData* data = instance != VK_NULL_HANDLE ? InstanceDataOf(instance) : nullptr;
        return data != nullptr ? data->next_gipa(instance, pName) : nullptr;
    }
    if (e == nullptr) return nullptr;  // not covered (platform, video, provisional): never the driver's
    if (e->level == ProcLevel::kGlobal || std::strcmp(pName, "vkGetInstanceProcAddr") == 0) return e->fn;
    if (instance == VK_NULL_HANDLE) return nullptr;
    if (e->level == ProcLevel::kDevice) return e->fn;
    InstanceData* data = InstanceDataOf(instance);
    if (data != nullptr && NextPointer(&data->dispatch, *e) == nullptr) return nullptr;
    return e->fn;
}

PFN_vkVoidFunction Layer_vkGetDeviceProcAddr(VkDevice device, const char* pName) {
    if (pName == nullptr || device == VK_NULL_HANDLE) return nullptr;
    const ProcEntry* e = FindProc(pName);
    if (Disabled()) {
        if (e != nullptr && KeptWhenDisabled(pName) && e->level == ProcLevel::kDevice) return e->fn;
        DeviceData* d = FindDeviceDataByKey(DispatchKey(device));
        return d != nullptr ? d->next_gdpa(device, pName) : nullptr;
    }
    if (e == nullptr || e->level != ProcLevel::kDevice) return nullptr;
    if (NextPointer(&DeviceDataOf(device)->dispatch, *e) == nullptr) return nullptr;
    return e->fn;
}

VkResult Layer_vkEnumerateInstanceExtensionProperties(const char* pLayerName, uint32_t* pPropertyCount,
                                                      VkExtensionProperties* pProperties) {
    if (pLayerName != nullptr && std::strcmp(pLayerName, kLayerName) == 0) {
        *pPropertyCount = 0;
        return VK_SUCCESS;
    }
    return VK_ERROR_LAYER_NOT_PRESENT;
}

VkResult Layer_vkEnumerateInstanceLayerProperties(uint32_t* pPropertyCount, VkLayerProperties* pProperties) {
    return CopyOut(std::vector<VkLayerProperties>{LayerProperties()}, pPropertyCount, pProperties);
}

VkResult Layer_vkEnumerateInstanceVersion(uint32_t* pApiVersion) {
    *pApiVersion = VK_HEADER_VERSION_COMPLETE;
    return VK_SUCCESS;
}

VkResult Layer_vkEnumerateDeviceLayerProperties(VkPhysicalDevice, uint32_t* pPropertyCount,
                                                VkLayerProperties* pProperties) {
    return CopyOut(std::vector<VkLayerProperties>{LayerProperties()}, pPropertyCount, pProperties);
}

VkResult Layer_vkEnumerateDeviceExtensionProperties(VkPhysicalDevice physicalDevice, const char* pLayerName,
                                                    uint32_t* pPropertyCount, VkExtensionProperties* pProperties) {
    if (pLayerName != nullptr && std::strcmp(pLayerName, kLayerName) == 0) {
        *pPropertyCount = 0;
        return VK_SUCCESS;
    }
    if (InstanceData* recreating = DriverPhysicalDeviceScope::Active()) {
        return recreating->dispatch.EnumerateDeviceExtensionProperties(physicalDevice, pLayerName, pPropertyCount,
                                                                      pProperties);
    }
    const bool disabled = Disabled();
    InstanceData* data =
        disabled ? FindInstanceDataByKey(DispatchKey(physicalDevice)) : InstanceDataOf(physicalDevice);
    if (data == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
    VkPhysicalDevice pd = disabled ? physicalDevice : Unwrap(physicalDevice);
    auto next = data->dispatch.EnumerateDeviceExtensionProperties;
    if (disabled || pLayerName != nullptr) return next(pd, pLayerName, pPropertyCount, pProperties);
    // Only extensions whose commands and structs the wrappers cover: the others would reach the
    // driver with the layer's handles.
    uint32_t count = 0;
    VkResult r = next(pd, nullptr, &count, nullptr);
    if (r != VK_SUCCESS) return r;
    std::vector<VkExtensionProperties> all(count);
    r = next(pd, nullptr, &count, all.data());
    if (r < 0) return r;
    all.resize(count);
    std::vector<VkExtensionProperties> covered;
    for (const VkExtensionProperties& e : all) {
        if (IsCoveredDeviceExtension(e.extensionName)) {
            covered.push_back(e);
        } else {
            GPUCR_LOG_DEBUG("vk", "hiding device extension {} (not covered by the layer)", e.extensionName);
        }
    }
    return CopyOut(covered, pPropertyCount, pProperties);
}

}  // namespace layer

namespace {
thread_local InstanceData* t_driver_pd_instance = nullptr;
}  // namespace

DriverPhysicalDeviceScope::DriverPhysicalDeviceScope(InstanceData* instance) noexcept {
    t_driver_pd_instance = instance;
}
DriverPhysicalDeviceScope::~DriverPhysicalDeviceScope() { t_driver_pd_instance = nullptr; }
InstanceData* DriverPhysicalDeviceScope::Active() noexcept { return t_driver_pd_instance; }

}  // namespace gpucr::vk

// ---- exports: the only symbols the library makes visible ----
// Internally the layer's own (hidden) functions are used: a reference to the exported names could bind
// to libvulkan's functions of the same name through symbol interposition.

namespace {

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetInstanceProcAddr(VkInstance instance, const char* pName) noexcept {
    try {
        return gpucr::vk::layer::Layer_vkGetInstanceProcAddr(instance, pName);
    } catch (...) {
        GPUCR_LOG_ERROR("vk", "vkGetInstanceProcAddr: unexpected exception");
        return nullptr;
    }
}

VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL GetDeviceProcAddr(VkDevice device, const char* pName) noexcept {
    try {
        return gpucr::vk::layer::Layer_vkGetDeviceProcAddr(device, pName);
    } catch (...) {
        GPUCR_LOG_ERROR("vk", "vkGetDeviceProcAddr: unexpected exception");
        return nullptr;
    }
}

}  // namespace

PFN_vkGetInstanceProcAddr gpucr::vk::LayerGetInstanceProcAddr() { return GetInstanceProcAddr; }

GPUCR_EXPORT VKAPI_ATTR VkResult VKAPI_CALL vkNegotiateLoaderLayerInterfaceVersion(VkNegotiateLayerInterface* v) {
    if (v == nullptr || v->sType != LAYER_NEGOTIATE_INTERFACE_STRUCT) return VK_ERROR_INITIALIZATION_FAILED;
    if (v->loaderLayerInterfaceVersion < 2) return VK_ERROR_INITIALIZATION_FAILED;
    v->loaderLayerInterfaceVersion = 2;
    v->pfnGetInstanceProcAddr = GetInstanceProcAddr;
    v->pfnGetDeviceProcAddr = GetDeviceProcAddr;
    v->pfnGetPhysicalDeviceProcAddr = nullptr;
    return VK_SUCCESS;
}

GPUCR_EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vkGetInstanceProcAddr(VkInstance instance, const char* pName) {
    return GetInstanceProcAddr(instance, pName);
}

GPUCR_EXPORT VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL vkGetDeviceProcAddr(VkDevice device, const char* pName) {
    return GetDeviceProcAddr(device, pName);
}
