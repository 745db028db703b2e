#include "backends/opencl/cl_checkpoint.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "backends/opencl/cl_dag.h"
#include "dag/log.h"
#include "layers/opencl/describe.h"
#include "layers/opencl/object_table.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

constexpr auto kWaitTimeout = std::chrono::seconds(60);

// The enqueue between Begin and End on this thread.
struct Pending {
    uint64_t queue = 0;
    uint64_t seq = 0;
    std::optional<OpBuilder> op;
    std::optional<engine::CheckpointEngine::SubmitGuard> guard;
};
thread_local Pending t_pending;

// A live object's real handle and dispatch table, read under the table's lock.
struct RealOf {
    void* real = nullptr;
    const cl_icd_dispatch* next = nullptr;
    const Object* object = nullptr;  // valid only inside ObjectTable callbacks
};
std::optional<RealOf> FindReal(uint64_t id) {
    std::optional<RealOf> out;
    ObjectTable::Get().WithId(id, [&](const Object& o) { out = RealOf{o.real, o.next, nullptr}; });
    return out;
}

std::string MemName(uint64_t id) { return "cl_mem " + std::to_string(id); }

// The region that covers all of an image (clEnqueueReadImage's `region`), by image type.
std::array<size_t, 3> WholeImage(const cl_image_desc& d) {
    switch (d.image_type) {
        case CL_MEM_OBJECT_IMAGE1D_ARRAY:
            return {d.image_width, d.image_array_size, 1};
        case CL_MEM_OBJECT_IMAGE2D:
            return {d.image_width, d.image_height, 1};
        case CL_MEM_OBJECT_IMAGE2D_ARRAY:
            return {d.image_width, d.image_height, d.image_array_size};
        case CL_MEM_OBJECT_IMAGE3D:
            return {d.image_width, d.image_height, d.image_depth};
        default:  // 1D, 1D buffer
            return {d.image_width, 1, 1};
    }
}

// Bytes of an image's elements packed without padding (how the image holds them); 0 when the
// format is unknown to gpucr.
uint64_t PackedImageBytes(const Mem& m) {
    const std::array<size_t, 3> r = WholeImage(m.image_desc);
    return uint64_t{ImageElementSize(m.image_format)} * r[0] * r[1] * r[2];
}

}  // namespace

std::optional<MemInfo> MemInfoOf(uint64_t id) {
    std::optional<MemInfo> out;
    ObjectTable::Get().WithId(id, [&](const Object& o) {
        if (o.type != ObjectType::kMem) return;
        const auto& m = static_cast<const Mem&>(o);
        out = MemInfo{m.real, m.context != nullptr ? m.context->id : 0, m.kind, WholeImage(m.image_desc),
                      m.kind == MemKind::kImage ? PackedImageBytes(m) : m.size};
    });
    return out;
}

OpenClCheckpoint& OpenClCheckpoint::Get() {
    static OpenClCheckpoint* cp = new OpenClCheckpoint();  // never destroyed: enqueues may come during exit
    return *cp;
}

OpenClCheckpoint::OpenClCheckpoint() : engine_(OpenClDag::Get().dag(), *this) {}

std::shared_ptr<OpenClCheckpoint::QueueState> OpenClCheckpoint::StateOf(uint64_t queue_id, bool create) {
    std::lock_guard lock(mu_);
    auto it = queues_.find(queue_id);
    if (it != queues_.end()) return it->second;
    if (!create) return nullptr;
    auto st = std::make_shared<QueueState>();
    queues_[queue_id] = st;
    return st;
}

