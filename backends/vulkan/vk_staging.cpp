#include "backends/vulkan/vk_staging.h"

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <string>
#include <map>
#include <memory>
#include <mutex>

#include "backends/vulkan/vk_memory.h"
#include "dag/log.h"

namespace gpucr::vk {
namespace {

constexpr VkDeviceSize kStagingBytes = 16 << 20;
constexpr uint64_t kFenceTimeoutNs = 60ull * 1000 * 1000 * 1000;

// First come, first served: the background copier takes the staging buffer for one copy at a
// time, so an application thread that must copy a block before its own write waits for one
// copy at most (a plain mutex let the copier take it again and again).
class FifoMutex {
public:
    void lock() {
        std::unique_lock l(mu_);
        const uint64_t ticket = next_++;
        cv_.wait(l, [&] { return serving_ == ticket; });
    }
    void unlock() {
        std::lock_guard l(mu_);
        ++serving_;
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t next_ = 0;
    uint64_t serving_ = 0;
};

struct Reader {
    FifoMutex mu;
    Queue* queue = nullptr;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkBuffer staging = VK_NULL_HANDLE;
    VkDeviceMemory staging_memory = VK_NULL_HANDLE;
    uint8_t* staging_ptr = nullptr;
    std::map<uint64_t, VkBuffer> aliases;  // memory id -> transfer-source buffer over it
};

std::mutex g_mu;
std::map<DeviceData*, std::unique_ptr<Reader>> g_readers;

Status VkFailed(const char* what, VkResult r) {
    return Internal(std::string(what) + " failed (VkResult " + std::to_string(r) + ")");
}

Result<uint32_t> FindType(const DeviceCaps& caps, uint32_t bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < caps.memory.memoryTypeCount; ++i) {
        if ((bits & (1u << i)) && (caps.memory.memoryTypes[i].propertyFlags & want) == want) return i;
    }
    return Unsupported("no host-visible memory type for the capture's staging buffer");
}

Status Init(DeviceData& d, Queue& queue, Reader& rd) {
    auto& k = d.dispatch;
    rd.queue = &queue;
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr,
                                VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, queue.family};
    if (VkResult r = k.CreateCommandPool(d.driver, &pci, nullptr, &rd.pool); r != VK_SUCCESS) {
        return VkFailed("vkCreateCommandPool", r);
    }
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, rd.pool,
                                   VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
    if (VkResult r = k.AllocateCommandBuffers(d.driver, &ai, &rd.cb); r != VK_SUCCESS) {
        return VkFailed("vkAllocateCommandBuffers", r);
    }
    // A driver object the layer made itself: the loader's dispatch pointer goes in first.
    if (d.set_loader_data != nullptr) d.set_loader_data(d.driver, rd.cb);
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (VkResult r = k.CreateFence(d.driver, &fci, nullptr, &rd.fence); r != VK_SUCCESS) {
        return VkFailed("vkCreateFence", r);
    }
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = kStagingBytes;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    if (VkResult r = k.CreateBuffer(d.driver, &bci, nullptr, &rd.staging); r != VK_SUCCESS) {
        return VkFailed("vkCreateBuffer", r);
    }
    VkMemoryRequirements req;
    k.GetBufferMemoryRequirements(d.driver, rd.staging, &req);
    GPUCR_ASSIGN_OR_RETURN(uint32_t type, FindType(CapsOf(d), req.memoryTypeBits,
                                                   VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT));
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, req.size, type};
    if (VkResult r = k.AllocateMemory(d.driver, &mai, nullptr, &rd.staging_memory); r != VK_SUCCESS) {
        return VkFailed("vkAllocateMemory (staging)", r);
    }
    if (VkResult r = k.BindBufferMemory(d.driver, rd.staging, rd.staging_memory, 0); r != VK_SUCCESS) {
        return VkFailed("vkBindBufferMemory (staging)", r);
    }
    void* p = nullptr;
    if (VkResult r = k.MapMemory(d.driver, rd.staging_memory, 0, VK_WHOLE_SIZE, 0, &p); r != VK_SUCCESS) {
        return VkFailed("vkMapMemory (staging)", r);
    }
    rd.staging_ptr = static_cast<uint8_t*>(p);
    return Status::Ok();
}

