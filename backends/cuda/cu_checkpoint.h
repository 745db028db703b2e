// cu_checkpoint.h — CUDA's side of a checkpoint: device memory, streams and launches as the engine
// sees them, and the capture, suspend and resume of a CUDA process.
//
// One CudaCheckpoint per process, fed by the interposer (layers/cuda/cu_hooks.cpp):
//  - Memory. Every device allocation the application makes (cuMemAlloc, pitch, stream-ordered) is
//    placed in one reserved range of device addresses and backed by physical memory of its own
//    (cuMemCreate + cuMemMap), so it keeps its address when gpucr releases the physical memory and
//    creates it again, on the same GPU or another one (UVA). Module globals the application looks
//    up are resources too (their memory is the driver's).
//  - Operations. Launches, copies and memsets are numbered per stream and recorded in the kernel
//    DAG; a launch's accesses are speculated from its parameter buffer (params.h: 8-byte words that
//    fall inside an allocation), read-write since CUDA says nothing about direction.
//  - Capture (engine::CaptureSource). The cut is one event per stream, recorded while submissions
//    are held. Copy-on-write is stream-ordered: a copy of the blocks a launch is about to write is
//    enqueued on the launch's stream, into a shadow allocated before the cut (device to device), so
//    the application's thread is not held for the copy; without shadow room it is copied to the host
//    at once. The background capture copies into page-locked snapshots on a stream of its own.
//  - Suspend / resume / migrate. After the image is committed, gpucr releases every allocation's
//    physical memory, then has the driver checkpoint what is left of the process's CUDA state
//    (contexts, modules, streams, events: cuCheckpointProcess*, run from a helper process since a
//    process cannot lock itself). Resume restores that state, on another GPU if asked (the driver's
//    GPU remapping), maps new physical memory at the same addresses and loads the contents on
//    demand: a launch that touches an allocation not loaded yet waits for it only.
//
//   CudaCheckpoint& cp = CudaCheckpoint::Get();
//   if (!cp.enabled()) return real(...);
//   return cp.Submit(cp.QueueOf(stream, per_thread), std::move(op), [&] { return real(...); });
#pragma once

#include <cuda.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/addr_map.h"
#include "backends/cuda/params.h"
#include "backends/cuda/va_range.h"
#include "dag/agent.h"
#include "dag/dag.h"
#include "dag/engine.h"
#include "dag/restore.h"

namespace gpucr::cuda {

// One stream as gpucr numbers it. Legacy default streams are keyed by their context; per-thread
// default streams of all threads share one queue per context (gpucr cannot enqueue on another
// thread's per-thread stream: waiting for them synchronizes the context).
struct Queue {
    enum class Kind : uint8_t { kStream, kLegacy, kPerThread };
    uint64_t id = 0;
    Kind kind = Kind::kStream;
    CUcontext ctx = nullptr;
    CUstream stream = nullptr;  // what gpucr enqueues on (0 for the legacy stream)
    std::atomic<uint64_t> next_seq{0};  // the last number given out
    std::atomic<uint64_t> enqueued{0};  // every submission up to this number has reached the driver
    std::mutex mu;
    uint64_t completed = 0;  // every submission up to this number has completed
    struct Marker {
        uint64_t covers = 0;
        CUevent event = nullptr;
    };
    std::deque<Marker> markers;
};

// One device allocation (or module global) gpucr tracks.
struct Alloc {
    uint64_t id = 0;
    CUdeviceptr va = 0;
    uint64_t size = 0;       // mapped bytes (the requested size rounded up to the granularity)
    uint64_t requested = 0;  // what the application asked for
    int device = 0;          // ordinal of the GPU holding the physical memory
    CUcontext ctx = nullptr;
    CUmemGenericAllocationHandle handle = 0;
    bool mapped = false;
    bool global = false;  // a module global: the driver's memory, not released by gpucr
    std::string origin;   // "cuMemAlloc", "cuMemAllocPitch", "cuMemAllocAsync", "global <name>"
    // Copy-on-write shadows of this dump: [offset, offset + size) preserved at `dev`, ready once
    // `event` has completed.
    struct Shadow {
        uint64_t offset = 0;
        uint64_t size = 0;
        CUdeviceptr dev = 0;
        CUevent event = nullptr;
    };
    std::mutex mu;
    std::vector<Shadow> shadows;
};

struct OpDesc {
    dag::OpKind kind = dag::OpKind::kOther;
    const char* label = "";
    std::vector<dag::Access> reads;
    std::vector<dag::Access> writes;
};

class CudaCheckpoint : public engine::CaptureSource {
public:
    static CudaCheckpoint& Get();
    // False when GPUCR_DISABLE=1 or the driver could not be loaded: entry points forward untouched.
    bool enabled() const { return enabled_; }

