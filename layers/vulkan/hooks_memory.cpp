// hooks_memory.cpp — device memory, buffers and images: host-backed allocation, mapping,
// binding; what the checkpoint needs to find every byte of state.
#include <cstring>

#include "backends/vulkan/vk_chain.h"
#include "backends/vulkan/vk_checkpoint.h"
#include "backends/vulkan/vk_memory.h"
#include "backends/vulkan/vk_staging.h"
#include "dag/log.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"
#include "vk_unwrap.h"

namespace gpucr::vk::hooks {
namespace {

void BindBuffer(VkBuffer buffer, VkDeviceMemory memory, VkDeviceSize offset) {
    auto* b = Get(buffer);
    b->memory = Get(memory)->id;
    b->memory_offset = offset;
}

void BindImage(VkDevice device, VkImage image, VkDeviceMemory memory, VkDeviceSize offset) {
    auto* i = Get(image);
    DeviceData* dd = DeviceDataOf(device);
    VkMemoryRequirements req{};
    dd->dispatch.GetImageMemoryRequirements(dd->driver, Unwrap(image), &req);
    i->memory = Get(memory)->id;
    i->memory_offset = offset;
    i->memory_size = req.size;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL Override_vkAllocateMemory(VkDevice device, const VkMemoryAllocateInfo* pAllocateInfo,
                                                        const VkAllocationCallbacks* pAllocator,
                                                        VkDeviceMemory* pMemory) {
    try {
        return AllocateMemory(device, pAllocateInfo, pAllocator, pMemory);
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR("vk", "vkAllocateMemory: {}", e.what());
        return VK_ERROR_OUT_OF_HOST_MEMORY;
    }
}

void PreCall_vkFreeMemory(VkDevice device, VkDeviceMemory memory, const VkAllocationCallbacks* pAllocator) {
    if (memory == VK_NULL_HANDLE) return;
    auto* m = Get(memory);
    VulkanCheckpoint::Get().engine().BeforeRelease(m->id);
    VulkanCheckpoint::Get().dag().Forget(m->id);
    ForgetDeviceMemory(*DeviceDataOf(device), m->id);
}

void PostCall_vkFreeMemory(VkDevice device, VkDeviceMemory memory, const VkAllocationCallbacks* pAllocator) {
    if (memory != VK_NULL_HANDLE) ReleaseHostBacking(*Get(memory));
}

// Mappings are the layer's: the pointer stays valid across re-creation of the driver memory.
VKAPI_ATTR VkResult VKAPI_CALL Override_vkMapMemory(VkDevice device, VkDeviceMemory memory, VkDeviceSize offset,
                                                   VkDeviceSize size, VkMemoryMapFlags flags, void** ppData) {
    try {
        auto* m = Get(memory);
        const dag::ResourceId id = m->id;
        VulkanCheckpoint::Get().EnsureLoaded({&id, 1});  // after a resume: its contents first
        if (m->host == nullptr) return VK_ERROR_MEMORY_MAP_FAILED;
        m->map_offset = offset;
        m->map_size = size;
        m->app_maps.store(1);
        VulkanCheckpoint::Get().engine().OnMap(m->id);
        *ppData = m->host + offset;
        return VK_SUCCESS;
    } catch (...) {
        return VK_ERROR_MEMORY_MAP_FAILED;
    }
}

VKAPI_ATTR void VKAPI_CALL Override_vkUnmapMemory(VkDevice device, VkDeviceMemory memory) {
    if (memory != VK_NULL_HANDLE) Get(memory)->app_maps.store(0);
}

void PostCall_vkFlushMappedMemoryRanges(VkResult result, VkDevice device, uint32_t memoryRangeCount,
                                        const VkMappedMemoryRange* pMemoryRanges) {
    for (uint32_t i = 0; i < memoryRangeCount; ++i) {
        VulkanCheckpoint::Get().RecordHostWrite(Get(pMemoryRanges[i].memory), pMemoryRanges[i].offset,
                                                pMemoryRanges[i].size);
    }
}

// Buffers may be bound to imported host memory, which needs the external-memory info.
VKAPI_ATTR VkResult VKAPI_CALL Override_vkCreateBuffer(VkDevice device, const VkBufferCreateInfo* pCreateInfo,
                                                      const VkAllocationCallbacks* pAllocator, VkBuffer* pBuffer) {
    try {
        DeviceData* dd = DeviceDataOf(device);
        Arena a;
        VkBufferCreateInfo ci = *pCreateInfo;
        ci.pNext = UnwrapChain(a, pCreateInfo->pNext);
        VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
        // An application that manages external memory itself keeps its own handle types.
        if (CapsOf(*dd).host_import &&
            FindInChain<VkExternalMemoryBufferCreateInfo>(pCreateInfo->pNext,
                                                          VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO) == nullptr) {
            ext.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
            ext.pNext = ci.pNext;
            ci.pNext = &ext;
        }
        VkBuffer driver = VK_NULL_HANDLE;
        VkResult r = dd->dispatch.CreateBuffer(dd->driver, &ci, pAllocator, &driver);
        if (r != VK_SUCCESS) return r;
        VkBuffer app = Wrap(driver, dd);
        auto* b = Get(app);
        b->size = pCreateInfo->size;
        b->usage = pCreateInfo->usage;
        b->flags = pCreateInfo->flags;
        *pBuffer = app;
        return VK_SUCCESS;
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR("vk", "vkCreateBuffer: {}", e.what());
        return VK_ERROR_OUT_OF_HOST_MEMORY;
    }
}

void PostCall_vkBindBufferMemory(VkResult result, VkDevice device, VkBuffer buffer, VkDeviceMemory memory,
                                 VkDeviceSize memoryOffset) {
    if (result == VK_SUCCESS) BindBuffer(buffer, memory, memoryOffset);
}

void PostCall_vkBindBufferMemory2(VkResult result, VkDevice device, uint32_t bindInfoCount,
                                  const VkBindBufferMemoryInfo* pBindInfos) {
    if (result != VK_SUCCESS) return;
    for (uint32_t i = 0; i < bindInfoCount; ++i) BindBuffer(pBindInfos[i].buffer, pBindInfos[i].memory, pBindInfos[i].memoryOffset);
}

void PostCall_vkCreateImage(VkResult result, VkDevice device, const VkImageCreateInfo* pCreateInfo,
                            const VkAllocationCallbacks* pAllocator, VkImage* pImage) {
    if (result != VK_SUCCESS) return;
    auto* i = Get(*pImage);
    i->info = *pCreateInfo;
    i->info.pNext = nullptr;
    i->info.pQueueFamilyIndices = nullptr;
    i->info.queueFamilyIndexCount = 0;
}

void PostCall_vkBindImageMemory(VkResult result, VkDevice device, VkImage image, VkDeviceMemory memory,
                                VkDeviceSize memoryOffset) {
    if (result == VK_SUCCESS) BindImage(device, image, memory, memoryOffset);
}

void PostCall_vkBindImageMemory2(VkResult result, VkDevice device, uint32_t bindInfoCount,
                                 const VkBindImageMemoryInfo* pBindInfos) {
    if (result != VK_SUCCESS) return;
    for (uint32_t i = 0; i < bindInfoCount; ++i) {
        if (pBindInfos[i].memory != VK_NULL_HANDLE) BindImage(device, pBindInfos[i].image, pBindInfos[i].memory, pBindInfos[i].memoryOffset);
    }
}

}  // namespace gpucr::vk::hooks
