// cl_checkpoint.h — OpenCL's side of a checkpoint: what the engine sees of OpenCL state.
//
// One OpenClCheckpoint per process: one engine over the process's kernel DAG (cl_dag.h), so a
// dump has one cut across every command queue of every context and platform. The shim's enqueue
// hooks bracket each enqueue with Begin (before the real call: numbers it, hands its writes to the
// engine, holds the cut out) and End (after it: records the op). Completion of a queue's commands
// up to a number is learnt from a marker the checkpoint enqueues itself, when it needs to know, so
// an enqueue costs no event. Memory is read through the ICD (clEnqueueReadBuffer on a queue of the
// checkpoint's own, one per context, for the length of a dump).
//
//   OpenClCheckpoint& cp = OpenClCheckpoint::Get();
//   cp.Begin(queue, std::move(op), extra_writes);   // PreCall of clEnqueue*
//   ... real enqueue ...
//   cp.End(queue, result, event, waits);            // PostCall
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "backends/opencl/cl_access.h"
#include "dag/engine.h"
#include "dag/restore.h"
#include "layers/opencl/object_types.h"

namespace gpucr::cl {

// What capture and loading need of a memory object, read under the table's lock (nullopt: no live
// memory object has this id).
struct MemInfo {
    void* real = nullptr;
    uint64_t context = 0;  // the context's id
    MemKind kind = MemKind::kOther;
    std::array<size_t, 3> region{};  // images: the region of the whole image
    uint64_t bytes = 0;              // buffers: the size; images: the elements packed without padding
};
std::optional<MemInfo> MemInfoOf(uint64_t id);

class OpenClCheckpoint : public engine::CaptureSource {
public:
    static OpenClCheckpoint& Get();

    // Around one enqueue on `queue`, on the application's thread; never throw. `extra_writes` are
    // writes the engine must see that the op does not carry: a map for writing hands the mapped
    // range to the host, which writes it before the unmap (the op that carries the write).
    void Begin(Object* queue, OpBuilder op, std::span<const dag::Access> extra_writes = {}) noexcept;
    void End(Object* queue, cl_int result, const cl_event* event, cl_uint num_waits, const cl_event* waits) noexcept;

    // engine::CaptureSource
    Result<std::vector<engine::ResourceView>> SnapshotResources() override;
    Result<nlohmann::json> SnapshotObjects() override;
    std::map<dag::QueueId, uint64_t> QueueSeqs() override;
    Status WaitQueue(dag::QueueId queue, uint64_t seq) override;
    bool QueueCompleted(dag::QueueId queue, uint64_t seq) override;
    Status ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) override;

    Result<nlohmann::json> Dump(image::ImageWriter& writer, const nlohmann::json& request,
                                const agent::ProgressFn& progress);
    // Memory objects with a mapping open now ("cl_mem 12 (clEnqueueMapBuffer)"), for refusals.
    std::vector<std::string> OpenMappings() const;

    engine::CheckpointEngine& engine() { return engine_; }

    // Suspend, resume, migrate (cl_suspend.cpp), as for Vulkan (backends/vulkan/vk_checkpoint.h):
    // Suspend captures the state at the moment the application stops and holds its OpenCL calls at
    // the gate (layers/opencl/gate.h); Release, once the image is committed, releases every real
    // object (cl_recreate.h), CancelSuspend lets the application go on instead; Resume creates
    // everything again, on the same device or another one (another platform too), and lets the
    // application through while buffer contents load in the background, those an enqueue needs first.
    Result<nlohmann::json> Suspend(image::ImageWriter& writer, const nlohmann::json& request,
                                   const agent::ProgressFn& progress);
    Result<nlohmann::json> Release();
    void CancelSuspend() noexcept;
    Result<nlohmann::json> Resume(const image::ImageReader& reader, const nlohmann::json& section,
                                  const nlohmann::json& request, const agent::ProgressFn& progress);
    bool suspended() const { return suspended_.load(); }
    // Before an enqueue after a resume: waits until the contents it touches are loaded.
    void EnsureLoaded(std::span<const dag::ResourceId> ids) noexcept;

private:
    OpenClCheckpoint();

    // What the checkpoint knows of one command queue.
    struct QueueState {
        std::mutex mu;
        uint64_t next_seq = 0;        // last number handed out
        std::set<uint64_t> inflight;  // numbered, real enqueue not yet returned
        uint64_t completed = 0;       // every command up to here has completed
        cl_event marker = nullptr;    // real marker event, covering commands up to marker_seq
        uint64_t marker_seq = 0;
        const cl_icd_dispatch* next = nullptr;  // the real ICD's table, for the marker's release
    };
    std::shared_ptr<QueueState> StateOf(uint64_t queue_id, bool create);
    // Whether commands of `queue_id` up to `seq` have completed; enqueues a marker when needed.
    Result<bool> Poll(uint64_t queue_id, uint64_t seq);
    Status CheckSupported();
    void EndDump() noexcept;
    Status DrainQueues();
    Status LoadResource(const restore::Item& item, size_t piece, const image::ImageReader& reader);

    engine::CheckpointEngine engine_;
    mutable std::mutex mu_;
    std::map<uint64_t, std::shared_ptr<QueueState>> queues_;  // by queue id
    // The checkpoint's own queues, by context id, while a dump runs.
    struct Reader {
        cl_command_queue queue = nullptr;
        const cl_icd_dispatch* next = nullptr;
    };
    std::map<uint64_t, Reader> readers_;
    Result<Reader> ReaderFor(uint64_t context_id);

    std::atomic<bool> suspended_{false};
    bool held_ = false;  // suspended into an image not yet committed
    int64_t held_since_ns_ = 0;
    std::vector<uint64_t> captured_;                  // buffers in the suspend image
    std::vector<uint64_t> released_;                  // buffers whose contents come from the image
    std::atomic<restore::Loader*> loader_{nullptr};   // set while contents load after a resume
    std::unique_ptr<restore::Loader> loader_owner_;   // kept until the next suspend
    restore::FirstOpWatch first_op_;                  // after a resume
};

}  // namespace gpucr::cl