    // Memory (application threads, inside the CUDA gate).
    CUresult Allocate(CUdeviceptr* dptr, size_t bytes, const char* origin);
    // True when `ptr` is gpucr's allocation (freed, result in *r); false: the caller forwards.
    bool Free(CUdeviceptr ptr, CUstream stream, bool stream_ordered, CUresult* r);
    void AddGlobal(CUdeviceptr ptr, size_t bytes, const char* name);
    // State gpucr cannot capture; a dump or suspend refuses while any is recorded.
    void Refuse(const std::string& what);

    // Operations.
    Queue* QueueOf(CUstream stream, bool per_thread_default);
    // The accesses of [ptr, ptr + bytes) (nothing when no tracked allocation holds it).
    void RangeAccess(CUdeviceptr ptr, uint64_t bytes, std::vector<dag::Access>& out);
    // The whole allocation holding ptr.
    void WholeAccess(CUdeviceptr ptr, std::vector<dag::Access>& out);
    // Speculated accesses of a launch (reads == writes).
    void LaunchAccesses(CUfunction f, void** params, void** extra, std::vector<dag::Access>& out);

    // Numbers a submission, lets the engine see its writes, forwards it (`call`) and records it in
    // the DAG. Its accesses (`accesses(*this, op, args)`) are worked out only when they matter: while
    // a dump runs (its writes) or contents are still loading after a resume (what to load first).
    // Otherwise the submission is numbered and forwarded: that is the whole cost of gpucr on the
    // application's launches. The engine's gate decides, so a cut never falls between the check and
    // the forward.
    using AccessFn = void (*)(CudaCheckpoint&, OpDesc&, void*);
    template <class Call>
    CUresult Submit(Queue* queue, dag::OpKind kind, const char* label, AccessFn accesses, void* args, Call&& call) {
        uint64_t seq = 0;
        if (loader_.load(std::memory_order_acquire) == nullptr) {
            auto guard = engine_.BeginNumberedSubmit(queue->id, queue->next_seq, &seq, {});
            if (!engine_.dump_active()) {
                CUresult r = call();
                Enqueued(*queue, seq, r);
                return r;
            }
            Enqueued(*queue, seq, CUDA_ERROR_NOT_READY);  // a number with nothing behind it
        }
        OpDesc op{.kind = kind, .label = label};
        accesses(*this, op, args);
        EnsureLoaded(op);
        CUresult r;
        {
            auto guard = engine_.BeginNumberedSubmit(queue->id, queue->next_seq, &seq, op.writes);
            r = call();
            Enqueued(*queue, seq, r);
        }
        if (r == CUDA_SUCCESS) Record(*queue, seq, std::move(op));
        return r;
    }

    // engine::CaptureSource
    Result<std::vector<engine::ResourceView>> SnapshotResources() override;
    Result<nlohmann::json> SnapshotObjects() override;
    std::map<dag::QueueId, uint64_t> QueueSeqs() override;
    Status WaitQueue(dag::QueueId queue, uint64_t seq) override;
    bool QueueCompleted(dag::QueueId queue, uint64_t seq) override;
    Status ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) override;
    bool PreserveRange(dag::ResourceId resource, uint64_t offset, uint64_t size, dag::QueueId queue) override;
    bool CanPreserve() const override { return true; }
    void PinHost(void* host, uint64_t size) override;
    void UnpinHost(void* host) override;

