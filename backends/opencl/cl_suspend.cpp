// cl_suspend.cpp — OpenClCheckpoint::Suspend / Resume: the process keeps running without its real
// OpenCL objects, then gets them back (on the same device, another one, or another vendor's
// platform) with buffer contents loaded on demand. The same protocol as Vulkan's (vk_suspend.cpp).
//
// Suspend: a dump whose last moment is the suspension (dirty: pre-copy while the application runs,
// then the gate closes and what was written since is copied again; stop: the gate closes first);
// every queue drains. The gate stays closed; once the agent has committed the image, Release()
// releases every real object (cl_recreate.h).
// Resume: every object is created again behind the application's handles; buffers are loaded by a
// restore::Loader, the ones an enqueue touches first; then the gate opens. The call returns once
// everything is loaded and the first enqueue after the resume has completed, with the timings.
#include <chrono>
#include <thread>

#include "backends/opencl/cl_checkpoint.h"
#include "backends/opencl/cl_dag.h"
#include "backends/opencl/cl_recreate.h"
#include "dag/gate.h"
#include "dag/log.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/object_table.h"

namespace gpucr::cl {
namespace {

constexpr auto kGateTimeout = std::chrono::seconds(10);
// A mapping open when the gate closes: the gate opens again for the application to unmap it.
constexpr auto kMappingsTimeout = std::chrono::seconds(2);

double MsSince(int64_t t0_ns) { return (restore::MonotonicNs() - t0_ns) / 1e6; }

std::string Join(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& l : lines) out += (out.empty() ? "" : "; ") + l;
    return out;
}

Result<RecreateTarget> TargetOf(const nlohmann::json& request) {
    if (!request.contains("device") || !request["device"].is_number_integer()) return RecreateTarget{};
    const int64_t n = request["device"].get<int64_t>();
    if (n < 0) return InvalidArgument("no OpenCL device " + std::to_string(n));
    return TargetForDevice(static_cast<size_t>(n));
}

}  // namespace

Status OpenClCheckpoint::DrainQueues() {
    for (const auto& [queue, seq] : QueueSeqs()) GPUCR_RETURN_IF_ERROR(WaitQueue(queue, seq));
    return Status::Ok();
}

