// cu_suspend.cpp — CudaCheckpoint::Suspend / Release / Resume: the process keeps running without
// its GPU memory (and, through the driver's checkpoint, without any CUDA state on the GPU), then
// gets it back on the same GPU or another one, with contents loaded on demand.
//
// Suspend: a dump whose last moment is the suspension (dirty: pre-copy while the application runs,
// then the CUDA gate closes and what was written since is copied again; stop: the gate closes
// first); every context drains. Release (after the agent has committed the image): every
// allocation's physical memory is unmapped and released (its addresses stay reserved), then the
// helper `gpucr-cuda-checkpoint` locks the process and has the driver checkpoint what remains
// (contexts, modules, streams, events; a few MiB). Resume: the helper restores that state (onto
// another GPU when asked, through the driver's GPU remapping) and unlocks the process; new physical
// memory is mapped at the old addresses; a restore::Loader loads contents, the allocations a launch
// needs first; the gate opens as soon as the memory is mapped.
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "backends/cuda/cu_checkpoint.h"
#include "backends/cuda/cu_util.h"
#include "dag/gate.h"
#include "dag/log.h"

extern char** environ;

namespace gpucr::cuda {
namespace {

constexpr auto kGateTimeout = std::chrono::seconds(10);

gate::Gate& CudaGate() { return gate::ForApi(gate::Api::kCuda); }

double MsSince(int64_t t0_ns) { return (restore::MonotonicNs() - t0_ns) / 1e6; }

std::string HelperPath() {
    if (const char* env = std::getenv("GPUCR_CUDA_CHECKPOINT"); env != nullptr && *env != '\0') return env;
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&HelperPath), &info) != 0 && info.dli_fname != nullptr) {
        std::filesystem::path p(info.dli_fname);
        return (p.parent_path() / "gpucr-cuda-checkpoint").string();
    }
    return "gpucr-cuda-checkpoint";
}

// Runs the driver-checkpoint helper on this process and returns what it printed (one JSON object),
// or its one-line error. The helper runs without gpucr's preload.
Result<nlohmann::json> RunHelper(const std::vector<std::string>& args) {
    const std::string path = HelperPath();
    std::vector<std::string> argv_s = {path};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env_s.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (std::string& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return ErrnoError("pipe for the checkpoint helper", errno);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        return Unavailable("the driver-checkpoint helper " + path + " could not be started: " + std::strerror(rc));
    }
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return Unavailable("the driver's checkpoint (" + args.at(0) + ") failed: " + (text.empty() ? "no output" : text));
    }
    const size_t line = text.rfind('\n');
    nlohmann::json j = nlohmann::json::parse(line == std::string::npos ? text : text.substr(line + 1), nullptr, false);
    if (j.is_discarded()) return Internal("the driver-checkpoint helper printed no result: " + text);
    return j;
}

std::string UuidHex(const CUuuid& u) {
    static const char* kHex = "0123456789abcdef";
    std::string s;
    for (char c : u.bytes) {
        s += kHex[(static_cast<unsigned char>(c) >> 4) & 15];
        s += kHex[static_cast<unsigned char>(c) & 15];
    }
    return s;
}

}  // namespace

Status CudaCheckpoint::DrainAll() {
    std::set<CUcontext> ctxs;
    {
        std::shared_lock lock(queues_mu_);
        for (const auto& [id, q] : queues_) ctxs.insert(q->ctx);
    }
    {
        std::shared_lock lock(mem_mu_);
        for (const auto& [id, a] : allocs_) ctxs.insert(a->ctx);
    }
    for (CUcontext ctx : ctxs) {
        if (ctx == nullptr) continue;
        CtxScope in(ctx);
        GPUCR_RETURN_IF_ERROR(CuStatus(Real().cuCtxSynchronize(), "draining a context"));
    }
    std::shared_lock lock(queues_mu_);
    for (const auto& [id, q] : queues_) {
        std::lock_guard qlock(q->mu);
        q->completed = q->next_seq.load();
    }
    return Status::Ok();
}