    // Agent provider entry points.
    nlohmann::json Describe();
    Result<nlohmann::json> Dump(image::ImageWriter& writer, const nlohmann::json& request,
                                const agent::ProgressFn& progress);
    Result<nlohmann::json> Suspend(image::ImageWriter& writer, const nlohmann::json& request,
                                   const agent::ProgressFn& progress);
    Result<nlohmann::json> Release();
    void CancelSuspend() noexcept;
    Result<nlohmann::json> Resume(const image::ImageReader& reader, const nlohmann::json& section,
                                  const nlohmann::json& request, const agent::ProgressFn& progress);
    bool suspended() const { return suspended_.load(); }

private:
    CudaCheckpoint();
    void Enqueued(Queue& queue, uint64_t seq, CUresult r) noexcept {
        uint64_t cur = queue.enqueued.load();
        while (seq > cur && !queue.enqueued.compare_exchange_weak(cur, seq)) {
        }
        if (r == CUDA_SUCCESS) first_op_.Record(queue.id, seq);
    }
    void Record(Queue& queue, uint64_t seq, OpDesc op);
    // Waits until everything submitted before the last barrier (SnapshotResources: the start of
    // tracking, the cut) has completed: work older than the dump is not in the DAG.
    Status WaitBarrier();
    void RegisterProvider();
    bool EnsureRange(CUcontext ctx);
    uint64_t Granularity(int device);
    CUresult MapPhysical(Alloc& a, int device);
    void UnmapPhysical(Alloc& a);
    Alloc* FindAlloc(uint64_t id);
    Queue* FindQueue(uint64_t id);
    CUstream CaptureStream(CUcontext ctx);
    Status CheckSupported();
    Status AllocateShadows();
    void FreeShadows();
    void EnsureLoaded(const OpDesc& op);
    Status DrainAll();
    Status LoadPiece(const restore::Item& item, size_t piece, const image::ImageReader& reader);
    const ParamLayout& LayoutOf(CUfunction f);

    bool enabled_ = false;
    dag::Dag dag_;
    engine::CheckpointEngine engine_;

    // Memory: allocations by id and by address.
    mutable std::shared_mutex mem_mu_;
    AddrMap map_;
    std::unordered_map<uint64_t, std::unique_ptr<Alloc>> allocs_;
    VaRange va_;
    CUdeviceptr va_base_ = 0;
    bool va_failed_ = false;
    std::map<int, uint64_t> granularity_;
    uint64_t next_id_ = 1;
    CUcontext main_ctx_ = nullptr;  // the context of the first allocation: gpucr's own calls use it
    std::vector<std::string> refusals_;

    // Streams.
    std::shared_mutex queues_mu_;
    std::unordered_map<uint64_t, std::unique_ptr<Queue>> queues_;
    std::mutex capture_mu_;
    std::map<CUcontext, CUstream> capture_streams_;
    std::mutex barrier_mu_;
    std::map<uint64_t, uint64_t> barrier_;  // queue -> number

    // Parameter layouts by function handle.
    std::shared_mutex layouts_mu_;
    std::unordered_map<CUfunction, ParamLayout> layouts_;
    std::atomic<uint64_t> launches_{0};
    std::atomic<uint64_t> launches_unknown_{0};
    std::atomic<uint64_t> pointer_hits_{0};

    // Copy-on-write shadow pools (one per context, for the length of a dump).
    struct Pool {  // one piece of shadow memory
        CUcontext ctx = nullptr;
        CUdeviceptr base = 0;
        uint64_t size = 0;
        std::atomic<uint64_t> used{0};
    };
    std::mutex pools_mu_;
    std::vector<std::unique_ptr<Pool>> pools_;
    std::atomic<uint64_t> shadow_bytes_{0};
    std::atomic<uint64_t> shadow_fallbacks_{0};
    std::mutex pinned_mu_;
    std::map<void*, std::vector<void*>> pinned_;  // snapshot -> its page-locked pieces
    std::map<uintptr_t, uintptr_t> pinned_pieces_;  // start -> end of every page-locked piece
    // The end of the page-locked piece holding `p` (a copy must not run past it: the driver refuses
    // a copy into two registrations), or 0 when `p` is in none.
    uintptr_t PinnedPieceEnd(const void* p);

    // Suspend and resume.
    std::atomic<bool> suspended_{false};
    bool held_ = false;
    int64_t held_since_ns_ = 0;
    std::vector<uint64_t> released_;  // allocations whose contents come from the image
    nlohmann::json driver_checkpoint_ = nullptr;  // what the driver's checkpoint did at release
    std::vector<std::string> device_uuids_;        // by ordinal, read before the release
    std::atomic<restore::Loader*> loader_{nullptr};
    std::unique_ptr<restore::Loader> loader_owner_;
    restore::FirstOpWatch first_op_;
    CUstream load_stream_ = nullptr;
    void* load_staging_ = nullptr;
};

// Converts a CUresult into a Status naming what failed.
Status CuStatus(CUresult r, const std::string& what);

}  // namespace gpucr::cuda
