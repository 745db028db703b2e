// descriptor_template.cpp — descriptor update templates: the update data is raw memory laid out by the
// template's entries, with handles inside, so the layer keeps the entries and rewrites the data.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "layers/vulkan/device_data.h"
#include "layers/vulkan/unwrap_custom.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"
#include "vk_unwrap.h"

namespace gpucr::vk {

namespace {

// Template entries by template id (the wrapper type belongs to the checkpoint code).
std::mutex g_templates_mutex;
std::unordered_map<uint64_t, std::vector<VkDescriptorUpdateTemplateEntry>>& Templates() {
    static auto* map = new std::unordered_map<uint64_t, std::vector<VkDescriptorUpdateTemplateEntry>>();
    return *map;
}

std::vector<VkDescriptorUpdateTemplateEntry> EntriesOf(VkDescriptorUpdateTemplate tmpl) {
    std::lock_guard lock(g_templates_mutex);
    auto it = Templates().find(Get(tmpl)->id);
    return it == Templates().end() ? std::vector<VkDescriptorUpdateTemplateEntry>{} : it->second;
}

size_t ElementSize(VkDescriptorType type) {
    if (DescriptorUsesImageInfo(type)) return sizeof(VkDescriptorImageInfo);
    if (DescriptorUsesBufferInfo(type)) return sizeof(VkDescriptorBufferInfo);
    if (DescriptorUsesTexelBufferView(type)) return sizeof(VkBufferView);
    if (type == VK_DESCRIPTOR_TYPE_INLINE_UNIFORM_BLOCK) return 1;
    return sizeof(uint64_t);  // acceleration structures: one handle
}

void UnwrapElement(VkDescriptorType type, char* p) {
    switch (type) {
        case VK_DESCRIPTOR_TYPE_SAMPLER:
        case VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER:
        case VK_DESCRIPTOR_TYPE_SAMPLED_IMAGE:
        case VK_DESCRIPTOR_TYPE_STORAGE_IMAGE:
        case VK_DESCRIPTOR_TYPE_INPUT_ATTACHMENT: {
            auto* info = reinterpret_cast<VkDescriptorImageInfo*>(p);
            info->sampler = (type == VK_DESCRIPTOR_TYPE_SAMPLER || type == VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER)
                                ? Unwrap(info->sampler)
                                : VK_NULL_HANDLE;
            info->imageView = type != VK_DESCRIPTOR_TYPE_SAMPLER ? Unwrap(info->imageView) : VK_NULL_HANDLE;
            break;
        }
        case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER:
        case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER:
        case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC:
        case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC: {
            auto* info = reinterpret_cast<VkDescriptorBufferInfo*>(p);
            info->buffer = Unwrap(info->buffer);
            break;
        }
        case VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER:
        case VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER: {
            auto* view = reinterpret_cast<VkBufferView*>(p);
            *view = Unwrap(*view);
            break;
        }
        case VK_DESCRIPTOR_TYPE_ACCELERATION_STRUCTURE_KHR: {
            auto* as = reinterpret_cast<VkAccelerationStructureKHR*>(p);
            *as = Unwrap(*as);
            break;
        }
        case VK_DESCRIPTOR_TYPE_ACCELERATION_STRUCTURE_NV: {
            auto* as = reinterpret_cast<VkAccelerationStructureNV*>(p);
            *as = Unwrap(*as);
            break;
        }
        default:
            break;
    }
}

// A copy of the application's update data with driver handles.
const void* UnwrapTemplateData(Arena& a, VkDescriptorUpdateTemplate tmpl, const void* data) {
    if (data == nullptr) return data;
    const auto entries = EntriesOf(tmpl);
    size_t size = 0;
    for (const auto& e : entries) {
        if (e.descriptorCount == 0) continue;
        size_t elem = ElementSize(e.descriptorType);
        size_t end = e.descriptorType == VK_DESCRIPTOR_TYPE_INLINE_UNIFORM_BLOCK
                         ? e.offset + e.descriptorCount
                         : e.offset + (e.descriptorCount - 1) * e.stride + elem;
        size = std::max(size, end);
    }
    auto* copy = static_cast<char*>(a.AllocBytes(size == 0 ? 1 : size));
    std::memcpy(copy, data, size);
    for (const auto& e : entries) {
        if (e.descriptorType == VK_DESCRIPTOR_TYPE_INLINE_UNIFORM_BLOCK) continue;
        for (uint32_t i = 0; i < e.descriptorCount; ++i) UnwrapElement(e.descriptorType, copy + e.offset + i * e.stride);
    }
    return copy;
}

VkResult CreateTemplate(VkDevice device, const VkDescriptorUpdateTemplateCreateInfo* info,
                        const VkAllocationCallbacks* allocator, VkDescriptorUpdateTemplate* out,
                        PFN_vkCreateDescriptorUpdateTemplate next) {
    DeviceData* d = DeviceDataOf(device);
    Arena a;
    VkResult r = next(Unwrap(device), UnwrapCopy(a, info, 1), allocator, out);
    if (r != VK_SUCCESS) return r;
    *out = Wrap(*out, d);
    std::lock_guard lock(g_templates_mutex);
    Templates()[Get(*out)->id].assign(info->pDescriptorUpdateEntries,
                                      info->pDescriptorUpdateEntries + info->descriptorUpdateEntryCount);
    return r;
}

void DestroyTemplate(VkDevice device, VkDescriptorUpdateTemplate tmpl, const VkAllocationCallbacks* allocator,
                     PFN_vkDestroyDescriptorUpdateTemplate next) {
    next(Unwrap(device), Unwrap(tmpl), allocator);
}

void ForgetTemplate(VkDescriptorUpdateTemplate tmpl) {
    if (tmpl == VK_NULL_HANDLE) return;
    {
        std::lock_guard lock(g_templates_mutex);
        Templates().erase(Get(tmpl)->id);
    }
    DestroyWrapper(tmpl);
}

}  // namespace

namespace layer {

void Layer_vkDestroyDescriptorUpdateTemplate(VkDevice device, VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                             const VkAllocationCallbacks* pAllocator) {
    DestroyTemplate(device, descriptorUpdateTemplate, pAllocator,
                    DeviceDataOf(device)->dispatch.DestroyDescriptorUpdateTemplate);
}

void Layer_vkDestroyDescriptorUpdateTemplateKHR(VkDevice device, VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                                const VkAllocationCallbacks* pAllocator) {
    DestroyTemplate(device, descriptorUpdateTemplate, pAllocator,
                    DeviceDataOf(device)->dispatch.DestroyDescriptorUpdateTemplateKHR);
}

void LayerFinish_vkDestroyDescriptorUpdateTemplate(VkDevice, VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                                   const VkAllocationCallbacks*) {
    ForgetTemplate(descriptorUpdateTemplate);
}

void LayerFinish_vkDestroyDescriptorUpdateTemplateKHR(VkDevice, VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                                      const VkAllocationCallbacks*) {
    ForgetTemplate(descriptorUpdateTemplate);
}

VkResult Layer_vkCreateDescriptorUpdateTemplate(VkDevice device, const VkDescriptorUpdateTemplateCreateInfo* pCreateInfo,
                                                const VkAllocationCallbacks* pAllocator,
                                                VkDescriptorUpdateTemplate* pDescriptorUpdateTemplate) {
    return CreateTemplate(device, pCreateInfo, pAllocator, pDescriptorUpdateTemplate,
                          DeviceDataOf(device)->dispatch.CreateDescriptorUpdateTemplate);
}

VkResult Layer_vkCreateDescriptorUpdateTemplateKHR(VkDevice device,
                                                   const VkDescriptorUpdateTemplateCreateInfo* pCreateInfo,
                                                   const VkAllocationCallbacks* pAllocator,
                                                   VkDescriptorUpdateTemplate* pDescriptorUpdateTemplate) {
    return CreateTemplate(device, pCreateInfo, pAllocator, pDescriptorUpdateTemplate,
                          DeviceDataOf(device)->dispatch.CreateDescriptorUpdateTemplateKHR);
}

void Layer_vkUpdateDescriptorSetWithTemplate(VkDevice device, VkDescriptorSet descriptorSet,
                                             VkDescriptorUpdateTemplate descriptorUpdateTemplate, const void* pData) {
    Arena a;
    DeviceDataOf(device)->dispatch.UpdateDescriptorSetWithTemplate(
        Unwrap(device), Unwrap(descriptorSet), Unwrap(descriptorUpdateTemplate),
        UnwrapTemplateData(a, descriptorUpdateTemplate, pData));
}

void Layer_vkUpdateDescriptorSetWithTemplateKHR(VkDevice device, VkDescriptorSet descriptorSet,
                                                VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                                const void* pData) {
    Arena a;
    DeviceDataOf(device)->dispatch.UpdateDescriptorSetWithTemplateKHR(
        Unwrap(device), Unwrap(descriptorSet), Unwrap(descriptorUpdateTemplate),
        UnwrapTemplateData(a, descriptorUpdateTemplate, pData));
}

void Layer_vkCmdPushDescriptorSetWithTemplateKHR(VkCommandBuffer commandBuffer,
                                                 VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                                 VkPipelineLayout layout, uint32_t set, const void* pData) {
    Arena a;
    DeviceDataOf(commandBuffer)
        ->dispatch.CmdPushDescriptorSetWithTemplateKHR(Unwrap(commandBuffer), Unwrap(descriptorUpdateTemplate),
                                                       Unwrap(layout), set,
                                                       UnwrapTemplateData(a, descriptorUpdateTemplate, pData));
}

}  // namespace layer

}  // namespace gpucr::vk