Result<nlohmann::json> CudaCheckpoint::Suspend(image::ImageWriter& writer, const nlohmann::json& request,
                                               const agent::ProgressFn& progress) {
    if (suspended_.load() || held_) return FailedPrecondition("the process is already suspended");
    const std::string mode = request.value("mode", std::string("dirty"));
    if (mode != "dirty" && mode != "stop") {
        return InvalidArgument("suspend mode must be dirty or stop (a cow cut shows an earlier moment than the stop)");
    }
    GPUCR_RETURN_IF_ERROR(CheckSupported());
    if (request.contains("device") && request["device"].is_number_integer()) {
        int count = 0;
        Real().cuDeviceGetCount(&count);
        const int64_t n = request["device"].get<int64_t>();
        if (n < 0 || n >= count) {
            return InvalidArgument("no CUDA device " + std::to_string(n) + " (this process sees " + std::to_string(count) + ")");
        }
    }
    const int64_t t0 = restore::MonotonicNs();
    gate::Owner owner;
    bool closed = false;
    int64_t t_closed = 0;
    auto close = [&]() -> Status {
        if (!CudaGate().Close(kGateTimeout)) {
            return Unavailable("application threads stayed inside CUDA calls for 10 s; suspend abandoned");
        }
        closed = true;
        t_closed = restore::MonotonicNs();
        return Status::Ok();
    };
    nlohmann::json dump_request = request;
    dump_request["mode"] = mode;
    if (!dump_request.contains("background")) dump_request["background"] = "normal";
    GPUCR_ASSIGN_OR_RETURN(engine::DumpOptions options, engine::ParseDumpOptions(dump_request));
    if (mode == "stop") {
        GPUCR_RETURN_IF_ERROR(close());
    } else {
        options.before_final_stop = close;
    }
    Result<nlohmann::json> section = engine_.Dump(writer, options, progress);
    Status drained = section.ok() ? DrainAll() : Status::Ok();
    if (!section.ok() || !drained.ok()) {
        if (closed) CudaGate().Open();
        return section.ok() ? drained : section.status();
    }
    if (!closed) return Internal("the dump finished without its final stop");
    held_ = true;
    held_since_ns_ = t_closed;
    released_.clear();
    for (const nlohmann::json& r : section->value("resources", nlohmann::json::array())) {
        const uint64_t id = r.at("id").get<uint64_t>();
        Alloc* a = FindAlloc(id);
        if (a != nullptr && !a->global) released_.push_back(id);
    }
    nlohmann::json out = std::move(section).value();
    out["api"] = "cuda";
    out["suspend"] = {{"held_before_release_ms", MsSince(t_closed)}, {"capture_wall_ms", MsSince(t0)}};
    return out;
}

Result<nlohmann::json> CudaCheckpoint::Release() {
    if (!held_) return FailedPrecondition("nothing to release: no suspend is holding the application");
    gate::Owner owner;
    const int64_t t_release = restore::MonotonicNs();
    // Device identities, read while the process may still call the driver.
    device_uuids_.clear();
    int count = 0;
    Real().cuDeviceGetCount(&count);
    for (int i = 0; i < count; ++i) {
        CUdevice dev = 0;
        CUuuid uuid{};
        if (Real().cuDeviceGet(&dev, i) == CUDA_SUCCESS && Real().cuDeviceGetUuid_v2(&uuid, dev) == CUDA_SUCCESS) {
            device_uuids_.push_back(UuidHex(uuid));
        } else {
            device_uuids_.push_back("");
        }
    }
    uint64_t bytes = 0;
    {
        std::unique_lock lock(mem_mu_);
        for (uint64_t id : released_) {
            Alloc& a = *allocs_.at(id);
            CtxScope in(a.ctx);
            UnmapPhysical(a);
            bytes += a.size;
        }
    }
    const double unmap_ms = MsSince(t_release);
    // What the driver still holds (contexts, modules, streams) goes through its own checkpoint.
    driver_checkpoint_ = nullptr;
    nlohmann::json driver = nullptr;
    if (std::getenv("GPUCR_CUDA_DRIVER_CHECKPOINT") == nullptr || std::getenv("GPUCR_CUDA_DRIVER_CHECKPOINT")[0] != '0') {
        Result<nlohmann::json> r = RunHelper({"suspend", std::to_string(getpid())});
        if (r.ok()) {
            driver_checkpoint_ = *r;
            driver = *r;
        } else {
            GPUCR_LOG_WARN("cuda", "{}; the process keeps its CUDA contexts (resume on the same device only)",
                           r.status().message());
            driver = {{"error", r.status().message()}};
        }
    }
    held_ = false;
    suspended_.store(true);
    GPUCR_LOG_INFO("cuda", "suspended: {} allocations ({} bytes) released", released_.size(), bytes);
    return nlohmann::json{{"memory_released", released_.size()},
                          {"bytes_released", bytes},
                          {"teardown_ms", unmap_ms},
                          {"driver_checkpoint", driver},
                          {"held_ms", MsSince(held_since_ns_)}};
}

