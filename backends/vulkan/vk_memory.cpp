#include "backends/vulkan/vk_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backends/vulkan/vk_chain.h"
#include "dag/log.h"
#include "layers/vulkan/wrap.h"
#include "vk_unwrap.h"

namespace gpucr::vk {
namespace {

std::mutex g_caps_mu;
std::map<DeviceData*, DeviceCaps> g_caps;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

bool HasExtension(const std::vector<VkExtensionProperties>& exts, const char* name) {
    for (const auto& e : exts) {
        if (std::strcmp(e.extensionName, name) == 0) return true;
    }
    return false;
}

}  // namespace

const VkDeviceCreateInfo* PrepareDeviceCreateInfo(InstanceData& inst, VkPhysicalDevice pd,
                                                  const VkDeviceCreateInfo* ci, Arena& arena,
                                                  std::function<void()>* restore) {
    uint32_t n = 0;
    inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> available(n);
    inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &n, available.data());
    VkPhysicalDeviceProperties props{};
    inst.dispatch.GetPhysicalDeviceProperties(pd, &props);

    std::vector<const char*> exts(ci->ppEnabledExtensionNames, ci->ppEnabledExtensionNames + ci->enabledExtensionCount);
    auto enable = [&](const char* name) {
        for (const char* e : exts) {
            if (std::strcmp(e, name) == 0) return true;
        }
        if (!HasExtension(available, name)) return false;
        exts.push_back(name);
        return true;
    };
    enable(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);

    auto* out = arena.Alloc<VkDeviceCreateInfo>(1);
    *out = *ci;
    // Timeline semaphores (core in 1.2) track queue completion.
    auto get_features2 = inst.dispatch.GetPhysicalDeviceFeatures2 ? inst.dispatch.GetPhysicalDeviceFeatures2
                                                                   : inst.dispatch.GetPhysicalDeviceFeatures2KHR;
    bool timeline_supported = false;
    if (get_features2 != nullptr) {
        VkPhysicalDeviceTimelineSemaphoreFeatures tf{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
        VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &tf};
        get_features2(pd, &f2);
        timeline_supported = tf.timelineSemaphore == VK_TRUE;
    }
    // The extension as well on 1.2 devices: an application that asked for an older API version
    // gets no core 1.2 entry points from the loader.
    const bool timeline_ext = enable(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
    if (timeline_supported && (timeline_ext || props.apiVersion >= VK_API_VERSION_1_2)) {
        if (auto* v12 = FindInChain<VkPhysicalDeviceVulkan12Features>(
                ci->pNext, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES)) {
            if (!v12->timelineSemaphore) {
                v12->timelineSemaphore = VK_TRUE;
                *restore = [v12] { v12->timelineSemaphore = VK_FALSE; };
            }
        } else if (auto* tf = FindInChain<VkPhysicalDeviceTimelineSemaphoreFeatures>(
                       ci->pNext, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES)) {
            if (!tf->timelineSemaphore) {
                tf->timelineSemaphore = VK_TRUE;
                *restore = [tf] { tf->timelineSemaphore = VK_FALSE; };
            }
        } else {
            auto* tf2 = arena.Alloc<VkPhysicalDeviceTimelineSemaphoreFeatures>(1);
            *tf2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES, const_cast<void*>(out->pNext), VK_TRUE};
            out->pNext = tf2;
        }
    } else {
        GPUCR_LOG_WARN("vk", "device has no timeline semaphores: dumps of it will be refused");
    }
    auto** names = arena.Alloc<const char*>(exts.size());
    for (size_t i = 0; i < exts.size(); ++i) names[i] = exts[i];
    out->enabledExtensionCount = static_cast<uint32_t>(exts.size());
    out->ppEnabledExtensionNames = names;
    return out;
}

void InitDeviceCaps(DeviceData& device) {
    DeviceCaps caps;
    InstanceData* inst = device.instance;
    auto pd = static_cast<VkPhysicalDevice>(device.physical_device->driver);
    inst->dispatch.GetPhysicalDeviceMemoryProperties(pd, &caps.memory);
    caps.host_import = device.dispatch.GetMemoryHostPointerPropertiesEXT != nullptr;
    auto get2 = inst->dispatch.GetPhysicalDeviceProperties2 ? inst->dispatch.GetPhysicalDeviceProperties2
                                                             : inst->dispatch.GetPhysicalDeviceProperties2KHR;
    if (caps.host_import && get2 != nullptr) {
        VkPhysicalDeviceExternalMemoryHostPropertiesEXT hp{
            VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
        VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &hp};
        get2(pd, &p2);
        caps.import_alignment = std::max<VkDeviceSize>(hp.minImportedHostPointerAlignment, sysconf(_SC_PAGESIZE));
    } else {
        caps.host_import = false;
    }
    caps.timeline = device.dispatch.WaitSemaphores != nullptr || device.dispatch.WaitSemaphoresKHR != nullptr;
    std::lock_guard lock(g_caps_mu);
    g_caps[&device] = caps;
}

const DeviceCaps& CapsOf(DeviceData& device) {
    std::lock_guard lock(g_caps_mu);
    return g_caps[&device];
}

void ForgetDeviceCaps(DeviceData& device) {
    std::lock_guard lock(g_caps_mu);
    g_caps.erase(&device);
}

