// hooks_objects.cpp — what the layer remembers of each object: enough to describe it in an
// image, resolve its accesses, and create it again.
#include "backends/vulkan/spirv_reflect.h"
#include "backends/vulkan/vk_access.h"
#include "backends/vulkan/vk_chain.h"
#include "backends/vulkan/vk_checkpoint.h"
#include "backends/vulkan/vk_memory.h"
#include "backends/vulkan/vk_staging.h"
#include "dag/log.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"

namespace gpucr::vk::hooks {

void PostCall_vkCreateInstance(VkResult result, const VkInstanceCreateInfo* pCreateInfo,
                               const VkAllocationCallbacks* pAllocator, VkInstance* pInstance) {
    if (result == VK_SUCCESS) VulkanCheckpoint::Get();  // starts the agent with the layer
}

void PostCall_vkCreateDevice(VkResult result, VkPhysicalDevice physicalDevice, const VkDeviceCreateInfo* pCreateInfo,
                             const VkAllocationCallbacks* pAllocator, VkDevice* pDevice) {
    if (result != VK_SUCCESS) return;
    DeviceData* dd = DeviceDataOf(*pDevice);
    InitDeviceCaps(*dd);
    VulkanCheckpoint::Get().AddDevice(dd);
}

void PreCall_vkDestroyDevice(VkDevice device, const VkAllocationCallbacks* pAllocator) {
    if (device == VK_NULL_HANDLE) return;
    DeviceData* dd = DeviceDataOf(device);
    ForgetDeviceReader(*dd);
    VulkanCheckpoint::Get().RemoveDevice(dd);
    ForgetDeviceCaps(*dd);
}

static void TrackQueue(VkQueue queue, uint32_t family, uint32_t index, VkDeviceQueueCreateFlags flags) {
    auto* q = Get(queue);
    if (q->next_seq == 0 && q->timeline == VK_NULL_HANDLE) {
        q->family = family;
        q->index = index;
        q->flags = flags;
        VulkanCheckpoint::Get().AddQueue(q);
    }
}

void PostCall_vkGetDeviceQueue(VkDevice device, uint32_t queueFamilyIndex, uint32_t queueIndex, VkQueue* pQueue) {
    if (*pQueue != VK_NULL_HANDLE) TrackQueue(*pQueue, queueFamilyIndex, queueIndex, 0);
}

void PostCall_vkGetDeviceQueue2(VkDevice device, const VkDeviceQueueInfo2* pQueueInfo, VkQueue* pQueue) {
    if (*pQueue != VK_NULL_HANDLE) TrackQueue(*pQueue, pQueueInfo->queueFamilyIndex, pQueueInfo->queueIndex, pQueueInfo->flags);
}

void PostCall_vkCreateShaderModule(VkResult result, VkDevice device, const VkShaderModuleCreateInfo* pCreateInfo,
                                   const VkAllocationCallbacks* pAllocator, VkShaderModule* pShaderModule) {
    if (result != VK_SUCCESS) return;
    auto* m = Get(*pShaderModule);
    m->code = std::make_shared<const std::vector<uint32_t>>(pCreateInfo->pCode,
                                                            pCreateInfo->pCode + pCreateInfo->codeSize / 4);
    auto ifaces = ReflectSpirv(m->code->data(), m->code->size());
    if (ifaces.ok()) {
        m->interfaces = std::move(ifaces).value();
        m->reflected = true;
    } else {
        GPUCR_LOG_WARN("vk", "shader module #{}: reflection failed ({}); its dispatches count as writing all memory",
                       m->id, ifaces.status().message());
    }
}

void PostCall_vkCreateComputePipelines(VkResult result, VkDevice device, VkPipelineCache pipelineCache,
                                       uint32_t createInfoCount, const VkComputePipelineCreateInfo* pCreateInfos,
                                       const VkAllocationCallbacks* pAllocator, VkPipeline* pPipelines) {
    for (uint32_t i = 0; i < createInfoCount; ++i) {
        if (pPipelines[i] == VK_NULL_HANDLE) continue;
        auto* p = Get(pPipelines[i]);
        const auto& ci = pCreateInfos[i];
        p->bind_point = VK_PIPELINE_BIND_POINT_COMPUTE;
        p->flags = ci.flags;
        p->layout = ci.layout ? Get(ci.layout)->id : 0;
        p->entry_point = ci.stage.pName ? ci.stage.pName : "main";
        if (ci.stage.pSpecializationInfo != nullptr) {
            const auto* si = ci.stage.pSpecializationInfo;
            p->specialization_map.assign(si->pMapEntries, si->pMapEntries + si->mapEntryCount);
            const auto* data = static_cast<const uint8_t*>(si->pData);
            p->specialization_data.assign(data, data + si->dataSize);
        }
        if (ci.stage.module != VK_NULL_HANDLE) {
            auto* m = Get(ci.stage.module);
            p->module = m->id;
            p->code = m->code;
            for (const auto& iface : m->interfaces) {
                if (iface.entry_point == p->entry_point) p->interface = iface;
            }
        } else {
            GPUCR_LOG_WARN_ONCE("vk", "compute pipeline without a shader module (inline SPIR-V): access unknown");
        }
    }
}

void PostCall_vkCreateGraphicsPipelines(VkResult result, VkDevice device, VkPipelineCache pipelineCache,
                                        uint32_t createInfoCount, const VkGraphicsPipelineCreateInfo* pCreateInfos,
                                        const VkAllocationCallbacks* pAllocator, VkPipeline* pPipelines) {
    for (uint32_t i = 0; i < createInfoCount; ++i) {
        if (pPipelines[i] == VK_NULL_HANDLE) continue;
        auto* p = Get(pPipelines[i]);
        p->bind_point = VK_PIPELINE_BIND_POINT_GRAPHICS;
        MarkUnsupported(*DeviceDataOf(device), p->id);
    }
}

void PostCall_vkCreatePipelineLayout(VkResult result, VkDevice device, const VkPipelineLayoutCreateInfo* pCreateInfo,
                                     const VkAllocationCallbacks* pAllocator, VkPipelineLayout* pPipelineLayout) {
    if (result != VK_SUCCESS) return;
    auto* l = Get(*pPipelineLayout);
    for (uint32_t i = 0; i < pCreateInfo->setLayoutCount; ++i) {
        l->set_layouts.push_back(pCreateInfo->pSetLayouts[i] ? Get(pCreateInfo->pSetLayouts[i])->id : 0);
    }
    l->push_constant_ranges.assign(pCreateInfo->pPushConstantRanges,
                                   pCreateInfo->pPushConstantRanges + pCreateInfo->pushConstantRangeCount);
}

void PostCall_vkCreateDescriptorSetLayout(VkResult result, VkDevice device,
                                          const VkDescriptorSetLayoutCreateInfo* pCreateInfo,
                                          const VkAllocationCallbacks* pAllocator, VkDescriptorSetLayout* pSetLayout) {
    if (result != VK_SUCCESS) return;
    auto* l = Get(*pSetLayout);
    l->flags = pCreateInfo->flags;
    for (uint32_t i = 0; i < pCreateInfo->bindingCount; ++i) {
        const auto& b = pCreateInfo->pBindings[i];
        l->bindings[b.binding] = {b.descriptorType, b.descriptorCount, b.stageFlags};
    }
}

void PostCall_vkCreateDescriptorPool(VkResult result, VkDevice device, const VkDescriptorPoolCreateInfo* pCreateInfo,
                                     const VkAllocationCallbacks* pAllocator, VkDescriptorPool* pDescriptorPool) {
    if (result != VK_SUCCESS) return;
    auto* p = Get(*pDescriptorPool);
    p->flags = pCreateInfo->flags;
    p->max_sets = pCreateInfo->maxSets;
    p->sizes.assign(pCreateInfo->pPoolSizes, pCreateInfo->pPoolSizes + pCreateInfo->poolSizeCount);
}

void PostCall_vkAllocateDescriptorSets(VkResult result, VkDevice device, const VkDescriptorSetAllocateInfo* pAllocateInfo,
                                       VkDescriptorSet* pDescriptorSets) {
    if (result != VK_SUCCESS) return;
    for (uint32_t i = 0; i < pAllocateInfo->descriptorSetCount; ++i) {
        Get(pDescriptorSets[i])->layout = Get(pAllocateInfo->pSetLayouts[i])->id;
    }
}

static void WriteDescriptors(const VkWriteDescriptorSet& w) {
    auto* set = Get(w.dstSet);
    auto* layout = FindObject<DescriptorSetLayout>(*set->device, set->layout, VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT);
    std::lock_guard lock(set->mu);
    uint32_t binding = w.dstBinding;
    uint32_t element = w.dstArrayElement;
    for (uint32_t i = 0; i < w.descriptorCount; ++i) {
        // Writes past a binding's count continue in the next binding (consecutive binding updates).
        auto& slots = set->bindings[binding];
        if (slots.size() <= element) slots.resize(element + 1);
        Descriptor d;
        d.type = w.descriptorType;
        switch (w.descriptorType) {
            case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER:
            case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER:
            case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC:
            case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC:
                if (w.pBufferInfo[i].buffer != VK_NULL_HANDLE) d.buffer = Get(w.pBufferInfo[i].buffer)->id;
                d.offset = w.pBufferInfo[i].offset;
                d.range = w.pBufferInfo[i].range;
                break;
            case VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER:
            case VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER:
                if (w.pTexelBufferView[i] != VK_NULL_HANDLE) {
                    auto* v = Get(w.pTexelBufferView[i]);
                    d.view = v->id;
                    d.buffer = v->buffer;
                    d.offset = v->offset;
                    d.range = v->range;
                }
                break;
            case VK_DESCRIPTOR_TYPE_SAMPLER:
            case VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER:
            case VK_DESCRIPTOR_TYPE_SAMPLED_IMAGE:
            case VK_DESCRIPTOR_TYPE_STORAGE_IMAGE:
            case VK_DESCRIPTOR_TYPE_INPUT_ATTACHMENT:
                if (w.pImageInfo[i].imageView != VK_NULL_HANDLE &&
                    w.descriptorType != VK_DESCRIPTOR_TYPE_SAMPLER) {
                    auto* v = Get(w.pImageInfo[i].imageView);
                    d.view = v->id;
                    d.image = v->image;
                }
                if (w.pImageInfo[i].sampler != VK_NULL_HANDLE &&
                    (w.descriptorType == VK_DESCRIPTOR_TYPE_SAMPLER ||
                     w.descriptorType == VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER)) {
                    d.sampler = Get(w.pImageInfo[i].sampler)->id;
                }
                d.layout = w.pImageInfo[i].imageLayout;
                break;
            default:
                set->opaque = true;  // inline uniform blocks, acceleration structures: not followed
                return;
        }
        slots[element] = d;
        ++element;
        if (layout != nullptr) {
            auto lb = layout->bindings.find(binding);
            if (lb != layout->bindings.end() && element >= lb->second.count) {
                ++binding;
                element = 0;
            }
        }
    }
}

void PostCall_vkUpdateDescriptorSets(VkDevice device, uint32_t descriptorWriteCount,
                                     const VkWriteDescriptorSet* pDescriptorWrites, uint32_t descriptorCopyCount,
                                     const VkCopyDescriptorSet* pDescriptorCopies) {
    for (uint32_t i = 0; i < descriptorWriteCount; ++i) WriteDescriptors(pDescriptorWrites[i]);
    for (uint32_t i = 0; i < descriptorCopyCount; ++i) {
        const auto& c = pDescriptorCopies[i];
        auto* src = Get(c.srcSet);
        auto* dst = Get(c.dstSet);
        std::vector<Descriptor> copied;
        {
            std::lock_guard lock(src->mu);
            auto it = src->bindings.find(c.srcBinding);
            for (uint32_t k = 0; k < c.descriptorCount; ++k) {
                const uint32_t e = c.srcArrayElement + k;
                copied.push_back(it != src->bindings.end() && e < it->second.size() ? it->second[e] : Descriptor{});
            }
        }
        std::lock_guard lock(dst->mu);
        auto& slots = dst->bindings[c.dstBinding];
        if (slots.size() < c.dstArrayElement + c.descriptorCount) slots.resize(c.dstArrayElement + c.descriptorCount);
        for (uint32_t k = 0; k < c.descriptorCount; ++k) slots[c.dstArrayElement + k] = copied[k];
    }
}

void PostCall_vkUpdateDescriptorSetWithTemplate(VkDevice device, VkDescriptorSet descriptorSet,
                                                VkDescriptorUpdateTemplate descriptorUpdateTemplate,
                                                const void* pData) {
    auto* set = Get(descriptorSet);
    std::lock_guard lock(set->mu);
    set->opaque = true;  // contents not followed: dispatches using it count as writing all memory
}

void PostCall_vkCreateBufferView(VkResult result, VkDevice device, const VkBufferViewCreateInfo* pCreateInfo,
                                 const VkAllocationCallbacks* pAllocator, VkBufferView* pView) {
    if (result != VK_SUCCESS) return;
    auto* v = Get(*pView);
    v->buffer = Get(pCreateInfo->buffer)->id;
    v->format = pCreateInfo->format;
    v->offset = pCreateInfo->offset;
    v->range = pCreateInfo->range;
}

void PostCall_vkCreateImageView(VkResult result, VkDevice device, const VkImageViewCreateInfo* pCreateInfo,
                                const VkAllocationCallbacks* pAllocator, VkImageView* pView) {
    if (result != VK_SUCCESS) return;
    auto* v = Get(*pView);
    v->image = Get(pCreateInfo->image)->id;
    v->view_type = pCreateInfo->viewType;
    v->format = pCreateInfo->format;
}

void PostCall_vkCreateSampler(VkResult result, VkDevice device, const VkSamplerCreateInfo* pCreateInfo,
                              const VkAllocationCallbacks* pAllocator, VkSampler* pSampler) {
    if (result != VK_SUCCESS) return;
    auto* s = Get(*pSampler);
    s->info = *pCreateInfo;
    s->info.pNext = nullptr;
}

void PostCall_vkCreateCommandPool(VkResult result, VkDevice device, const VkCommandPoolCreateInfo* pCreateInfo,
                                  const VkAllocationCallbacks* pAllocator, VkCommandPool* pCommandPool) {
    if (result != VK_SUCCESS) return;
    auto* p = Get(*pCommandPool);
    p->queue_family = pCreateInfo->queueFamilyIndex;
    p->flags = pCreateInfo->flags;
}

void PostCall_vkAllocateCommandBuffers(VkResult result, VkDevice device,
                                       const VkCommandBufferAllocateInfo* pAllocateInfo,
                                       VkCommandBuffer* pCommandBuffers) {
    if (result != VK_SUCCESS) return;
    for (uint32_t i = 0; i < pAllocateInfo->commandBufferCount; ++i) Get(pCommandBuffers[i])->level = pAllocateInfo->level;
}

void PostCall_vkCreateFence(VkResult result, VkDevice device, const VkFenceCreateInfo* pCreateInfo,
                            const VkAllocationCallbacks* pAllocator, VkFence* pFence) {
    if (result == VK_SUCCESS) Get(*pFence)->flags = pCreateInfo->flags;
}

void PostCall_vkCreateSemaphore(VkResult result, VkDevice device, const VkSemaphoreCreateInfo* pCreateInfo,
                                const VkAllocationCallbacks* pAllocator, VkSemaphore* pSemaphore) {
    if (result != VK_SUCCESS) return;
    auto* s = Get(*pSemaphore);
    if (auto* t = FindInChain<const VkSemaphoreTypeCreateInfo>(pCreateInfo->pNext,
                                                              VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO)) {
        s->semaphore_type = t->semaphoreType;
        s->initial_value = t->initialValue;
    }
}

void PostCall_vkCreateQueryPool(VkResult result, VkDevice device, const VkQueryPoolCreateInfo* pCreateInfo,
                                const VkAllocationCallbacks* pAllocator, VkQueryPool* pQueryPool) {
    if (result != VK_SUCCESS) return;
    auto* q = Get(*pQueryPool);
    q->query_type = pCreateInfo->queryType;
    q->query_count = pCreateInfo->queryCount;
    q->pipeline_statistics = pCreateInfo->pipelineStatistics;
}

}  // namespace gpucr::vk::hooks