void Destroy(DeviceData& d, Reader& rd) {
    auto& k = d.dispatch;
    for (auto& [id, b] : rd.aliases) k.DestroyBuffer(d.driver, b, nullptr);
    rd.aliases.clear();
    if (rd.staging != VK_NULL_HANDLE) k.DestroyBuffer(d.driver, rd.staging, nullptr);
    if (rd.staging_memory != VK_NULL_HANDLE) k.FreeMemory(d.driver, rd.staging_memory, nullptr);
    if (rd.fence != VK_NULL_HANDLE) k.DestroyFence(d.driver, rd.fence, nullptr);
    if (rd.pool != VK_NULL_HANDLE) k.DestroyCommandPool(d.driver, rd.pool, nullptr);
    rd.staging = VK_NULL_HANDLE;
    rd.staging_memory = VK_NULL_HANDLE;
    rd.staging_ptr = nullptr;
    rd.fence = VK_NULL_HANDLE;
    rd.pool = VK_NULL_HANDLE;
    rd.cb = VK_NULL_HANDLE;
}

Result<VkBuffer> AliasOf(DeviceData& d, Reader& rd, DeviceMemory& m) {
    auto it = rd.aliases.find(m.id);
    if (it != rd.aliases.end()) return it->second;
    auto& k = d.dispatch;
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT};
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, m.imported ? &ext : nullptr};
    bci.size = m.size;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkBuffer b = VK_NULL_HANDLE;
    if (VkResult r = k.CreateBuffer(d.driver, &bci, nullptr, &b); r != VK_SUCCESS) {
        return VkFailed("vkCreateBuffer (capture alias)", r);
    }
    VkMemoryRequirements req;
    k.GetBufferMemoryRequirements(d.driver, b, &req);
    if ((req.memoryTypeBits & (1u << m.type_index)) == 0 || req.size > m.size + (m.host_size ? m.host_size : 0)) {
        k.DestroyBuffer(d.driver, b, nullptr);
        return Unsupported("VkDeviceMemory #" + std::to_string(m.id) + " (memory type " + std::to_string(m.type_index) +
                           ") cannot be read through a buffer; capturing it is not supported yet");
    }
    if (VkResult r = k.BindBufferMemory(d.driver, b, reinterpret_cast<VkDeviceMemory>(m.driver), 0); r != VK_SUCCESS) {
        k.DestroyBuffer(d.driver, b, nullptr);
        return VkFailed("vkBindBufferMemory (capture alias)", r);
    }
    rd.aliases[m.id] = b;
    return b;
}

// upload: staging -> memory (restore); else memory -> staging (capture).
Status CopyPiece(DeviceData& d, Reader& rd, VkBuffer alias, uint64_t offset, uint64_t len, bool upload = false) {
    auto& k = d.dispatch;
    k.ResetCommandBuffer(rd.cb, 0);
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, nullptr,
                                VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (VkResult r = k.BeginCommandBuffer(rd.cb, &bi); r != VK_SUCCESS) return VkFailed("vkBeginCommandBuffer", r);
    // Earlier work on the queue (the application's writes) before the copy reads; the copy
    // before the host reads the staging buffer.
    VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr,
                           VK_ACCESS_MEMORY_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    k.CmdPipelineBarrier(rd.cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, nullptr, 0, nullptr);
    if (upload) {
        VkBufferCopy region{0, offset, len};
        k.CmdCopyBuffer(rd.cb, rd.staging, alias, 1, &region);
    } else {
        VkBufferCopy region{offset, 0, len};
        k.CmdCopyBuffer(rd.cb, alias, rd.staging, 1, &region);
    }
    VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                          VK_ACCESS_HOST_READ_BIT | VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    k.CmdPipelineBarrier(rd.cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &after, 0, nullptr,
                         0, nullptr);
    if (VkResult r = k.EndCommandBuffer(rd.cb); r != VK_SUCCESS) return VkFailed("vkEndCommandBuffer", r);
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &rd.cb;
    VkResult r;
    {
        std::lock_guard lock(rd.queue->submit_mu);
        r = k.QueueSubmit(static_cast<VkQueue>(rd.queue->driver), 1, &si, rd.fence);
    }
    if (r != VK_SUCCESS) return VkFailed("vkQueueSubmit (capture copy)", r);
    r = k.WaitForFences(d.driver, 1, &rd.fence, VK_TRUE, kFenceTimeoutNs);
    k.ResetFences(d.driver, 1, &rd.fence);
    if (r != VK_SUCCESS) return VkFailed("vkWaitForFences (capture copy)", r);
    return Status::Ok();
}

}  // namespace