void CudaCheckpoint::CancelSuspend() noexcept {
    if (!held_) return;
    held_ = false;
    CudaGate().Open();
    GPUCR_LOG_WARN("cuda", "suspend cancelled: the application continues");
}

void CudaCheckpoint::EnsureLoaded(const OpDesc& op) {
    restore::Loader* loader = loader_.load();
    if (loader == nullptr) return;
    std::vector<dag::ResourceId> ids;
    for (const dag::Access& a : op.reads) ids.push_back(a.resource);
    for (const dag::Access& a : op.writes) ids.push_back(a.resource);
    if (Status s = loader->Ensure(ids); !s.ok()) {
        GPUCR_LOG_ERROR("cuda", "contents needed by a launch could not be loaded: {}", s.message());
    }
}

Status CudaCheckpoint::LoadPiece(const restore::Item& item, size_t piece, const image::ImageReader& reader) {
    Alloc* a = FindAlloc(item.id);
    if (a == nullptr || !a->mapped) return Internal("CUDA allocation " + std::to_string(item.id) + " is gone");
    GPUCR_ASSIGN_OR_RETURN(image::ChunkRef ref, image::ChunkRefFromJson(item.entry.at("chunks").at(piece)));
    const uint64_t at = item.entry.at("offsets").at(piece).get<uint64_t>();
    if (at + ref.size > a->size || ref.size > image::kDefaultChunkSize) {
        return DataLoss(reader.dir() + ": chunk " + ref.hash + " lies outside CUDA allocation " + std::to_string(item.id));
    }
    GPUCR_RETURN_IF_ERROR(reader.ReadChunk(ref, static_cast<uint8_t*>(load_staging_)));
    CtxScope in(a->ctx);
    GPUCR_RETURN_IF_ERROR(CuStatus(Real().cuMemcpyHtoDAsync_v2(a->va + at, load_staging_, ref.size, load_stream_),
                                   "loading CUDA allocation " + std::to_string(item.id)));
    return CuStatus(Real().cuStreamSynchronize(load_stream_), "loading CUDA allocation " + std::to_string(item.id));
}