uint32_t TranslateMemoryType(DeviceData& device, uint32_t app_index) {
    const DeviceCaps& caps = CapsOf(device);
    const VkPhysicalDeviceMemoryProperties& app = device.app_memory;
    if (app.memoryTypeCount == 0 || app_index >= app.memoryTypeCount) return app_index;
    const VkMemoryPropertyFlags want = app.memoryTypes[app_index].propertyFlags;
    if (app_index < caps.memory.memoryTypeCount && caps.memory.memoryTypes[app_index].propertyFlags == want) return app_index;
    for (uint32_t i = 0; i < caps.memory.memoryTypeCount; ++i) {
        if (caps.memory.memoryTypes[i].propertyFlags == want) return i;
    }
    for (uint32_t i = 0; i < caps.memory.memoryTypeCount; ++i) {
        if ((caps.memory.memoryTypes[i].propertyFlags & want) == want) return i;
    }
    return app_index;
}

VkResult AllocateMemory(VkDevice device, const VkMemoryAllocateInfo* info, const VkAllocationCallbacks* allocator,
                        VkDeviceMemory* memory) {
    DeviceData* dd = DeviceDataOf(device);
    const DeviceCaps& caps = CapsOf(*dd);
    // The application's index means a type of the device it created; after a migration the
    // driver's may differ: the same properties are looked for.
    const uint32_t type_index = TranslateMemoryType(*dd, info->memoryTypeIndex);
    if (type_index >= caps.memory.memoryTypeCount) return VK_ERROR_OUT_OF_DEVICE_MEMORY;
    const VkMemoryPropertyFlags props = caps.memory.memoryTypes[type_index].propertyFlags;
    const bool host_visible = (props & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;

    Arena a;
    VkMemoryAllocateInfo down = *info;
    down.memoryTypeIndex = type_index;
    down.pNext = UnwrapChain(a, info->pNext);
    auto* dedicated = FindInChain<VkMemoryDedicatedAllocateInfo>(info->pNext, VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO);
    const bool other_external =
        FindInChain<VkExportMemoryAllocateInfo>(info->pNext, VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO) ||
        FindInChain<VkImportMemoryHostPointerInfoEXT>(info->pNext, VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT) ||
        FindInChain<VkImportMemoryFdInfoKHR>(info->pNext, VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR);
    // Images are created without the external-memory info import needs; their memory stays the driver's.
    const bool dedicated_image = dedicated != nullptr && dedicated->image != VK_NULL_HANDLE;
    bool import = host_visible && caps.host_import && !other_external && !dedicated_image;

    uint8_t* host = nullptr;
    uint64_t host_size = 0;
    VkImportMemoryHostPointerInfoEXT imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT};
    if (import) {
        host_size = RoundUp(std::max<VkDeviceSize>(info->allocationSize, 1), caps.import_alignment);
        void* p = mmap(nullptr, host_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        VkMemoryHostPointerPropertiesEXT hp{VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
        if (p == MAP_FAILED) {
            import = false;
        } else if (dd->dispatch.GetMemoryHostPointerPropertiesEXT(dd->driver, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                                                                   p, &hp) != VK_SUCCESS ||
                   (hp.memoryTypeBits & (1u << type_index)) == 0) {
            munmap(p, host_size);
            import = false;
        } else {
            host = static_cast<uint8_t*>(p);
            imp.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
            imp.pHostPointer = p;
            imp.pNext = down.pNext;
            down.pNext = &imp;
            down.allocationSize = host_size;
        }
    }
    VkDeviceMemory driver = VK_NULL_HANDLE;
    VkResult r = dd->dispatch.AllocateMemory(dd->driver, &down, allocator, &driver);
    if (r != VK_SUCCESS && import) {
        GPUCR_LOG_WARN_ONCE("vk", "importing host memory failed ({}); falling back to driver memory", r);
        munmap(host, host_size);
        host = nullptr;
        host_size = 0;
        import = false;
        down = *info;
        down.memoryTypeIndex = type_index;
        down.pNext = UnwrapChain(a, info->pNext);
        r = dd->dispatch.AllocateMemory(dd->driver, &down, allocator, &driver);
    }
    if (r != VK_SUCCESS) return r;
    if (!import && host_visible) {
        void* p = nullptr;
        if (dd->dispatch.MapMemory(dd->driver, driver, 0, VK_WHOLE_SIZE, 0, &p) == VK_SUCCESS) host = static_cast<uint8_t*>(p);
    }
    VkDeviceMemory app = Wrap(driver, dd);
    auto* m = Get(app);
    m->size = info->allocationSize;
    m->type_index = type_index;
    m->properties = props;
    m->host = host;
    m->host_size = host_size;
    m->imported = import;
    if (dedicated != nullptr) {
        if (dedicated->buffer != VK_NULL_HANDLE) m->dedicated_buffer = Get(dedicated->buffer)->id;
        if (dedicated->image != VK_NULL_HANDLE) m->dedicated_image = Get(dedicated->image)->id;
    }
    *memory = app;
    return VK_SUCCESS;
}

void ReleaseHostBacking(DeviceMemory& memory) {
    if (memory.imported && memory.host != nullptr) munmap(memory.host, memory.host_size);
    memory.host = nullptr;
}

}  // namespace gpucr::vk