void OpenClCheckpoint::Begin(Object* queue, OpBuilder op, std::span<const dag::Access> extra_writes) noexcept {
    try {
        agent::EnsureRunning();  // a forked child gets its own agent
        t_pending.guard.reset();
        t_pending.op.reset();
        std::shared_ptr<QueueState> st = StateOf(queue->id, true);
        uint64_t seq = 0;
        {
            std::lock_guard lock(st->mu);
            seq = ++st->next_seq;
            st->inflight.insert(seq);
            st->next = queue->next;
        }
        std::vector<dag::Access> writes = op.op().writes;
        writes.insert(writes.end(), extra_writes.begin(), extra_writes.end());
        if (loader_.load() != nullptr) {
            std::vector<dag::ResourceId> touched;
            for (const dag::Access& a : op.op().reads) touched.push_back(a.resource);
            for (const dag::Access& a : writes) touched.push_back(a.resource);
            EnsureLoaded(touched);
        }
        first_op_.Record(queue->id, seq);
        t_pending.queue = queue->id;
        t_pending.seq = seq;
        t_pending.op.emplace(std::move(op));
        t_pending.guard.emplace(engine_.BeginSubmit(queue->id, seq, writes));
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR_ONCE("cl", "enqueue tracking failed: {}", e.what());
    }
}

void OpenClCheckpoint::End(Object* queue, cl_int result, const cl_event* event, cl_uint num_waits,
                           const cl_event* waits) noexcept {
    try {
        if (queue != nullptr && t_pending.op && t_pending.queue == queue->id) {
            if (result == CL_SUCCESS) {
                std::vector<uint64_t> wait_ids;
                for (cl_uint i = 0; waits != nullptr && i < num_waits; ++i) wait_ids.push_back(IdOf(waits[i]));
                OpenClDag::Get().Add(queue->id, t_pending.seq, std::move(*t_pending.op),
                                     event != nullptr ? IdOf(*event) : 0, std::move(wait_ids));
            }
        }
        if (t_pending.queue != 0) {
            if (std::shared_ptr<QueueState> st = StateOf(t_pending.queue, false)) {
                std::lock_guard lock(st->mu);
                st->inflight.erase(t_pending.seq);
            }
        }
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR_ONCE("cl", "enqueue tracking failed: {}", e.what());
    }
    t_pending.op.reset();
    t_pending.queue = 0;
    t_pending.guard.reset();
}

Result<std::vector<engine::ResourceView>> OpenClCheckpoint::SnapshotResources() {
    std::vector<engine::ResourceView> views;
    std::string refused;
    ObjectTable::Get().ForEach([&](const Object& o) {
        if (o.type != ObjectType::kMem) return;
        const auto& m = static_cast<const Mem&>(o);
        if (m.kind == MemKind::kSubBuffer) return;  // bytes of its parent
        // An image over a buffer or another image: its bytes are its parent's.
        if (m.kind == MemKind::kImage && m.parent != 0) return;
        const uint64_t size = m.kind == MemKind::kImage ? PackedImageBytes(m) : m.size;
        if ((m.kind != MemKind::kBuffer && m.kind != MemKind::kImage) || size == 0) {
            if (refused.empty()) {
                refused = MemName(m.id) + " is " + MemKindName(m.kind) +
                          (m.kind == MemKind::kImage ? " of a format gpucr does not know" : "");
            }
            return;
        }
        engine::ResourceView v;
        v.id = m.id;
        v.size = size;
        v.info = {{"object", m.id}, {"type", "cl_mem"}, {"kind", MemKindName(m.kind)}, {"flags", m.flags}};
        views.push_back(std::move(v));
    });
    if (!refused.empty()) return Unsupported(refused + ": only buffers and images are captured");
    return views;
}

Result<nlohmann::json> OpenClCheckpoint::SnapshotObjects() {
    nlohmann::json devices = nlohmann::json::array();
    nlohmann::json objects = nlohmann::json::array();
    ObjectTable::Get().ForEach([&](const Object& o) {
        if (o.type == ObjectType::kDevice && static_cast<const Device&>(o).parent == 0) {
            devices.push_back({{"id", o.id}, {"name", static_cast<const Device&>(o).name}});
        }
        objects.push_back(Describe(o));
    });
    return nlohmann::json{{"devices", devices}, {"objects", objects}};
}

std::map<dag::QueueId, uint64_t> OpenClCheckpoint::QueueSeqs() {
    std::lock_guard lock(mu_);
    std::map<dag::QueueId, uint64_t> seqs;
    // Called with the engine holding every enqueue out: an enqueue numbered but not yet through the
    // engine waits for the dump and comes after the cut, so the cut ends below the first of those.
    for (const auto& [id, st] : queues_) {
        std::lock_guard qlock(st->mu);
        seqs[id] = st->inflight.empty() ? st->next_seq : *st->inflight.begin() - 1;
    }
    return seqs;
}

