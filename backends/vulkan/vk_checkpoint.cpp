#include "backends/vulkan/vk_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backends/vulkan/vk_access.h"
#include "backends/vulkan/vk_describe.h"
#include "backends/vulkan/vk_staging.h"
#include "dag/agent.h"
#include "dag/log.h"
#include "layers/vulkan/instance_data.h"

namespace gpucr::vk {
namespace {

constexpr uint64_t kWaitTimeoutNs = 60ull * 1000 * 1000 * 1000;

struct PendingSubmit {
    std::optional<engine::CheckpointEngine::SubmitGuard> guard;
    std::vector<dag::Op> ops;
    uint64_t seq = 0;
};
thread_local PendingSubmit t_pending;

void AdvanceCompleted(Queue& q, uint64_t seq) {
    uint64_t cur = q.completed.load();
    while (cur < seq && !q.completed.compare_exchange_weak(cur, seq)) {
    }
}

// The queue's timeline value now (recorded as completed), or nothing when it cannot be read.
std::optional<uint64_t> ReadTimeline(Queue& q) {
    DeviceData* dev = q.device;
    auto counter = dev->dispatch.GetSemaphoreCounterValue ? dev->dispatch.GetSemaphoreCounterValue
                                                          : dev->dispatch.GetSemaphoreCounterValueKHR;
    uint64_t reached = 0;
    if (counter == nullptr || counter(dev->driver, q.timeline, &reached) != VK_SUCCESS) return std::nullopt;
    AdvanceCompleted(q, reached);
    return reached;
}

}  // namespace

VulkanCheckpoint& VulkanCheckpoint::Get() {
    // Never destroyed: application threads may submit while the process exits.
    static VulkanCheckpoint* instance = new VulkanCheckpoint();
    return *instance;
}

VulkanCheckpoint::VulkanCheckpoint() : engine_(dag_, *this) {
    agent::Provider p;
    p.api = "vulkan";
    p.describe = [this] { return Describe(); };
    p.dump = [this](image::ImageWriter& w, const nlohmann::json& req, const agent::ProgressFn& progress) {
        return Dump(w, req, progress);
    };
    p.suspend = [this](image::ImageWriter& w, const nlohmann::json& req, const agent::ProgressFn& progress) {
        return Suspend(w, req, progress);
    };
    p.resume = [this](const image::ImageReader& r, const nlohmann::json& section, const nlohmann::json& req,
                      const agent::ProgressFn& progress) { return Resume(r, section, req, progress); };
    p.suspended = [this] { return suspended(); };
    p.release = [this] { return Release(); };
    p.cancel = [this] { CancelSuspend(); };
    agent::RegisterProvider(std::move(p));
}

void VulkanCheckpoint::AddDevice(DeviceData* device) {
    std::lock_guard lock(mu_);
    devices_.push_back(device);
}

void VulkanCheckpoint::RemoveDevice(DeviceData* device) {
    std::lock_guard lock(mu_);
    devices_.erase(std::remove(devices_.begin(), devices_.end(), device), devices_.end());
    for (auto it = queues_.begin(); it != queues_.end();) {
        if (it->second->device == device) {
            if (it->second->timeline != VK_NULL_HANDLE) {
                device->dispatch.DestroySemaphore(device->driver, it->second->timeline, nullptr);
            }
            it = queues_.erase(it);
        } else {
            ++it;
        }
    }
}

void VulkanCheckpoint::AddQueue(Queue* queue) {
    std::lock_guard lock(mu_);
    queues_[queue->id] = queue;
}

Status VulkanCheckpoint::EnsureTimeline(Queue* queue) {
    if (queue->timeline != VK_NULL_HANDLE) return Status::Ok();
    DeviceData* dev = queue->device;
    VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, VK_SEMAPHORE_TYPE_TIMELINE, 0};
    VkSemaphoreCreateInfo ci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type, 0};
    VkSemaphore sem = VK_NULL_HANDLE;
    VkResult r = dev->dispatch.CreateSemaphore(dev->driver, &ci, nullptr, &sem);
    if (r != VK_SUCCESS) return Unsupported("cannot create a timeline semaphore to track queue completion (VkResult " +
                                            std::to_string(r) + ")");
    queue->timeline = sem;
    return Status::Ok();
}

