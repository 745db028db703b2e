// hooks_record.cpp — command buffers recorded by the layer, and submissions.
//
// Every vkCmd* that touches memory is remembered per command buffer (what the DAG needs at
// submit time, and what re-recording needs); the bound compute state is snapshotted into each
// dispatch. Commands outside the modelled set mark the buffer, and its submissions count as
// writing all memory. The replayable command log (command_log.h) is begun, ended and reset here; the
// generated entry points append to it. vkQueueSubmit(2) brackets the driver call with the checkpoint engine.
#include <cstring>
#include <memory>

#include "backends/vulkan/vk_access.h"
#include "backends/vulkan/vk_chain.h"
#include "backends/vulkan/vk_checkpoint.h"
#include "dag/log.h"
#include "layers/vulkan/command_log.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"
#include "vk_unwrap.h"

namespace gpucr::vk::hooks {
namespace {

using K = RecordedCommand::Kind;

RecordedCommand& Add(VkCommandBuffer cb, K kind, const char* name) {
    auto* c = Get(cb);
    c->commands.push_back({});
    RecordedCommand& cmd = c->commands.back();
    cmd.kind = kind;
    cmd.name = name;
    return cmd;
}

void AddDispatch(VkCommandBuffer cb, K kind, const char* name, uint32_t x, uint32_t y, uint32_t z) {
    auto* c = Get(cb);
    RecordedCommand& cmd = Add(cb, kind, name);
    cmd.pipeline = c->bound_compute_pipeline;
    cmd.sets = c->bound_compute_sets;
    cmd.push_constants = c->push_constants;
    cmd.group_count[0] = x;
    cmd.group_count[1] = y;
    cmd.group_count[2] = z;
}

uint64_t IdOf(VkBuffer b) { return b ? Get(b)->id : 0; }
uint64_t IdOf(VkImage i) { return i ? Get(i)->id : 0; }

std::vector<CommandBuffer*> Collect(const VkCommandBuffer* cbs, uint32_t n) {
    std::vector<CommandBuffer*> out;
    for (uint32_t i = 0; i < n; ++i) out.push_back(Get(cbs[i]));
    return out;
}

void ClearRecording(CommandBuffer* c) {
    c->commands.clear();
    c->bound_compute_pipeline = 0;
    c->bound_compute_sets.clear();
    c->push_constants.clear();
    c->unmodeled = false;
}

}  // namespace

// The command log (command_log.h) follows the buffer's lifecycle; a replay (which calls these entry
// points itself) leaves it alone while commands are rebuilt.
void PostCall_vkBeginCommandBuffer(VkResult result, VkCommandBuffer commandBuffer,
                                   const VkCommandBufferBeginInfo* pBeginInfo) {
    auto* c = Get(commandBuffer);
    ClearRecording(c);
    if (result != VK_SUCCESS || CommandLog::Replaying()) return;
    if (c->log == nullptr) c->log = std::make_unique<CommandLog>();
    c->log->Begin(c->level, pBeginInfo);
}

void PostCall_vkEndCommandBuffer(VkResult result, VkCommandBuffer commandBuffer) {
    auto* c = Get(commandBuffer);
    if (result == VK_SUCCESS && c->log != nullptr && !CommandLog::Replaying()) c->log->End();
}

void PostCall_vkResetCommandBuffer(VkResult result, VkCommandBuffer commandBuffer, VkCommandBufferResetFlags flags) {
    auto* c = Get(commandBuffer);
    ClearRecording(c);
    if (result == VK_SUCCESS && c->log != nullptr && !CommandLog::Replaying()) c->log->Reset();
}

void PostCall_vkResetCommandPool(VkResult result, VkDevice device, VkCommandPool commandPool,
                                 VkCommandPoolResetFlags flags) {
    DeviceData* dd = DeviceDataOf(device);
    const uint64_t pool = Get(commandPool)->id;
    dd->objects.ForEach([&](const ObjectRef& ref) {
        if (ref.type != VK_OBJECT_TYPE_COMMAND_BUFFER || !ref.dispatchable) return;
        auto* c = static_cast<CommandBuffer*>(ref.dispatchable_object());
        if (c->parent_id == pool) {
            c->commands.clear();
            c->unmodeled = false;
            if (result == VK_SUCCESS && c->log != nullptr) c->log->Reset();
        }
    });
}

void PostCall_vkCmdBindPipeline(VkCommandBuffer commandBuffer, VkPipelineBindPoint pipelineBindPoint,
                                VkPipeline pipeline) {
    if (pipelineBindPoint == VK_PIPELINE_BIND_POINT_COMPUTE) Get(commandBuffer)->bound_compute_pipeline = Get(pipeline)->id;
}

void PostCall_vkCmdBindDescriptorSets(VkCommandBuffer commandBuffer, VkPipelineBindPoint pipelineBindPoint,
                                      VkPipelineLayout layout, uint32_t firstSet, uint32_t descriptorSetCount,
                                      const VkDescriptorSet* pDescriptorSets, uint32_t dynamicOffsetCount,
                                      const uint32_t* pDynamicOffsets) {
    if (pipelineBindPoint != VK_PIPELINE_BIND_POINT_COMPUTE) return;
    auto* c = Get(commandBuffer);
    auto& sets = c->bound_compute_sets;
    if (sets.size() < firstSet + descriptorSetCount) sets.resize(firstSet + descriptorSetCount);
    uint32_t dyn = 0;
    for (uint32_t i = 0; i < descriptorSetCount; ++i) {
        auto* s = Get(pDescriptorSets[i]);
        std::vector<uint32_t> offsets;
        auto* l = FindObject<DescriptorSetLayout>(*s->device, s->layout, VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT);
        if (l != nullptr) {
            for (const auto& [b, lb] : l->bindings) {
                if (lb.type == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC || lb.type == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC) {
                    for (uint32_t k = 0; k < lb.count && dyn < dynamicOffsetCount; ++k) offsets.push_back(pDynamicOffsets[dyn++]);
                }
            }
        }
        sets[firstSet + i] = {s->id, std::move(offsets)};
    }
}

void PostCall_vkCmdPushConstants(VkCommandBuffer commandBuffer, VkPipelineLayout layout, VkShaderStageFlags stageFlags,
                                 uint32_t offset, uint32_t size, const void* pValues) {
    auto& pc = Get(commandBuffer)->push_constants;
    if (pc.size() < offset + size) pc.resize(offset + size);
    std::memcpy(pc.data() + offset, pValues, size);
}

void PostCall_vkCmdDispatch(VkCommandBuffer commandBuffer, uint32_t x, uint32_t y, uint32_t z) {
    AddDispatch(commandBuffer, K::kDispatch, "vkCmdDispatch", x, y, z);
}

void PostCall_vkCmdDispatchBase(VkCommandBuffer commandBuffer, uint32_t bx, uint32_t by, uint32_t bz, uint32_t x,
                                uint32_t y, uint32_t z) {
    AddDispatch(commandBuffer, K::kDispatch, "vkCmdDispatchBase", x, y, z);
}

void PostCall_vkCmdDispatchIndirect(VkCommandBuffer commandBuffer, VkBuffer buffer, VkDeviceSize offset) {
    AddDispatch(commandBuffer, K::kDispatchIndirect, "vkCmdDispatchIndirect", 0, 0, 0);
    RecordedCommand& cmd = Get(commandBuffer)->commands.back();
    cmd.src = IdOf(buffer);
    cmd.src_ranges.push_back({offset, sizeof(VkDispatchIndirectCommand)});
}

void PostCall_vkCmdCopyBuffer(VkCommandBuffer commandBuffer, VkBuffer srcBuffer, VkBuffer dstBuffer,
                              uint32_t regionCount, const VkBufferCopy* pRegions) {
    RecordedCommand& cmd = Add(commandBuffer, K::kCopyBuffer, "vkCmdCopyBuffer");
    cmd.src = IdOf(srcBuffer);
    cmd.dst = IdOf(dstBuffer);
    for (uint32_t i = 0; i < regionCount; ++i) {
        cmd.src_ranges.push_back({pRegions[i].srcOffset, pRegions[i].size});
        cmd.dst_ranges.push_back({pRegions[i].dstOffset, pRegions[i].size});
    }
}

void PostCall_vkCmdCopyBuffer2(VkCommandBuffer commandBuffer, const VkCopyBufferInfo2* info) {
    RecordedCommand& cmd = Add(commandBuffer, K::kCopyBuffer, "vkCmdCopyBuffer2");
    cmd.src = IdOf(info->srcBuffer);
    cmd.dst = IdOf(info->dstBuffer);
    for (uint32_t i = 0; i < info->regionCount; ++i) {
        cmd.src_ranges.push_back({info->pRegions[i].srcOffset, info->pRegions[i].size});
        cmd.dst_ranges.push_back({info->pRegions[i].dstOffset, info->pRegions[i].size});
    }
}

void PostCall_vkCmdFillBuffer(VkCommandBuffer commandBuffer, VkBuffer dstBuffer, VkDeviceSize dstOffset,
                              VkDeviceSize size, uint32_t data) {
    RecordedCommand& cmd = Add(commandBuffer, K::kFillBuffer, "vkCmdFillBuffer");
    cmd.dst = IdOf(dstBuffer);
    cmd.dst_ranges.push_back({dstOffset, size});
}

void PostCall_vkCmdUpdateBuffer(VkCommandBuffer commandBuffer, VkBuffer dstBuffer, VkDeviceSize dstOffset,
                                VkDeviceSize dataSize, const void* pData) {
    RecordedCommand& cmd = Add(commandBuffer, K::kUpdateBuffer, "vkCmdUpdateBuffer");
    cmd.dst = IdOf(dstBuffer);
    cmd.dst_ranges.push_back({dstOffset, dataSize});
}

void PostCall_vkCmdCopyBufferToImage(VkCommandBuffer commandBuffer, VkBuffer srcBuffer, VkImage dstImage,
                                     VkImageLayout dstImageLayout, uint32_t regionCount,
                                     const VkBufferImageCopy* pRegions) {
    RecordedCommand& cmd = Add(commandBuffer, K::kCopyToImage, "vkCmdCopyBufferToImage");
    cmd.src = IdOf(srcBuffer);
    cmd.dst = IdOf(dstImage);
    cmd.src_ranges.push_back({0, VK_WHOLE_SIZE});  // conservative: the whole source buffer
}

void PostCall_vkCmdCopyImageToBuffer(VkCommandBuffer commandBuffer, VkImage srcImage, VkImageLayout srcImageLayout,
                                     VkBuffer dstBuffer, uint32_t regionCount, const VkBufferImageCopy* pRegions) {
    RecordedCommand& cmd = Add(commandBuffer, K::kCopyFromImage, "vkCmdCopyImageToBuffer");
    cmd.src = IdOf(srcImage);
    cmd.dst = IdOf(dstBuffer);
    cmd.dst_ranges.push_back({0, VK_WHOLE_SIZE});
}

void PostCall_vkCmdCopyImage(VkCommandBuffer commandBuffer, VkImage srcImage, VkImageLayout srcImageLayout,
                             VkImage dstImage, VkImageLayout dstImageLayout, uint32_t regionCount,
                             const VkImageCopy* pRegions) {
    RecordedCommand& cmd = Add(commandBuffer, K::kCopyImage, "vkCmdCopyImage");
    cmd.src = IdOf(srcImage);
    cmd.dst = IdOf(dstImage);
}

void PostCall_vkCmdClearColorImage(VkCommandBuffer commandBuffer, VkImage image, VkImageLayout imageLayout,
                                   const VkClearColorValue* pColor, uint32_t rangeCount,
                                   const VkImageSubresourceRange* pRanges) {
    Add(commandBuffer, K::kClearImage, "vkCmdClearColorImage").dst = IdOf(image);
}

void PostCall_vkCmdExecuteCommands(VkCommandBuffer commandBuffer, uint32_t commandBufferCount,
                                   const VkCommandBuffer* pCommandBuffers) {
    RecordedCommand& cmd = Add(commandBuffer, K::kExecute, "vkCmdExecuteCommands");
    for (uint32_t i = 0; i < commandBufferCount; ++i) cmd.secondaries.push_back(Get(pCommandBuffers[i])->id);
}

// Commands that write memory in ways the layer does not model: the buffer's submissions
// count as writing everything.
#define GPUCR_UNMODELED(name, params)                               \
    void PostCall_##name params {                                   \
        Get(commandBuffer)->unmodeled = true;                       \
        Add(commandBuffer, K::kUnmodeled, #name);                   \
    }
GPUCR_UNMODELED(vkCmdBlitImage, (VkCommandBuffer commandBuffer, VkImage, VkImageLayout, VkImage, VkImageLayout,
                                 uint32_t, const VkImageBlit*, VkFilter))
GPUCR_UNMODELED(vkCmdResolveImage, (VkCommandBuffer commandBuffer, VkImage, VkImageLayout, VkImage, VkImageLayout,
                                    uint32_t, const VkImageResolve*))
GPUCR_UNMODELED(vkCmdClearDepthStencilImage, (VkCommandBuffer commandBuffer, VkImage, VkImageLayout,
                                              const VkClearDepthStencilValue*, uint32_t, const VkImageSubresourceRange*))
GPUCR_UNMODELED(vkCmdCopyQueryPoolResults, (VkCommandBuffer commandBuffer, VkQueryPool, uint32_t, uint32_t, VkBuffer,
                                            VkDeviceSize, VkDeviceSize, VkQueryResultFlags))
GPUCR_UNMODELED(vkCmdBeginRenderPass, (VkCommandBuffer commandBuffer, const VkRenderPassBeginInfo*, VkSubpassContents))
GPUCR_UNMODELED(vkCmdBeginRendering, (VkCommandBuffer commandBuffer, const VkRenderingInfo*))
GPUCR_UNMODELED(vkCmdCopyImage2, (VkCommandBuffer commandBuffer, const VkCopyImageInfo2*))
GPUCR_UNMODELED(vkCmdCopyBufferToImage2, (VkCommandBuffer commandBuffer, const VkCopyBufferToImageInfo2*))
GPUCR_UNMODELED(vkCmdCopyImageToBuffer2, (VkCommandBuffer commandBuffer, const VkCopyImageToBufferInfo2*))
GPUCR_UNMODELED(vkCmdBlitImage2, (VkCommandBuffer commandBuffer, const VkBlitImageInfo2*))
GPUCR_UNMODELED(vkCmdResolveImage2, (VkCommandBuffer commandBuffer, const VkResolveImageInfo2*))
#undef GPUCR_UNMODELED

// Submissions: the checkpoint engine brackets the driver call, and the queue's timeline
// semaphore is signalled with the submission's sequence number in the same call where the
// submission allows it (else EndSubmit sends the signal on its own).
VKAPI_ATTR VkResult VKAPI_CALL Override_vkQueueSubmit(VkQueue queue, uint32_t submitCount,
                                                     const VkSubmitInfo* pSubmits, VkFence fence) {
    Queue* q = Get(queue);
    DeviceData* dd = q->device;
    std::vector<CommandBuffer*> cbs;
    for (uint32_t i = 0; i < submitCount; ++i) {
        auto more = Collect(pSubmits[i].pCommandBuffers, pSubmits[i].commandBufferCount);
        cbs.insert(cbs.end(), more.begin(), more.end());
    }
    const uint64_t seq = VulkanCheckpoint::Get().BeginSubmit(q, cbs);
    VkResult result = VK_ERROR_OUT_OF_HOST_MEMORY;
    bool signaled = false;
    try {
        Arena a;
        auto* down = const_cast<VkSubmitInfo*>(UnwrapCopy(a, pSubmits, submitCount));
        uint32_t count = submitCount;
        VkTimelineSemaphoreSubmitInfo tsi{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
        VkSubmitInfo own{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        if (seq != 0 && count == 0) {
            // Nothing but a fence: the signal is the whole submission.
            own.pNext = &tsi;
            own.signalSemaphoreCount = 1;
            own.pSignalSemaphores = &q->timeline;
            tsi.signalSemaphoreValueCount = 1;
            tsi.pSignalSemaphoreValues = &seq;
            down = &own;
            count = 1;
            signaled = true;
        } else if (seq != 0 &&
                   FindInChain<const void>(down[count - 1].pNext, VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO) ==
                       nullptr &&
                   FindInChain<const void>(down[count - 1].pNext, VK_STRUCTURE_TYPE_DEVICE_GROUP_SUBMIT_INFO) ==
                       nullptr) {
            // Append the signal to the last batch (it then also covers every earlier batch).
            VkSubmitInfo& last = down[count - 1];
            const uint32_t n = last.signalSemaphoreCount;
            auto* sems = a.Alloc<VkSemaphore>(n + 1);
            auto* values = a.Alloc<uint64_t>(n + 1);
            for (uint32_t i = 0; i < n; ++i) {
                sems[i] = last.pSignalSemaphores[i];
                values[i] = 0;  // binary semaphores: ignored
            }
            sems[n] = q->timeline;
            values[n] = seq;
            tsi.pNext = last.pNext;
            tsi.signalSemaphoreValueCount = n + 1;
            tsi.pSignalSemaphoreValues = values;
            last.pNext = &tsi;
            last.signalSemaphoreCount = n + 1;
            last.pSignalSemaphores = sems;
            signaled = true;
        }
        std::lock_guard lock(q->submit_mu);
        result = dd->dispatch.QueueSubmit(static_cast<VkQueue>(q->driver), count, down, Unwrap(fence));
        VulkanCheckpoint::Get().EndSubmit(q, result, signaled);
        return result;
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR("vk", "vkQueueSubmit: {}", e.what());
    }
    VulkanCheckpoint::Get().EndSubmit(q, result, signaled);
    return result;
}

VKAPI_ATTR VkResult VKAPI_CALL Override_vkQueueSubmit2(VkQueue queue, uint32_t submitCount,
                                                      const VkSubmitInfo2* pSubmits, VkFence fence) {
    Queue* q = Get(queue);
    DeviceData* dd = q->device;
    std::vector<CommandBuffer*> cbs;
    for (uint32_t i = 0; i < submitCount; ++i) {
        for (uint32_t k = 0; k < pSubmits[i].commandBufferInfoCount; ++k) {
            cbs.push_back(Get(pSubmits[i].pCommandBufferInfos[k].commandBuffer));
        }
    }
    const uint64_t seq = VulkanCheckpoint::Get().BeginSubmit(q, cbs);
    VkResult result = VK_ERROR_OUT_OF_HOST_MEMORY;
    bool signaled = false;
    try {
        Arena a;
        auto* down = const_cast<VkSubmitInfo2*>(UnwrapCopy(a, pSubmits, submitCount));
        const VkSemaphoreSubmitInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO, nullptr, q->timeline, seq,
                                           VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT, 0};
        VkSubmitInfo2 own{VK_STRUCTURE_TYPE_SUBMIT_INFO_2};
        uint32_t count = submitCount;
        if (seq != 0 && count == 0) {
            own.signalSemaphoreInfoCount = 1;
            own.pSignalSemaphoreInfos = &signal;
            down = &own;
            count = 1;
            signaled = true;
        } else if (seq != 0) {
            VkSubmitInfo2& last = down[count - 1];
            const uint32_t n = last.signalSemaphoreInfoCount;
            auto* infos = a.Alloc<VkSemaphoreSubmitInfo>(n + 1);
            for (uint32_t i = 0; i < n; ++i) infos[i] = last.pSignalSemaphoreInfos[i];
            infos[n] = signal;
            last.signalSemaphoreInfoCount = n + 1;
            last.pSignalSemaphoreInfos = infos;
            signaled = true;
        }
        auto submit2 = dd->dispatch.QueueSubmit2 ? dd->dispatch.QueueSubmit2 : dd->dispatch.QueueSubmit2KHR;
        std::lock_guard lock(q->submit_mu);
        result = submit2(static_cast<VkQueue>(q->driver), count, down, Unwrap(fence));
        VulkanCheckpoint::Get().EndSubmit(q, result, signaled);
        return result;
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR("vk", "vkQueueSubmit2: {}", e.what());
    }
    VulkanCheckpoint::Get().EndSubmit(q, result, signaled);
    return result;
}

VKAPI_ATTR VkResult VKAPI_CALL Override_vkQueueWaitIdle(VkQueue queue) {
    Queue* q = Get(queue);
    std::lock_guard lock(q->submit_mu);
    return q->device->dispatch.QueueWaitIdle(static_cast<VkQueue>(q->driver));
}

}  // namespace gpucr::vk::hooks