namespace {

Result<std::pair<Reader*, VkBuffer>> Prepare(DeviceData& d, Queue& queue, DeviceMemory& m) {
    Reader* rd = nullptr;
    {
        std::lock_guard lock(g_mu);
        auto& slot = g_readers[&d];
        if (!slot) slot = std::make_unique<Reader>();
        rd = slot.get();
    }
    VkBuffer alias = VK_NULL_HANDLE;
    {
        std::lock_guard lock(rd->mu);
        if (rd->pool == VK_NULL_HANDLE) {
            Status s = Init(d, queue, *rd);
            if (!s.ok()) {
                Destroy(d, *rd);
                return s;
            }
        }
        GPUCR_ASSIGN_OR_RETURN(alias, AliasOf(d, *rd, m));
    }
    return std::make_pair(rd, alias);
}

}  // namespace

bool ForceDeviceCopy() {
    static const bool force = [] {
        const char* v = std::getenv("GPUCR_VK_CAPTURE");
        return v != nullptr && std::string(v) == "copy";
    }();
    return force;
}

Status ReadDeviceMemory(DeviceData& d, Queue& queue, DeviceMemory& m, uint64_t offset, uint64_t size, void* dst) {
    GPUCR_ASSIGN_OR_RETURN(auto prepared, Prepare(d, queue, m));
    auto [rd, alias] = prepared;
    // One staging-sized piece per turn, so that other readers interleave.
    auto* out = static_cast<uint8_t*>(dst);
    for (uint64_t done = 0; done < size;) {
        const uint64_t len = std::min<uint64_t>(kStagingBytes, size - done);
        std::lock_guard lock(rd->mu);
        if (rd->pool == VK_NULL_HANDLE) return Unavailable("the device is being destroyed");
        GPUCR_RETURN_IF_ERROR(CopyPiece(d, *rd, alias, offset + done, len));
        std::memcpy(out + done, rd->staging_ptr, len);
        done += len;
    }
    return Status::Ok();
}

Status WriteDeviceMemory(DeviceData& d, Queue& queue, DeviceMemory& m, uint64_t offset, uint64_t size,
                         const void* src) {
    GPUCR_ASSIGN_OR_RETURN(auto prepared, Prepare(d, queue, m));
    auto [rd, alias] = prepared;
    const auto* in = static_cast<const uint8_t*>(src);
    for (uint64_t done = 0; done < size;) {
        const uint64_t len = std::min<uint64_t>(kStagingBytes, size - done);
        std::lock_guard lock(rd->mu);
        if (rd->pool == VK_NULL_HANDLE) return Unavailable("the device is being destroyed");
        std::memcpy(rd->staging_ptr, in + done, len);
        GPUCR_RETURN_IF_ERROR(CopyPiece(d, *rd, alias, offset + done, len, /*upload=*/true));
        done += len;
    }
    return Status::Ok();
}

void ForgetDeviceMemory(DeviceData& d, uint64_t memory_id) {
    std::lock_guard lock(g_mu);
    auto it = g_readers.find(&d);
    if (it == g_readers.end()) return;
    std::lock_guard rl(it->second->mu);
    auto a = it->second->aliases.find(memory_id);
    if (a != it->second->aliases.end()) {
        d.dispatch.DestroyBuffer(d.driver, a->second, nullptr);
        it->second->aliases.erase(a);
    }
}

void ForgetDeviceReader(DeviceData& d) {
    std::unique_ptr<Reader> rd;
    {
        std::lock_guard lock(g_mu);
        auto it = g_readers.find(&d);
        if (it == g_readers.end()) return;
        rd = std::move(it->second);
        g_readers.erase(it);
    }
    std::lock_guard rl(rd->mu);
    Destroy(d, *rd);
}

}  // namespace gpucr::vk