uint64_t VulkanCheckpoint::BeginSubmit(Queue* queue, const std::vector<CommandBuffer*>& cbs) noexcept {
    try {
        agent::EnsureRunning();  // a forked child gets its own agent
        t_pending.guard.reset();
        if (Status s = EnsureTimeline(queue); !s.ok()) GPUCR_LOG_WARN_ONCE("vk", "{}", s.message());
        const uint64_t seq = ++queue->next_seq;
        std::vector<dag::Op> ops = OpsOfCommandBuffers(*queue->device, cbs, queue->id, seq);
        if (loader_.load() != nullptr) {
            std::vector<dag::ResourceId> touched;
            for (const dag::Op& op : ops) {
                for (const dag::Access& a : op.reads) touched.push_back(a.resource);
                for (const dag::Access& a : op.writes) touched.push_back(a.resource);
            }
            EnsureLoaded(touched);
        }
        first_op_.Record(queue->id, seq);
        std::vector<dag::Access> writes;
        for (const dag::Op& op : ops) writes.insert(writes.end(), op.writes.begin(), op.writes.end());
        t_pending.seq = seq;
        t_pending.ops = std::move(ops);
        t_pending.guard.emplace(engine_.BeginSubmit(queue->id, seq, writes));
        return queue->timeline != VK_NULL_HANDLE ? seq : 0;
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR_ONCE("vk", "submission tracking failed: {}", e.what());
    }
    return 0;
}

void VulkanCheckpoint::EndSubmit(Queue* queue, VkResult result, bool signaled) noexcept {
    try {
        if (result == VK_SUCCESS && queue->timeline != VK_NULL_HANDLE) {
            DeviceData* dev = queue->device;
            const uint64_t value = t_pending.seq;
            VkResult r = VK_SUCCESS;
            if (!signaled) {
                VkTimelineSemaphoreSubmitInfo tsi{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO, nullptr, 0, nullptr,
                                                  1, &value};
                VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO, &tsi, 0, nullptr, nullptr, 0, nullptr, 1,
                                &queue->timeline};
                r = dev->dispatch.QueueSubmit(static_cast<VkQueue>(queue->driver), 1, &si, VK_NULL_HANDLE);
            }
            if (r != VK_SUCCESS) {
                GPUCR_LOG_ERROR_ONCE("vk", "tracking submission failed ({}); dumps of this queue will fail", r);
            } else {
                queue->last_submitted.store(value);
            }
            for (dag::Op& op : t_pending.ops) dag_.Add(std::move(op));
        }
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR_ONCE("vk", "submission tracking failed: {}", e.what());
    }
    t_pending.ops.clear();
    t_pending.guard.reset();
}

void VulkanCheckpoint::RecordHostWrite(DeviceMemory* memory, VkDeviceSize offset, VkDeviceSize size) noexcept {
    try {
        dag::Op op;
        op.kind = dag::OpKind::kHostWrite;
        op.label = "vkFlushMappedMemoryRanges";
        op.writes.push_back({memory->id, offset, size == VK_WHOLE_SIZE ? dag::kWholeSize : size,
                             dag::Certainty::kCertain});
        dag_.Add(std::move(op));
    } catch (...) {
    }
}