Result<nlohmann::json> OpenClCheckpoint::Suspend(image::ImageWriter& writer, const nlohmann::json& request,
                                                 const agent::ProgressFn& progress) {
    if (suspended_.load() || held_) return FailedPrecondition("the process is already suspended");
    const std::string mode = request.value("mode", std::string("dirty"));
    if (mode != "dirty" && mode != "stop") {
        return InvalidArgument("suspend mode must be dirty or stop (a cow cut shows an earlier moment than the stop)");
    }
    GPUCR_RETURN_IF_ERROR(CheckSupported());
    // A migration: the target must fit before anything is released.
    GPUCR_ASSIGN_OR_RETURN(RecreateTarget target, TargetOf(request));
    if (std::vector<std::string> why = CheckRecreatable(target); !why.empty()) {
        return Unsupported("the OpenCL objects could not be created again: " + Join(why));
    }

    const int64_t t0 = restore::MonotonicNs();
    gate::Owner owner;
    gate::Gate& gate = OpenClGate();
    bool closed = false;
    int64_t t_closed = 0;
    auto close = [&]() -> Status {
        const auto deadline = std::chrono::steady_clock::now() + kMappingsTimeout;
        while (true) {
            if (!gate.Close(kGateTimeout)) {
                return Unavailable("application threads stayed inside OpenCL calls for 10 s; suspend abandoned");
            }
            std::vector<std::string> open = OpenMappings();
            if (open.empty()) break;
            gate.Open();
            if (std::chrono::steady_clock::now() > deadline) {
                return FailedPrecondition("the application keeps memory mapped (" + Join(open) +
                                          "); a suspend needs every mapping unmapped");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        closed = true;
        t_closed = restore::MonotonicNs();
        return Status::Ok();
    };
    nlohmann::json dump_request = request;
    dump_request["mode"] = mode;
    // The application is about to stop anyway: the pre-copy runs at full priority unless asked.
    if (!dump_request.contains("background")) dump_request["background"] = "normal";
    GPUCR_ASSIGN_OR_RETURN(engine::DumpOptions options, engine::ParseDumpOptions(dump_request));
    if (mode == "stop") {
        GPUCR_RETURN_IF_ERROR(close());
    } else {
        options.before_final_stop = close;
    }
    Result<nlohmann::json> section = engine_.Dump(writer, options, progress);
    // Every command completes before the real objects go: reads into the application's memory too.
    Status drained = section.ok() ? DrainQueues() : Status::Ok();
    EndDump();
    if (!section.ok() || !drained.ok()) {
        if (closed) gate.Open();
        return section.ok() ? drained : section.status();
    }
    if (!closed) return Internal("the dump finished without its final stop");  // not reached

    // From here the application is held; the agent commits the image, then calls Release() (or
    // CancelSuspend() if the image could not be written).
    held_ = true;
    held_since_ns_ = t_closed;
    captured_.clear();
    for (const nlohmann::json& r : section->value("resources", nlohmann::json::array())) {
        captured_.push_back(r.at("id").get<uint64_t>());
    }
    nlohmann::json out = std::move(section).value();
    nlohmann::json kernel_dag = OpenClDag::Get().ToJson();
    out["api"] = "opencl";
    out["host_backed"] = kernel_dag["host_backed"];
    out["enqueues"] = kernel_dag["enqueues"];
    out["suspend"] = {{"held_before_release_ms", MsSince(t_closed)}, {"capture_wall_ms", MsSince(t0)}};
    return out;
}

Result<nlohmann::json> OpenClCheckpoint::Release() {
    if (!held_) return FailedPrecondition("nothing to release: no suspend is holding the application");
    gate::Owner owner;
    loader_owner_.reset();
    const int64_t t_teardown = restore::MonotonicNs();
    const size_t objects = ObjectTable::Get().size();
    if (Status s = Teardown(); !s.ok()) {
        // Nothing was released: the application goes on as if the suspend had not happened.
        CancelSuspend();
        return Status(s.code(), "releasing the OpenCL objects failed, the application continues: " + s.message());
    }
    released_ = captured_;
    {
        std::lock_guard lock(mu_);
        for (auto& [id, st] : queues_) {
            std::lock_guard qlock(st->mu);
            st->completed = st->next_seq;  // the queues drained before the release
        }
    }
    held_ = false;
    suspended_.store(true);
    GPUCR_LOG_INFO("cl", "suspended: real objects of {} wrappers released, {} buffers to load on resume", objects,
                   released_.size());
    return nlohmann::json{{"objects_destroyed", objects},
                          {"memory_released", released_.size()},
                          {"teardown_ms", MsSince(t_teardown)},
                          {"held_ms", MsSince(held_since_ns_)}};
}

void OpenClCheckpoint::CancelSuspend() noexcept {
    if (!held_) return;
    held_ = false;
    OpenClGate().Open();
    GPUCR_LOG_WARN("cl", "suspend cancelled: the application continues");
}

// One piece = one chunk of the buffer's contents (pieces come in order). An image is written whole,
// with its last piece.
Status OpenClCheckpoint::LoadResource(const restore::Item& item, size_t piece, const image::ImageReader& reader) {
    std::optional<MemInfo> m = MemInfoOf(item.id);
    if (!m || m->real == nullptr) return Internal("cl_mem " + std::to_string(item.id) + " is gone");
    const bool image = m->kind == MemKind::kImage;
    if (image && piece + 1 < item.pieces) return Status::Ok();
    const size_t first = image ? 0 : piece;
    const nlohmann::json& chunks = item.entry.at("chunks");
    const uint64_t offset = item.entry.at("offsets").at(first).get<uint64_t>();
    std::vector<uint8_t> buf(image ? item.size : 0);
    for (size_t p = first; p <= piece; ++p) {
        GPUCR_ASSIGN_OR_RETURN(image::ChunkRef ref, image::ChunkRefFromJson(chunks.at(p)));
        const uint64_t at = item.entry.at("offsets").at(p).get<uint64_t>();
        if (at + ref.size > item.size || (image && item.size != m->bytes)) {
            return DataLoss(reader.dir() + ": chunk " + ref.hash + " lies outside cl_mem " + std::to_string(item.id));
        }
        if (!image) buf.resize(ref.size);
        GPUCR_RETURN_IF_ERROR(reader.ReadChunk(ref, buf.data() + (image ? at : 0)));
    }
    GPUCR_ASSIGN_OR_RETURN(Reader q, ReaderFor(m->context));
    auto mem = static_cast<cl_mem>(m->real);
    const size_t origin[3] = {0, 0, 0};
    cl_int r = image ? q.next->clEnqueueWriteImage(q.queue, mem, CL_TRUE, origin, m->region.data(), 0, 0, buf.data(), 0,
                                                   nullptr, nullptr)
                     : q.next->clEnqueueWriteBuffer(q.queue, mem, CL_TRUE, offset, buf.size(), buf.data(), 0, nullptr,
                                                    nullptr);
    if (r != CL_SUCCESS) {
        return Internal("writing cl_mem " + std::to_string(item.id) + " at " + std::to_string(offset) + " failed (" +
                        std::to_string(r) + ")");
    }
    return Status::Ok();
}

void OpenClCheckpoint::EnsureLoaded(std::span<const dag::ResourceId> ids) noexcept {
    restore::Loader* loader = loader_.load();
    if (loader == nullptr) return;
    try {
        if (Status s = loader->Ensure(ids); !s.ok()) {
            GPUCR_LOG_ERROR("cl", "contents needed by an enqueue could not be loaded: {}", s.message());
        }
    } catch (...) {
    }
}

Result<nlohmann::json> OpenClCheckpoint::Resume(const image::ImageReader& reader, const nlohmann::json& section,
                                                const nlohmann::json& request, const agent::ProgressFn& progress) {
    if (!suspended_.load()) return FailedPrecondition("the process is not suspended");
    const int64_t t0 = request.contains("t0_ns") ? request["t0_ns"].get<int64_t>() : restore::MonotonicNs();
    const bool eager = request.value("eager", false);
    gate::Owner owner;

    // Everything that must come from the image is there, before anything is touched.
    GPUCR_ASSIGN_OR_RETURN(
        std::vector<restore::Item> items,
        restore::ItemsFromSection(section, released_, [](uint64_t id) { return "cl_mem " + std::to_string(id); },
                                  reader.dir()));
    GPUCR_ASSIGN_OR_RETURN(RecreateTarget target, TargetOf(request));
    if (std::vector<std::string> why = CheckRecreatable(target); !why.empty()) {
        return Unsupported("the OpenCL objects cannot be created on that device, the process stays suspended: " +
                           Join(why));
    }
    if (Status s = Recreate(target); !s.ok()) {
        return Status(s.code(), "re-creating the OpenCL objects failed, the process stays suspended: " + s.message());
    }
    const double recreate_ms = MsSince(t0);

    auto loader = std::make_unique<restore::Loader>(
        std::move(items), [this, &reader](const restore::Item& it, size_t piece) { return LoadResource(it, piece, reader); });
    if (progress) progress("load", 0, 0);
    if (Status s = loader->Start(eager); !s.ok()) {
        EndDump();
        // Released again, so that the next resume starts from the same place.
        if (Status t = Teardown(); !t.ok()) GPUCR_LOG_ERROR("cl", "releasing after a failed load: {}", t.message());
        return Status(s.code(), "loading contents failed, the process stays suspended: " + s.message());
    }
    if (!eager) loader_.store(loader.get());
    // The first enqueue after the hand-back, and when it completed.
    first_op_.Start(t0, [this](dag::QueueId q, uint64_t seq) { return WaitQueue(q, seq); });
    suspended_.store(false);
    OpenClGate().Open();
    const double handback_ms = MsSince(t0);

    Status loaded = loader->WaitAll();
    const double loaded_ms = MsSince(t0);
    loader_.store(nullptr);
    loader_owner_ = std::move(loader);  // an application thread may still be returning from Ensure()
    nlohmann::json first_op = first_op_.Join();
    EndDump();  // the loading queues and the first op's marker
    nlohmann::json first_op_after = nullptr;
    if (!first_op.is_null()) first_op_after = first_op.get<double>() - handback_ms;

    nlohmann::json device = nullptr;
    if (request.contains("device")) device = request["device"];
    nlohmann::json stats = {{"device", device},
                            {"eager", eager},
                            {"objects_created", ObjectTable::Get().size()},
                            {"recreate_ms", recreate_ms},
                            {"handback_ms", handback_ms},
                            {"first_op_ms", first_op},
                            {"first_op_after_handback_ms", first_op_after},
                            {"loaded_ms", loaded_ms}};
    stats.update(restore::ResumeLoadStats(loader_owner_->Stats()));
    if (!loaded.ok()) {
        stats["load_error"] = loaded.message();
        GPUCR_LOG_ERROR("cl", "after the resume, loading failed: {}", loaded.message());
    }
    return stats;
}

}  // namespace gpucr::cl