Result<nlohmann::json> CudaCheckpoint::Resume(const image::ImageReader& reader, const nlohmann::json& section,
                                              const nlohmann::json& request, const agent::ProgressFn& progress) {
    if (!suspended_.load()) return FailedPrecondition("the process is not suspended");
    const int64_t t0 = request.contains("t0_ns") ? request["t0_ns"].get<int64_t>() : restore::MonotonicNs();
    const bool eager = request.value("eager", false);
    gate::Owner owner;
    GPUCR_ASSIGN_OR_RETURN(std::vector<restore::Item> items,
                           restore::ItemsFromSection(
                               section, released_, [](uint64_t id) { return "CUDA allocation " + std::to_string(id); },
                               reader.dir()));
    int original = 0;
    {
        std::shared_lock lock(mem_mu_);
        if (!released_.empty()) original = allocs_.at(released_.front())->device;
    }
    int target = original;
    if (request.contains("device") && request["device"].is_number_integer()) {
        target = static_cast<int>(request["device"].get<int64_t>());
        if (target < 0 || (!device_uuids_.empty() && target >= static_cast<int>(device_uuids_.size()))) {
            return InvalidArgument("no CUDA device " + std::to_string(target));
        }
    }
    const bool driver_held = !driver_checkpoint_.is_null();
    if (target != original && !driver_held) {
        return Unsupported("the driver's checkpoint was not taken at suspend, so this process's CUDA contexts stay on "
                           "device " + std::to_string(original) + "; it can resume there only");
    }
    nlohmann::json driver = nullptr;
    if (driver_held) {
        std::vector<std::string> args = {"resume", std::to_string(getpid())};
        if (target != original) {
            args.push_back("--pair");
            args.push_back(device_uuids_.at(original) + ":" + device_uuids_.at(target));
            args.push_back("--pair");
            args.push_back(device_uuids_.at(target) + ":" + device_uuids_.at(original));
        }
        Result<nlohmann::json> r = RunHelper(args);
        if (!r.ok()) return Status(r.status().code(), r.status().message() + "; the process stays suspended");
        driver = *r;
        driver_checkpoint_ = nullptr;
    }
    // New physical memory at the old addresses.
    std::vector<uint64_t> mapped;
    Status map_status;
    {
        std::unique_lock lock(mem_mu_);
        for (uint64_t id : released_) {
            Alloc& a = *allocs_.at(id);
            CtxScope in(a.ctx);
            if (CUresult r = MapPhysical(a, target); r != CUDA_SUCCESS) {
                map_status = CuStatus(r, "mapping memory for CUDA allocation " + std::to_string(id) + " on device " +
                                             std::to_string(target));
                break;
            }
            mapped.push_back(id);
        }
        if (!map_status.ok()) {
            for (uint64_t id : mapped) {
                CtxScope in(allocs_.at(id)->ctx);
                UnmapPhysical(*allocs_.at(id));
            }
        }
    }
    if (!map_status.ok()) return Status(map_status.code(), map_status.message() + "; the process stays suspended");
    const double recreate_ms = MsSince(t0);
    {
        CtxScope in(main_ctx_);
        if (load_stream_ == nullptr) Real().cuStreamCreate(&load_stream_, CU_STREAM_NON_BLOCKING);
        if (load_staging_ == nullptr) Real().cuMemHostAlloc(&load_staging_, image::kDefaultChunkSize, 0);
    }
    if (load_stream_ == nullptr || load_staging_ == nullptr) return Internal("creating the loading stream failed");
    auto loader = std::make_unique<restore::Loader>(std::move(items), [this, &reader](const restore::Item& it, size_t piece) {
        CtxScope in(main_ctx_);
        return LoadPiece(it, piece, reader);
    });
    if (progress) progress("load", 0, 0);
    if (Status s = loader->Start(eager); !s.ok()) {
        std::unique_lock lock(mem_mu_);
        for (uint64_t id : released_) {
            CtxScope in(allocs_.at(id)->ctx);
            UnmapPhysical(*allocs_.at(id));
        }
        return Status(s.code(), "loading contents failed, the process stays suspended: " + s.message());
    }
    if (!eager) loader_.store(loader.get());
    first_op_.Start(t0, [this](dag::QueueId q, uint64_t seq) { return WaitQueue(q, seq); });
    suspended_.store(false);
    CudaGate().Open();
    const double handback_ms = MsSince(t0);

    Status loaded = loader->WaitAll();
    const double loaded_ms = MsSince(t0);
    loader_.store(nullptr);
    loader_owner_ = std::move(loader);
    nlohmann::json first_op = first_op_.Join();
    nlohmann::json first_op_after = nullptr;
    if (!first_op.is_null()) first_op_after = first_op.get<double>() - handback_ms;
    nlohmann::json stats = {{"device", target},
                            {"eager", eager},
                            {"driver_restore", driver},
                            {"objects_created", released_.size()},
                            {"recreate_ms", recreate_ms},
                            {"handback_ms", handback_ms},
                            {"first_op_ms", first_op},
                            {"first_op_after_handback_ms", first_op_after},
                            {"loaded_ms", loaded_ms}};
    stats.update(restore::ResumeLoadStats(loader_owner_->Stats()));
    if (!loaded.ok()) {
        stats["load_error"] = loaded.message();
        GPUCR_LOG_ERROR("cuda", "after the resume, loading failed: {}", loaded.message());
    }
    return stats;
}

}  // namespace gpucr::cuda