Result<std::vector<engine::ResourceView>> VulkanCheckpoint::SnapshotResources() {
    std::lock_guard lock(mu_);
    std::vector<engine::ResourceView> views;
    for (DeviceData* dev : devices_) {
        for (const ObjectRef& ref : dev->objects.Snapshot()) {
            if (ref.type != VK_OBJECT_TYPE_DEVICE_MEMORY || ref.dispatchable) continue;
            auto* m = static_cast<DeviceMemory*>(ref.object());
            const bool mapped = m->app_maps.load() > 0;
            if (mapped && !m->imported) {
                return Unsupported("VkDeviceMemory #" + std::to_string(m->id) +
                                   " is mapped by the application but not backed by gpucr's host memory; its host "
                                   "writes could not be tracked");
            }
            engine::ResourceView v;
            v.id = m->id;
            v.size = m->size;
            // No host view (device-local memory), or copies through the device asked for:
            // the engine reads it through ReadRange.
            v.host = (ForceDeviceCopy() && !mapped) ? nullptr : m->host;
            v.host_mapped = mapped;
            v.info = {{"object", m->id},
                      {"type", "VkDeviceMemory"},
                      {"memory", {{"type_index", m->type_index}, {"properties", m->properties}, {"imported", m->imported}}}};
            views.push_back(std::move(v));
        }
    }
    std::sort(views.begin(), views.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return views;
}

Result<nlohmann::json> VulkanCheckpoint::SnapshotObjects() {
    std::lock_guard lock(mu_);
    snapshot_code_.clear();
    nlohmann::json devices = nlohmann::json::array();
    nlohmann::json objects = nlohmann::json::array();
    for (DeviceData* dev : devices_) {
        devices.push_back(DescribeDevice(*dev));
        for (const ObjectRef& ref : dev->objects.Snapshot()) {
            objects.push_back(DescribeObject(*dev, ref, &snapshot_code_));
        }
    }
    std::sort(objects.begin(), objects.end(), [](const auto& a, const auto& b) { return a["id"] < b["id"]; });
    return nlohmann::json{{"devices", devices}, {"objects", objects}};
}

std::map<dag::QueueId, uint64_t> VulkanCheckpoint::QueueSeqs() {
    std::lock_guard lock(mu_);
    std::map<dag::QueueId, uint64_t> seqs;
    for (const auto& [id, q] : queues_) seqs[id] = q->last_submitted.load();
    return seqs;
}

Status VulkanCheckpoint::WaitQueue(dag::QueueId queue_id, uint64_t seq) {
    if (seq == 0) return Status::Ok();
    Queue* q = nullptr;
    {
        std::lock_guard lock(mu_);
        auto it = queues_.find(queue_id);
        if (it != queues_.end()) q = it->second;
    }
    if (q == nullptr) return Status::Ok();  // the queue's device is gone, and its work with it
    if (seq <= q->completed.load()) return Status::Ok();
    if (q->timeline == VK_NULL_HANDLE) return Unsupported("queue completion cannot be tracked on this device");
    DeviceData* dev = q->device;
    // A counter read is much cheaper than a wait on some drivers (lavapipe): try it first.
    if (ReadTimeline(*q).value_or(0) >= seq) return Status::Ok();
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &q->timeline, &seq};
    auto wait = dev->dispatch.WaitSemaphores ? dev->dispatch.WaitSemaphores : dev->dispatch.WaitSemaphoresKHR;
    if (wait == nullptr) return Unsupported("vkWaitSemaphores is not available on this device");
    VkResult r = wait(dev->driver, &wi, kWaitTimeoutNs);
    if (r == VK_TIMEOUT) {
        return Unavailable("queue #" + std::to_string(queue_id) + " did not complete submission " +
                           std::to_string(seq) + " within 60 s");
    }
    if (r != VK_SUCCESS) return Internal("vkWaitSemaphores failed (VkResult " + std::to_string(r) + ")");
    AdvanceCompleted(*q, seq);
    return Status::Ok();
}

bool VulkanCheckpoint::QueueCompleted(dag::QueueId queue_id, uint64_t seq) {
    if (seq == 0) return true;
    Queue* q = nullptr;
    {
        std::lock_guard lock(mu_);
        auto it = queues_.find(queue_id);
        if (it != queues_.end()) q = it->second;
    }
    if (q == nullptr || seq <= q->completed.load()) return true;
    if (q->timeline == VK_NULL_HANDLE) return false;
    std::optional<uint64_t> reached = ReadTimeline(*q);
    if (!reached) return WaitQueue(queue_id, seq).ok();
    return *reached >= seq;
}