Result<bool> OpenClCheckpoint::Poll(uint64_t queue_id, uint64_t seq) {
    std::shared_ptr<QueueState> st = StateOf(queue_id, false);
    if (st == nullptr) return true;
    std::lock_guard lock(st->mu);
    if (seq <= st->completed) return true;
    auto check = [&]() -> Result<bool> {
        cl_int status = CL_QUEUED;
        cl_int r = st->next->clGetEventInfo(st->marker, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status), &status,
                                            nullptr);
        if (r != CL_SUCCESS) return Internal("clGetEventInfo on a completion marker failed (" + std::to_string(r) + ")");
        if (status > CL_COMPLETE) return false;
        // A failed command ends its queue's work as well; what it would have written is moot.
        st->completed = std::max(st->completed, st->marker_seq);
        st->next->clReleaseEvent(st->marker);
        st->marker = nullptr;
        return true;
    };
    if (st->marker != nullptr && st->marker_seq >= seq) return check();
    // Every command numbered up to `covered` has reached the real queue.
    const uint64_t covered = st->inflight.empty() ? st->next_seq : *st->inflight.begin() - 1;
    if (covered < seq) return false;
    std::optional<RealOf> q = FindReal(queue_id);
    if (!q) return true;  // the application released the queue; its commands complete on their own
    if (st->marker != nullptr) {
        st->next->clReleaseEvent(st->marker);  // the new marker waits for it too
        st->marker = nullptr;
    }
    auto real = static_cast<cl_command_queue>(q->real);
    cl_event marker = nullptr;
    // A marker without a wait list waits for every command enqueued before it, in-order queue or not.
    cl_int r = q->next->clEnqueueMarkerWithWaitList != nullptr
                   ? q->next->clEnqueueMarkerWithWaitList(real, 0, nullptr, &marker)
                   : q->next->clEnqueueMarker(real, &marker);
    if (r != CL_SUCCESS) {
        return Internal("enqueueing a completion marker on cl_command_queue " + std::to_string(queue_id) +
                        " failed (" + std::to_string(r) + ")");
    }
    q->next->clFlush(real);
    st->next = q->next;
    st->marker = marker;
    st->marker_seq = covered;
    return check();
}

