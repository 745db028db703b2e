#include "backends/cuda/cu_checkpoint.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "backends/cuda/cu_util.h"
#include "dag/log.h"
#include "layers/cuda/cu_real.h"

namespace gpucr::cuda {
namespace {

constexpr uint64_t kQueueWaitTimeoutMs = 600000;

bool EnvFlag(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && v[0] == '1';
}

uint64_t EnvU64(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    return std::strtoull(v, nullptr, 10);
}

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

Status CuStatus(CUresult r, const std::string& what) {
    if (r == CUDA_SUCCESS) return Status::Ok();
    const std::string msg = what + " failed: " + ErrorName(r) + " (" + std::to_string(static_cast<int>(r)) + ")";
    if (r == CUDA_ERROR_OUT_OF_MEMORY) return Unavailable(msg);
    return Internal(msg);
}

CudaCheckpoint& CudaCheckpoint::Get() {
    static CudaCheckpoint* cp = new CudaCheckpoint();  // never destroyed: entry points run during exit
    return *cp;
}

CudaCheckpoint::CudaCheckpoint() : engine_(dag_, *this) {
    enabled_ = !EnvFlag("GPUCR_DISABLE") && LoadReal() && RealComplete();
    if (enabled_) RegisterProvider();
}

void CudaCheckpoint::Refuse(const std::string& what) {
    std::unique_lock lock(mem_mu_);
    if (std::find(refusals_.begin(), refusals_.end(), what) == refusals_.end()) {
        GPUCR_LOG_WARN("cuda", "the application uses {}: a dump or suspend of this process will be refused", what);
        refusals_.push_back(what);
    }
}

Status CudaCheckpoint::CheckSupported() {
    std::shared_lock lock(mem_mu_);
    if (refusals_.empty()) return Status::Ok();
    std::string list;
    for (const std::string& r : refusals_) list += (list.empty() ? "" : ", ") + r;
    return Unsupported("the process uses CUDA state gpucr cannot capture: " + list);
}

// ---------------------------------------------------------------------------------------------
// Memory

bool CudaCheckpoint::EnsureRange(CUcontext ctx) {
    if (va_base_ != 0) return true;
    if (va_failed_) return false;
    const uint64_t size = EnvU64("GPUCR_CUDA_VA_GIB", 1024) << 30;
    CtxScope in(ctx);
    CUdeviceptr base = 0;
    CUresult r = Real().cuMemAddressReserve(&base, size, 0, 0, 0);
    if (r != CUDA_SUCCESS) {
        va_failed_ = true;
        GPUCR_LOG_ERROR("cuda", "reserving {} GiB of device addresses failed ({}): allocations are left to the driver "
                        "and a dump will be refused", size >> 30, ErrorName(r));
        refusals_.push_back("device allocations outside gpucr's reserved address range");
        return false;
    }
    va_base_ = base;
    va_ = VaRange(base, size);
    main_ctx_ = ctx;
    GPUCR_LOG_INFO("cuda", "device allocations live in [{:#x}, {:#x})", base, base + size);
    return true;
}

uint64_t CudaCheckpoint::Granularity(int device) {
    auto it = granularity_.find(device);
    if (it != granularity_.end()) return it->second;
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = device;
    size_t g = 0;
    if (Real().cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED) != CUDA_SUCCESS || g == 0) {
        g = 2 << 20;
    }
    granularity_[device] = g;
    return g;
}

CUresult CudaCheckpoint::MapPhysical(Alloc& a, int device) {
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = device;
    CUmemGenericAllocationHandle h = 0;
    CUresult r = Real().cuMemCreate(&h, a.size, &prop, 0);
    if (r != CUDA_SUCCESS) return r;
    r = Real().cuMemMap(a.va, a.size, 0, h, 0);
    if (r != CUDA_SUCCESS) {
        Real().cuMemRelease(h);
        return r;
    }
    CUmemAccessDesc access{};
    access.location = prop.location;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    r = Real().cuMemSetAccess(a.va, a.size, &access, 1);
    if (r != CUDA_SUCCESS) {
        Real().cuMemUnmap(a.va, a.size);
        Real().cuMemRelease(h);
        return r;
    }
    a.handle = h;
    a.device = device;
    a.mapped = true;
    return CUDA_SUCCESS;
}

void CudaCheckpoint::UnmapPhysical(Alloc& a) {
    if (!a.mapped) return;
    if (CUresult r = Real().cuMemUnmap(a.va, a.size); r != CUDA_SUCCESS) {
        GPUCR_LOG_ERROR("cuda", "unmapping allocation {} failed: {}", a.id, ErrorName(r));
    }
    if (CUresult r = Real().cuMemRelease(a.handle); r != CUDA_SUCCESS) {
        GPUCR_LOG_ERROR("cuda", "releasing allocation {} failed: {}", a.id, ErrorName(r));
    }
    a.handle = 0;
    a.mapped = false;
}

CUresult CudaCheckpoint::Allocate(CUdeviceptr* dptr, size_t bytes, const char* origin) {
    agent::EnsureRunning();  // a fork() child gets its own agent
    if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    CUcontext ctx = nullptr;
    if (Real().cuCtxGetCurrent(&ctx) != CUDA_SUCCESS || ctx == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    CUdevice device = 0;
    if (CUresult r = Real().cuCtxGetDevice(&device); r != CUDA_SUCCESS) return r;
    std::unique_lock lock(mem_mu_);
    if (!EnsureRange(ctx)) {
        lock.unlock();
        return Real().cuMemAlloc_v2(dptr, bytes);
    }
    auto a = std::make_unique<Alloc>();
    a->id = next_id_++;
    a->requested = bytes;
    a->size = RoundUp(bytes, Granularity(device));
    a->ctx = ctx;
    a->origin = origin;
    a->va = va_.Allocate(a->size, Granularity(device));
    if (a->va == 0) return CUDA_ERROR_OUT_OF_MEMORY;
    if (CUresult r = MapPhysical(*a, device); r != CUDA_SUCCESS) {
        va_.Free(a->va, a->size);
        return r;
    }
    if (!map_.Insert(a->va, a->size, a->id)) {  // not reached: the range hands out disjoint addresses
        UnmapPhysical(*a);
        va_.Free(a->va, a->size);
        return CUDA_ERROR_UNKNOWN;
    }
    *dptr = a->va;
    GPUCR_LOG_DEBUG("cuda", "{} {} bytes -> allocation {} at {:#x} ({} mapped)", origin, bytes, a->id, a->va, a->size);
    allocs_[a->id] = std::move(a);
    return CUDA_SUCCESS;
}

bool CudaCheckpoint::Free(CUdeviceptr ptr, CUstream stream, bool stream_ordered, CUresult* r) {
    uint64_t id = 0;
    CUcontext ctx = nullptr;
    {
        std::shared_lock lock(mem_mu_);
        const Allocation* found = map_.FindExact(ptr);
        if (found == nullptr) return false;
        id = found->id;
        Alloc* a = allocs_.at(id).get();
        if (a->global) return false;
        ctx = a->ctx;
    }
    // The driver's cuMemFree waits for work using the memory; unmapping does not.
    *r = stream_ordered ? Real().cuStreamSynchronize(stream) : CUDA_SUCCESS;
    if (*r == CUDA_SUCCESS) {
        CtxScope in(ctx);
        *r = Real().cuCtxSynchronize();
    }
    if (*r != CUDA_SUCCESS) return true;
    engine_.BeforeRelease(id);
    std::unique_lock lock(mem_mu_);
    auto it = allocs_.find(id);
    if (it == allocs_.end()) {
        *r = CUDA_ERROR_INVALID_VALUE;
        return true;
    }
    Alloc& a = *it->second;
    {
        CtxScope in(a.ctx);
        UnmapPhysical(a);
    }
    va_.Free(a.va, a.size);
    map_.Erase(a.va);
    dag_.Forget(id);
    allocs_.erase(it);
    *r = CUDA_SUCCESS;
    return true;
}

void CudaCheckpoint::AddGlobal(CUdeviceptr ptr, size_t bytes, const char* name) {
    if (ptr == 0 || bytes == 0) return;
    CUcontext ctx = nullptr;
    Real().cuCtxGetCurrent(&ctx);
    CUdevice device = 0;
    Real().cuCtxGetDevice(&device);
    std::unique_lock lock(mem_mu_);
    if (const Allocation* found = map_.Find(ptr); found != nullptr) return;  // known already
    auto a = std::make_unique<Alloc>();
    a->id = next_id_++;
    a->va = ptr;
    a->size = a->requested = bytes;
    a->ctx = ctx;
    a->device = device;
    a->global = true;
    a->mapped = true;
    a->origin = std::string("global ") + (name != nullptr ? name : "?");
    if (!map_.Insert(a->va, a->size, a->id)) return;
    if (main_ctx_ == nullptr) main_ctx_ = ctx;
    allocs_[a->id] = std::move(a);
}

Alloc* CudaCheckpoint::FindAlloc(uint64_t id) {
    std::shared_lock lock(mem_mu_);
    auto it = allocs_.find(id);
    return it == allocs_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------------------------------------
// Operations

Queue* CudaCheckpoint::QueueOf(CUstream stream, bool per_thread_default) {
    const auto raw = reinterpret_cast<uintptr_t>(stream);
    Queue::Kind kind = Queue::Kind::kStream;
    if (stream == nullptr) {
        kind = per_thread_default ? Queue::Kind::kPerThread : Queue::Kind::kLegacy;
    } else if (stream == CU_STREAM_LEGACY) {
        kind = Queue::Kind::kLegacy;
    } else if (stream == CU_STREAM_PER_THREAD) {
        kind = Queue::Kind::kPerThread;
    }
    CUcontext ctx = nullptr;
    uint64_t key = raw;
    if (kind != Queue::Kind::kStream) {
        Real().cuCtxGetCurrent(&ctx);
        key = reinterpret_cast<uintptr_t>(ctx) | (kind == Queue::Kind::kLegacy ? 1 : 2);
    }
    {
        std::shared_lock lock(queues_mu_);
        auto it = queues_.find(key);
        if (it != queues_.end()) return it->second.get();
    }
    if (kind == Queue::Kind::kStream) Real().cuStreamGetCtx(stream, &ctx);
    auto q = std::make_unique<Queue>();
    q->id = key;
    q->kind = kind;
    q->ctx = ctx;
    q->stream = kind == Queue::Kind::kStream ? stream : nullptr;
    std::unique_lock lock(queues_mu_);
    auto [it, inserted] = queues_.emplace(key, std::move(q));
    return it->second.get();
}

Queue* CudaCheckpoint::FindQueue(uint64_t id) {
    std::shared_lock lock(queues_mu_);
    auto it = queues_.find(id);
    return it == queues_.end() ? nullptr : it->second.get();
}

void CudaCheckpoint::RangeAccess(CUdeviceptr ptr, uint64_t bytes, std::vector<dag::Access>& out) {
    if (bytes == 0) return;
    std::shared_lock lock(mem_mu_);
    uint64_t at = ptr;
    const uint64_t end = ptr + bytes;
    while (at < end) {
        const Allocation* a = map_.Find(at);
        if (a == nullptr) return;
        const uint64_t stop = std::min(end, a->base + a->size);
        out.push_back({.resource = a->id, .offset = at - a->base, .size = stop - at, .certainty = dag::Certainty::kCertain});
        at = stop;
    }
}

void CudaCheckpoint::WholeAccess(CUdeviceptr ptr, std::vector<dag::Access>& out) {
    std::shared_lock lock(mem_mu_);
    if (const Allocation* a = map_.Find(ptr); a != nullptr) {
        out.push_back({.resource = a->id, .offset = 0, .size = a->size, .certainty = dag::Certainty::kSpeculated});
    }
}

const ParamLayout& CudaCheckpoint::LayoutOf(CUfunction f) {
    {
        std::shared_lock lock(layouts_mu_);
        auto it = layouts_.find(f);
        if (it != layouts_.end()) return it->second;
    }
    // The runtime launches CUkernel handles as functions, and cuFuncGetParamInfo refuses those;
    // both queries are asked and the answer with more parameters wins (a query that does not
    // apply to a handle should fail, but must not make a kernel look parameterless).
    ParamLayout layout;
    for (int attempt = 0; attempt < 2; ++attempt) {
        ParamLayout got;
        for (size_t i = 0; i < 4096; ++i) {
            size_t offset = 0;
            size_t size = 0;
            CUresult r = CUDA_ERROR_NOT_SUPPORTED;
            if (attempt == 0 && Real().cuKernelGetParamInfo != nullptr) {
                r = Real().cuKernelGetParamInfo(reinterpret_cast<CUkernel>(f), i, &offset, &size);
            } else if (attempt == 1 && Real().cuFuncGetParamInfo != nullptr) {
                r = Real().cuFuncGetParamInfo(f, i, &offset, &size);
            }
            if (r == CUDA_SUCCESS) {
                got.params.push_back({static_cast<uint32_t>(offset), static_cast<uint32_t>(size)});
                continue;
            }
            // Past the last parameter the query answers CUDA_ERROR_INVALID_VALUE.
            got.known = r == CUDA_ERROR_INVALID_VALUE;
            break;
        }
        if (got.known && (!layout.known || got.params.size() > layout.params.size())) layout = std::move(got);
    }
    if (!layout.known) GPUCR_LOG_WARN_ONCE("cuda", "a kernel's parameter layout is unknown; its launches are taken to "
                                                   "read and write every allocation");
    std::unique_lock lock(layouts_mu_);
    return layouts_.emplace(f, std::move(layout)).first->second;
}

void CudaCheckpoint::LaunchAccesses(CUfunction f, void** params, void** extra, std::vector<dag::Access>& out) {
    launches_.fetch_add(1, std::memory_order_relaxed);
    {
        std::shared_lock lock(mem_mu_);
        if (map_.size() == 0) return;
    }
    const ParamLayout& layout = LayoutOf(f);
    std::vector<PointerHit> hits;
    if (extra != nullptr) {
        std::optional<std::span<const uint8_t>> buf = ExtraBuffer(extra);
        if (buf) {
            std::shared_lock lock(mem_mu_);
            hits = ScanForPointers(*buf, layout.known ? layout : ParamLayout{}, map_);
            out = SpeculateAccesses(hits, map_);
        }
    } else if (params != nullptr && layout.known) {
        std::vector<uint8_t> buf = PackParams(layout, params);
        std::shared_lock lock(mem_mu_);
        hits = ScanForPointers(buf, layout, map_);
        out = SpeculateAccesses(hits, map_);
    } else if (params != nullptr) {
        launches_unknown_.fetch_add(1, std::memory_order_relaxed);
        std::shared_lock lock(mem_mu_);
        for (const Allocation& a : map_.All()) {
            out.push_back({.resource = a.id, .offset = 0, .size = a.size, .certainty = dag::Certainty::kSpeculated});
        }
    }
    pointer_hits_.fetch_add(hits.size(), std::memory_order_relaxed);
}

void CudaCheckpoint::Record(Queue& queue, uint64_t seq, OpDesc op) {
    dag::Op node{.kind = op.kind, .queue = queue.id, .seq = seq, .label = op.label};
    node.reads = std::move(op.reads);
    node.writes = std::move(op.writes);
    dag_.Add(std::move(node));
}

// ---------------------------------------------------------------------------------------------
// engine::CaptureSource

Result<std::vector<engine::ResourceView>> CudaCheckpoint::SnapshotResources() {
    // Called with submissions held (tracking starts, or the cut): a marker on every stream covers
    // everything submitted so far, which ReadRange waits for before reading live memory.
    {
        std::map<uint64_t, uint64_t> barrier;
        std::shared_lock qlock(queues_mu_);
        for (const auto& [id, q] : queues_) {
            const uint64_t seq = q->enqueued.load();
            if (seq == 0) continue;
            barrier[id] = seq;
            if (q->kind == Queue::Kind::kPerThread) continue;
            std::lock_guard mlock(q->mu);
            if (seq <= q->completed || (!q->markers.empty() && q->markers.back().covers >= seq)) continue;
            CtxScope in(q->ctx);
            CUevent ev = nullptr;
            if (Real().cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) continue;
            if (Real().cuEventRecord(ev, q->stream) != CUDA_SUCCESS) {
                Real().cuEventDestroy_v2(ev);
                continue;
            }
            q->markers.push_back({seq, ev});
        }
        std::lock_guard block(barrier_mu_);
        barrier_ = std::move(barrier);
    }
    std::shared_lock lock(mem_mu_);
    std::vector<engine::ResourceView> out;
    for (const Allocation& m : map_.All()) {
        const Alloc& a = *allocs_.at(m.id);
        if (!a.mapped) continue;
        engine::ResourceView v;
        v.id = a.id;
        v.size = a.size;
        v.info = {{"kind", a.global ? "cuda_global" : "cuda_memory"},
                  {"address", a.va},
                  {"requested", a.requested},
                  {"device", a.device},
                  {"origin", a.origin}};
        out.push_back(std::move(v));
    }
    return out;
}

Result<nlohmann::json> CudaCheckpoint::SnapshotObjects() {
    nlohmann::json devices = nlohmann::json::array();
    std::map<int, bool> seen;
    nlohmann::json objects = nlohmann::json::array();
    {
        std::shared_lock lock(mem_mu_);
        for (const auto& [id, a] : allocs_) seen[a->device] = true;
        objects.push_back({{"type", "address_range"}, {"base", va_base_}, {"size", va_.size()}});
    }
    // While suspended the driver may hold the process locked: no call into it.
    const bool quiet = suspended_.load();
    for (const auto& [ordinal, unused] : seen) {
        char name[256] = {};
        CUdevice dev = 0;
        if (!quiet && Real().cuDeviceGet(&dev, ordinal) == CUDA_SUCCESS) Real().cuDeviceGetName(name, sizeof(name), dev);
        devices.push_back({{"ordinal", ordinal}, {"name", name}});
    }
    {
        std::shared_lock lock(queues_mu_);
        for (const auto& [id, q] : queues_) {
            const char* kind = q->kind == Queue::Kind::kStream ? "stream" : q->kind == Queue::Kind::kLegacy ? "legacy_stream" : "per_thread_stream";
            objects.push_back({{"type", kind}, {"queue", id}, {"submissions", q->next_seq.load()}});
        }
    }
    return nlohmann::json{{"devices", devices}, {"objects", objects}};
}

std::map<dag::QueueId, uint64_t> CudaCheckpoint::QueueSeqs() {
    // Called with submissions held: every number given out has reached the driver.
    std::map<dag::QueueId, uint64_t> out;
    std::shared_lock lock(queues_mu_);
    for (const auto& [id, q] : queues_) out[id] = q->next_seq.load();
    return out;
}

Status CudaCheckpoint::WaitBarrier() {
    std::map<uint64_t, uint64_t> barrier;
    {
        std::lock_guard lock(barrier_mu_);
        barrier = barrier_;
    }
    for (const auto& [queue, seq] : barrier) GPUCR_RETURN_IF_ERROR(WaitQueue(queue, seq));
    return Status::Ok();
}

namespace {

// With q.mu held: the first marker covering `seq`, recording one now if none does.
Result<Queue::Marker*> MarkerFor(Queue& q, uint64_t seq) {
    for (Queue::Marker& m : q.markers) {
        if (m.covers >= seq) return &m;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kQueueWaitTimeoutMs);
    while (q.enqueued.load() < seq) {  // numbered but not handed to the driver yet
        if (std::chrono::steady_clock::now() > deadline) return Unavailable("a submission never reached the driver");
        sched_yield();
    }
    const uint64_t covers = q.enqueued.load();
    CtxScope in(q.ctx);
    CUevent ev = nullptr;
    GPUCR_RETURN_IF_ERROR(CuStatus(Real().cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING), "cuEventCreate"));
    if (CUresult r = Real().cuEventRecord(ev, q.stream); r != CUDA_SUCCESS) {
        Real().cuEventDestroy_v2(ev);
        return CuStatus(r, "recording a marker on a stream");
    }
    q.markers.push_back({covers, ev});
    return &q.markers.back();
}

void RetireMarkers(Queue& q) {
    while (!q.markers.empty() && q.markers.front().covers <= q.completed) {
        Real().cuEventDestroy_v2(q.markers.front().event);
        q.markers.pop_front();
    }
}

}  // namespace

Status CudaCheckpoint::WaitQueue(dag::QueueId queue, uint64_t seq) {
    Queue* q = FindQueue(queue);
    if (q == nullptr) return Status::Ok();
    std::lock_guard lock(q->mu);
    if (seq <= q->completed) return Status::Ok();
    if (q->kind == Queue::Kind::kPerThread) {
        const uint64_t covers = q->enqueued.load();
        CtxScope in(q->ctx);
        GPUCR_RETURN_IF_ERROR(CuStatus(Real().cuCtxSynchronize(), "synchronizing the context"));
        q->completed = std::max(q->completed, covers);
        return Status::Ok();
    }
    GPUCR_ASSIGN_OR_RETURN(Queue::Marker * m, MarkerFor(*q, seq));
    {
        CtxScope in(q->ctx);
        GPUCR_RETURN_IF_ERROR(CuStatus(Real().cuEventSynchronize(m->event), "waiting for a stream"));
    }
    q->completed = std::max(q->completed, m->covers);
    RetireMarkers(*q);
    return Status::Ok();
}

bool CudaCheckpoint::QueueCompleted(dag::QueueId queue, uint64_t seq) {
    Queue* q = FindQueue(queue);
    if (q == nullptr) return true;
    std::lock_guard lock(q->mu);
    if (seq <= q->completed) return true;
    if (q->kind == Queue::Kind::kPerThread) return false;
    Result<Queue::Marker*> m = MarkerFor(*q, seq);
    if (!m.ok()) return false;
    CtxScope in(q->ctx);
    if (Real().cuEventQuery((*m)->event) != CUDA_SUCCESS) return false;
    q->completed = std::max(q->completed, (*m)->covers);
    RetireMarkers(*q);
    return true;
}

CUstream CudaCheckpoint::CaptureStream(CUcontext ctx) {
    std::lock_guard lock(capture_mu_);
    auto it = capture_streams_.find(ctx);
    if (it != capture_streams_.end()) return it->second;
    CUstream s = nullptr;
    CtxScope in(ctx);
    if (Real().cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS) s = nullptr;
    capture_streams_[ctx] = s;
    return s;
}

Status CudaCheckpoint::ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) {
    Alloc* a = FindAlloc(resource);
    if (a == nullptr || !a->mapped) return Internal("CUDA allocation " + std::to_string(resource) + " is gone");
    CtxScope in(a->ctx);
    CUstream stream = CaptureStream(a->ctx);
    auto* out = static_cast<uint8_t*>(dst);
    uint64_t at = offset;
    const uint64_t end = offset + size;
    std::vector<Alloc::Shadow> shadows;
    {
        std::lock_guard lock(a->mu);
        shadows = a->shadows;
    }
    std::sort(shadows.begin(), shadows.end(), [](const auto& x, const auto& y) { return x.offset < y.offset; });
    while (at < end) {
        CUdeviceptr src = a->va + at;
        uint64_t len = end - at;
        for (const Alloc::Shadow& s : shadows) {
            if (s.offset + s.size <= at) continue;
            if (s.offset <= at) {  // inside a preserved range: read the shadow
                GPUCR_RETURN_IF_ERROR(CuStatus(Real().cuEventSynchronize(s.event), "waiting for a copy-on-write copy"));
                src = s.dev + (at - s.offset);
                len = std::min(len, s.offset + s.size - at);
            } else {
                len = std::min(len, s.offset - at);
            }
            break;
        }
        if (const uintptr_t piece_end = PinnedPieceEnd(out + (at - offset)); piece_end != 0) {
            len = std::min<uint64_t>(len, piece_end - reinterpret_cast<uintptr_t>(out + (at - offset)));
        }
        if (src == a->va + at) GPUCR_RETURN_IF_ERROR(WaitBarrier());  // live memory: older work first
        GPUCR_RETURN_IF_ERROR(
            CuStatus(Real().cuMemcpyDtoHAsync_v2(out + (at - offset), src, len, stream), "copying device memory out"));
        at += len;
    }
    return CuStatus(Real().cuStreamSynchronize(stream), "copying device memory out");
}

bool CudaCheckpoint::PreserveRange(dag::ResourceId resource, uint64_t offset, uint64_t size, dag::QueueId queue) {
    Queue* q = FindQueue(queue);
    Alloc* a = FindAlloc(resource);
    if (q == nullptr || a == nullptr || q->kind == Queue::Kind::kPerThread) return false;
    // Room in the shadow pieces of this context, reserved piece by piece (all or nothing).
    struct Part {
        Pool* pool;
        uint64_t at;
        uint64_t len;
    };
    std::vector<Part> parts;
    {
        std::lock_guard lock(pools_mu_);
        uint64_t left = size;
        for (auto& p : pools_) {
            if (left == 0) break;
            if (p->ctx != a->ctx) continue;
            const uint64_t used = p->used.load();
            const uint64_t room = p->size > used ? (p->size - used) / 256 * 256 : 0;
            if (room == 0) continue;
            const uint64_t len = std::min(left, room);
            parts.push_back({p.get(), used, len});
            left -= len;
        }
        if (left != 0) {
            shadow_fallbacks_.fetch_add(1);
            return false;
        }
        for (const Part& part : parts) part.pool->used.store(part.at + RoundUp(part.len, 256));
    }
    CtxScope in(q->ctx);
    uint64_t at = offset;
    std::vector<Alloc::Shadow> made;
    bool ok = true;
    for (const Part& part : parts) {
        Alloc::Shadow s{.offset = at, .size = part.len, .dev = part.pool->base + part.at};
        ok = Real().cuMemcpyDtoDAsync_v2(s.dev, a->va + at, part.len, q->stream) == CUDA_SUCCESS &&
             Real().cuEventCreate(&s.event, CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS;
        if (ok && Real().cuEventRecord(s.event, q->stream) != CUDA_SUCCESS) {
            Real().cuEventDestroy_v2(s.event);
            ok = false;
        }
        if (!ok) break;
        made.push_back(s);
        at += part.len;
    }
    std::lock_guard lock(a->mu);
    a->shadows.insert(a->shadows.end(), made.begin(), made.end());
    if (!ok) return false;  // the parts made are correct as far as they go; the engine copies the whole now
    shadow_bytes_.fetch_add(size);
    return true;
}

// Page-locked in pieces: one registration of gigabytes holds the driver (and every application
// thread calling into it) for as long as the pinning takes. The engine's copies are 4 MiB-aligned
// within a snapshot, so none spans two pieces.
constexpr uint64_t kPinPiece = 64ull << 20;

void CudaCheckpoint::PinHost(void* host, uint64_t size) {
    std::vector<void*> pieces;
    CtxScope in(main_ctx_);
    for (uint64_t off = 0; off < size; off += kPinPiece) {
        void* p = static_cast<uint8_t*>(host) + off;
        CUresult r = Real().cuMemHostRegister_v2(p, std::min(kPinPiece, size - off), CU_MEMHOSTREGISTER_PORTABLE);
        if (r != CUDA_SUCCESS) {
            GPUCR_LOG_WARN_ONCE("cuda", "page-locking a snapshot failed ({}); captures go through pageable memory",
                                ErrorName(r));
            break;
        }
        pieces.push_back(p);
    }
    std::lock_guard lock(pinned_mu_);
    for (void* p : pieces) {
        const auto start = reinterpret_cast<uintptr_t>(p);
        pinned_pieces_[start] = std::min(start + kPinPiece, reinterpret_cast<uintptr_t>(host) + size);
    }
    pinned_[host] = std::move(pieces);
}

uintptr_t CudaCheckpoint::PinnedPieceEnd(const void* p) {
    const auto at = reinterpret_cast<uintptr_t>(p);
    std::lock_guard lock(pinned_mu_);
    auto it = pinned_pieces_.upper_bound(at);
    if (it == pinned_pieces_.begin()) return 0;
    --it;
    return at < it->second ? it->second : 0;
}

void CudaCheckpoint::UnpinHost(void* host) {
    std::vector<void*> pieces;
    {
        std::lock_guard lock(pinned_mu_);
        auto it = pinned_.find(host);
        if (it == pinned_.end()) return;
        pieces = std::move(it->second);
        pinned_.erase(it);
        for (void* p : pieces) pinned_pieces_.erase(reinterpret_cast<uintptr_t>(p));
    }
    CtxScope in(main_ctx_);
    for (void* p : pieces) Real().cuMemHostUnregister(p);
}

// Shadow memory for copy-on-write, in pieces of 256 MiB (small allocations do not hold the driver
// long), up to the size of the state or what the device has free less 1 GiB.
constexpr uint64_t kShadowPiece = 256ull << 20;

Status CudaCheckpoint::AllocateShadows() {
    if (EnvU64("GPUCR_CUDA_SHADOW", 1) == 0) return Status::Ok();
    std::map<CUcontext, uint64_t> need;
    {
        std::shared_lock lock(mem_mu_);
        for (const auto& [id, a] : allocs_) {
            if (a->mapped) need[a->ctx] += a->size;
        }
    }
    for (const auto& [ctx, bytes] : need) {
        CtxScope in(ctx);
        size_t free_bytes = 0;
        size_t total = 0;
        if (Real().cuMemGetInfo_v2(&free_bytes, &total) != CUDA_SUCCESS) continue;
        const uint64_t margin = 1ull << 30;  // leave the application room to allocate meanwhile
        uint64_t want = std::min<uint64_t>(bytes, free_bytes > margin ? free_bytes - margin : 0);
        for (uint64_t got = 0; got < want;) {
            auto pool = std::make_unique<Pool>();
            pool->ctx = ctx;
            const uint64_t size = std::min(kShadowPiece, RoundUp(want - got, 2 << 20));
            // Ordinary driver memory, outside the reserved range: never part of an image.
            if (Real().cuMemAlloc_v2(&pool->base, size) != CUDA_SUCCESS) break;
            pool->size = size;
            got += size;
            std::lock_guard lock(pools_mu_);
            pools_.push_back(std::move(pool));
        }
    }
    return Status::Ok();
}

void CudaCheckpoint::FreeShadows() {
    {
        std::shared_lock lock(mem_mu_);
        for (const auto& [id, a] : allocs_) {
            std::lock_guard alock(a->mu);
            for (const Alloc::Shadow& s : a->shadows) {
                CtxScope in(a->ctx);
                Real().cuEventSynchronize(s.event);
                Real().cuEventDestroy_v2(s.event);
            }
            a->shadows.clear();
        }
    }
    std::lock_guard lock(pools_mu_);
    for (auto& p : pools_) {
        CtxScope in(p->ctx);
        Real().cuMemFree_v2(p->base);
    }
    pools_.clear();
}

// ---------------------------------------------------------------------------------------------
// Dump

Result<nlohmann::json> CudaCheckpoint::Dump(image::ImageWriter& writer, const nlohmann::json& request,
                                            const agent::ProgressFn& progress) {
    if (suspended_.load() || held_) return FailedPrecondition("the process is suspended");
    GPUCR_RETURN_IF_ERROR(CheckSupported());
    GPUCR_ASSIGN_OR_RETURN(engine::DumpOptions options, engine::ParseDumpOptions(request));
    shadow_bytes_ = 0;
    shadow_fallbacks_ = 0;
    if (options.mode == engine::Mode::kCow) GPUCR_RETURN_IF_ERROR(AllocateShadows());
    Result<nlohmann::json> section = engine_.Dump(writer, options, progress);
    FreeShadows();
    GPUCR_RETURN_IF_ERROR(section.status());
    nlohmann::json out = std::move(section).value();
    out["api"] = "cuda";
    out["stats"]["shadow_bytes"] = shadow_bytes_.load();
    out["stats"]["shadow_fallbacks"] = shadow_fallbacks_.load();
    out["launches"] = {{"total", launches_.load()},
                       {"unknown_layout", launches_unknown_.load()},
                       {"pointer_hits", pointer_hits_.load()}};
    return out;
}

nlohmann::json CudaCheckpoint::Describe() {
    nlohmann::json d;
    {
        std::shared_lock lock(mem_mu_);
        uint64_t bytes = 0;
        for (const auto& [id, a] : allocs_) bytes += a->size;
        d["resources"] = allocs_.size();
        d["bytes"] = bytes;
        d["refusals"] = refusals_;
        d["address_range"] = {{"base", va_base_}, {"size", va_.size()}, {"used", va_.used()}};
    }
    {
        std::shared_lock lock(queues_mu_);
        d["streams"] = queues_.size();
    }
    d["launches"] = launches_.load();
    d["suspended"] = suspended_.load();
    Result<nlohmann::json> objects = SnapshotObjects();
    d["devices"] = objects.ok() ? (*objects)["devices"] : nlohmann::json::array();
    d["objects"] = objects.ok() ? (*objects)["objects"].size() : 0;
    return d;
}

void CudaCheckpoint::RegisterProvider() {
    agent::Provider p;
    p.api = "cuda";
    p.describe = [this] { return Describe(); };
    p.dump = [this](image::ImageWriter& w, const nlohmann::json& req, const agent::ProgressFn& progress) {
        return Dump(w, req, progress);
    };
    p.suspend = [this](image::ImageWriter& w, const nlohmann::json& req, const agent::ProgressFn& progress) {
        return Suspend(w, req, progress);
    };
    p.release = [this] { return Release(); };
    p.cancel = [this] { CancelSuspend(); };
    p.resume = [this](const image::ImageReader& r, const nlohmann::json& section, const nlohmann::json& req,
                      const agent::ProgressFn& progress) { return Resume(r, section, req, progress); };
    p.suspended = [this] { return suspended(); };
    agent::RegisterProvider(std::move(p));
}

}  // namespace gpucr::cuda