Status VulkanCheckpoint::ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) {
    DeviceData* dev = nullptr;
    DeviceMemory* memory = nullptr;
    Queue* queue = nullptr;
    {
        std::lock_guard lock(mu_);
        for (DeviceData* d : devices_) {
            if (auto* m = FindObject<DeviceMemory>(*d, resource, VK_OBJECT_TYPE_DEVICE_MEMORY)) {
                dev = d;
                memory = m;
            }
        }
        for (const auto& [id, q] : queues_) {
            if (q->device == dev) {
                queue = q;
                break;
            }
        }
    }
    if (memory == nullptr) return Internal("VkDeviceMemory #" + std::to_string(resource) + " is gone");
    if (queue == nullptr) return Unsupported("no queue to copy VkDeviceMemory #" + std::to_string(resource) + " with");
    return ReadDeviceMemory(*dev, *queue, *memory, offset, size, dst);
}

Status VulkanCheckpoint::CheckSupported() {
    std::lock_guard lock(mu_);
    if (devices_.empty()) return FailedPrecondition("the process has no Vulkan device");
    for (DeviceData* dev : devices_) {
        std::vector<std::string> unsupported = UnsupportedObjects(*dev);
        if (!unsupported.empty()) {
            std::string list;
            for (const auto& u : unsupported) list += (list.empty() ? "" : ", ") + u;
            return Unsupported("the application uses " + list + ", which gpucr cannot capture yet");
        }
    }
    for (const auto& [id, q] : queues_) {
        if (q->next_seq > 0 && q->timeline == VK_NULL_HANDLE) {
            return Unsupported("queue completion cannot be tracked (no timeline semaphores on this device)");
        }
    }
    return Status::Ok();
}

nlohmann::json VulkanCheckpoint::Describe() {
    std::lock_guard lock(mu_);
    nlohmann::json devices = nlohmann::json::array();
    uint64_t objects = 0;
    uint64_t resources = 0;
    uint64_t bytes = 0;
    for (DeviceData* dev : devices_) {
        devices.push_back(DescribeDevice(*dev).value("name", "?"));
        for (const ObjectRef& ref : dev->objects.Snapshot()) {
            objects++;
            if (ref.type == VK_OBJECT_TYPE_DEVICE_MEMORY && !ref.dispatchable) {
                resources++;
                bytes += static_cast<DeviceMemory*>(ref.object())->size;
            }
        }
    }
    return {{"devices", devices}, {"objects", objects}, {"resources", resources}, {"bytes", bytes},
            {"ops", dag_.op_count()}};
}

Result<nlohmann::json> VulkanCheckpoint::Dump(image::ImageWriter& writer, const nlohmann::json& request,
                                              const agent::ProgressFn& progress) {
    if (suspended_.load()) return FailedPrecondition("the process is suspended: its image is already written");
    GPUCR_RETURN_IF_ERROR(CheckSupported());
    GPUCR_ASSIGN_OR_RETURN(engine::DumpOptions options, engine::ParseDumpOptions(request));
    return DumpWith(writer, options, progress);
}

Result<nlohmann::json> VulkanCheckpoint::DumpWith(image::ImageWriter& writer, const engine::DumpOptions& options,
                                                  const agent::ProgressFn& progress) {
    GPUCR_ASSIGN_OR_RETURN(nlohmann::json section, engine_.Dump(writer, options, progress));
    // Shader code is immutable: written after the cut from the copies the snapshot kept.
    nlohmann::json code = nlohmann::json::array();
    for (const auto& [id, words] : snapshot_code_) {
        GPUCR_ASSIGN_OR_RETURN(std::vector<image::ChunkRef> chunks,
                               writer.PutBlob(words->data(), words->size() * sizeof(uint32_t)));
        nlohmann::json refs = nlohmann::json::array();
        for (const auto& c : chunks) refs.push_back(image::ToJson(c));
        code.push_back({{"object", id}, {"kind", "spirv"}, {"size", words->size() * sizeof(uint32_t)}, {"chunks", refs}});
    }
    snapshot_code_.clear();
    section["api"] = "vulkan";
    section["blobs"] = code;
    return section;
}

}  // namespace gpucr::vk