Status OpenClCheckpoint::WaitQueue(dag::QueueId queue, uint64_t seq) {
    if (seq == 0) return Status::Ok();
    const auto deadline = std::chrono::steady_clock::now() + kWaitTimeout;
    auto pause = std::chrono::microseconds(20);
    while (true) {
        GPUCR_ASSIGN_OR_RETURN(bool done, Poll(queue, seq));
        if (done) return Status::Ok();
        if (std::chrono::steady_clock::now() > deadline) {
            return Unavailable("cl_command_queue " + std::to_string(queue) + " did not complete command " +
                               std::to_string(seq) + " within 60 s (does it wait on a user event never set?)");
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
}

bool OpenClCheckpoint::QueueCompleted(dag::QueueId queue, uint64_t seq) {
    if (seq == 0) return true;
    Result<bool> done = Poll(queue, seq);
    return done.ok() && *done;
}

Result<OpenClCheckpoint::Reader> OpenClCheckpoint::ReaderFor(uint64_t context_id) {
    std::lock_guard lock(mu_);
    auto it = readers_.find(context_id);
    if (it != readers_.end()) return it->second;
    void* context = nullptr;
    const cl_icd_dispatch* next = nullptr;
    uint64_t device_id = 0;
    ObjectTable::Get().WithId(context_id, [&](const Object& o) {
        if (o.type != ObjectType::kContext) return;
        const auto& c = static_cast<const Context&>(o);
        context = c.real;
        next = c.next;
        if (!c.devices.empty()) device_id = c.devices.front();
    });
    std::optional<RealOf> device = FindReal(device_id);
    if (context == nullptr || !device) return Internal("cl_context " + std::to_string(context_id) + " is gone");
    cl_int err = CL_SUCCESS;
    auto real_context = static_cast<cl_context>(context);
    auto real_device = static_cast<cl_device_id>(device->real);
    cl_command_queue q = next->clCreateCommandQueueWithProperties != nullptr
                             ? next->clCreateCommandQueueWithProperties(real_context, real_device, nullptr, &err)
                             : next->clCreateCommandQueue(real_context, real_device, 0, &err);
    if (q == nullptr) {
        return Internal("creating a command queue to read memory of cl_context " + std::to_string(context_id) +
                        " failed (" + std::to_string(err) + ")");
    }
    Reader reader{q, next};
    readers_[context_id] = reader;
    return reader;
}

Status OpenClCheckpoint::ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) {
    std::optional<MemInfo> m = MemInfoOf(resource);
    if (!m || m->real == nullptr) return Internal(MemName(resource) + " is gone");
    GPUCR_ASSIGN_OR_RETURN(Reader reader, ReaderFor(m->context));
    auto mem = static_cast<cl_mem>(m->real);
    cl_int r = CL_SUCCESS;
    if (m->kind == MemKind::kImage) {
        // Images are read whole (the range of a row-major image is not a rectangle): fine for the
        // small images compute applications keep beside their buffers.
        std::vector<uint8_t> all(m->bytes);
        const size_t origin[3] = {0, 0, 0};
        r = reader.next->clEnqueueReadImage(reader.queue, mem, CL_TRUE, origin, m->region.data(), 0, 0, all.data(), 0,
                                            nullptr, nullptr);
        if (r == CL_SUCCESS) std::memcpy(dst, all.data() + offset, size);
    } else {
        r = reader.next->clEnqueueReadBuffer(reader.queue, mem, CL_TRUE, offset, size, dst, 0, nullptr, nullptr);
    }
    if (r != CL_SUCCESS) {
        return Internal("reading " + MemName(resource) + " at " + std::to_string(offset) + " (+" +
                        std::to_string(size) + ") failed (" + std::to_string(r) + ")");
    }
    return Status::Ok();
}

std::vector<std::string> OpenClCheckpoint::OpenMappings() const {
    std::vector<std::string> out;
    for (const Mapping& m : OpenClDag::Get().OpenMappings()) {
        out.push_back(MemName(m.mem) + (m.write ? " (mapped for writing)" : " (mapped for reading)"));
    }
    return out;
}

Status OpenClCheckpoint::CheckSupported() {
    std::vector<std::string> reasons = NotCapturableReasons();
    if (!reasons.empty()) {
        std::string list;
        for (const std::string& r : reasons) list += (list.empty() ? "" : "; ") + r;
        return Unsupported("the application uses what gpucr cannot capture: " + list);
    }
    bool any = false;
    ObjectTable::Get().ForEach([&](const Object& o) { any = any || o.type == ObjectType::kContext; });
    if (!any) return FailedPrecondition("the process has no OpenCL context");
    return Status::Ok();
}

void OpenClCheckpoint::EndDump() noexcept {
    std::map<uint64_t, Reader> readers;
    std::vector<std::shared_ptr<QueueState>> queues;
    {
        std::lock_guard lock(mu_);
        readers.swap(readers_);
        for (const auto& [id, st] : queues_) queues.push_back(st);
    }
    for (const auto& [id, r] : readers) r.next->clReleaseCommandQueue(r.queue);
    for (const auto& st : queues) {
        std::lock_guard lock(st->mu);
        if (st->marker != nullptr) st->next->clReleaseEvent(st->marker);
        st->marker = nullptr;
    }
}

Result<nlohmann::json> OpenClCheckpoint::Dump(image::ImageWriter& writer, const nlohmann::json& request,
                                              const agent::ProgressFn& progress) {
    GPUCR_RETURN_IF_ERROR(CheckSupported());
    GPUCR_ASSIGN_OR_RETURN(engine::DumpOptions options, engine::ParseDumpOptions(request));
    Result<nlohmann::json> section = engine_.Dump(writer, options, progress);
    EndDump();
    if (!section.ok()) return section;
    nlohmann::json kernel_dag = OpenClDag::Get().ToJson();
    (*section)["api"] = "opencl";
    (*section)["host_backed"] = kernel_dag["host_backed"];
    (*section)["enqueues"] = kernel_dag["enqueues"];
    return section;
}

}  // namespace gpucr::cl
