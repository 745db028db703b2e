// engine.h — the checkpoint engine: a consistent cut, soft copy-on-write, soft dirty bits.
//
// Vendor-neutral. A front-end gives the engine a CaptureSource (its view of resources and
// queues) and calls two hooks from the application's threads: BeginSubmit() around every
// submission (with the resources it will write) and BeforeRelease() before a resource's
// memory goes away. Dump() then captures every resource as it was at one cut across all
// queues, in one of three modes:
//   cow   — the cut is taken at once; a background copier captures resources while the
//           application runs; a submission that would write a block not yet captured first
//           copies that block (soft copy-on-write); mapped memory is write-protected and
//           copied on the first host write.
//   dirty — everything is copied while the application runs; writes after a block's copy
//           mark it dirty (submissions, host faults); rounds repeat while the dirty set
//           shrinks, then a short final stop re-copies what is still dirty.
//   stop  — stop-the-world baseline: submissions are held, queues drained, everything
//           captured and written, then the application continues.
// Every hold of an application thread is measured (per thread: total and longest).
//
//   engine::CheckpointEngine engine(dag, source);
//   { auto guard = engine.BeginSubmit(queue, seq, writes); driver_submit(); }
//   GPUCR_ASSIGN_OR_RETURN(auto section, engine.Dump(writer, {.mode = engine::Mode::kCow}, progress));
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "dag/agent.h"
#include "dag/dag.h"
#include "dag/image.h"
#include "dag/status.h"

namespace gpucr::engine {

enum class Mode { kCow, kDirty, kStop };
Result<Mode> ParseMode(const std::string& s);
const char* ModeName(Mode mode);

inline constexpr uint64_t kBlockSize = 64 << 10;

struct DumpOptions {
    Mode mode = Mode::kCow;
    // Priority of the background capture threads: nice value 0..19, or 20 for SCHED_IDLE.
    // Where the device is the CPU (lavapipe), higher values shorten the application's stall
    // and lengthen the dump.
    int background_nice = 10;
    // Dirty mode: called just before the final stop (suspend closes its gate there, so that
    // the image shows the moment the application stops). A failure fails the dump.
    std::function<Status()> before_final_stop;
};
// Reads "mode" and "background" ("normal" | "low" | "idle") from a dump request.
Result<DumpOptions> ParseDumpOptions(const nlohmann::json& request);  // capture granularity (a multiple of the page size)

// A resource as the engine sees it: bytes with a stable host view.
struct ResourceView {
    dag::ResourceId id = 0;
    uint64_t size = 0;
    uint8_t* host = nullptr;   // page-aligned host view of the bytes, valid until BeforeRelease;
                               // null: read through CaptureSource::ReadRange
    bool host_mapped = false;  // the application holds a CPU mapping: host writes must be caught
    nlohmann::json info;       // API description, copied into the image's resource entry
};

class CaptureSource {
public:
    virtual ~CaptureSource() = default;
    // Called with every submission held: the resources and objects that exist now.
    virtual Result<std::vector<ResourceView>> SnapshotResources() = 0;
    // {"devices": [...], "objects": [...]} for the image, at the same instant.
    virtual Result<nlohmann::json> SnapshotObjects() = 0;
    // Current submission sequence number of every queue (the cut).
    virtual std::map<dag::QueueId, uint64_t> QueueSeqs() = 0;
    // Blocks until `queue` has completed submissions up to `seq` (fails after a timeout).
    virtual Status WaitQueue(dag::QueueId queue, uint64_t seq) = 0;
    // Whether `queue` has completed submissions up to `seq`, without waiting.
    virtual bool QueueCompleted(dag::QueueId queue, uint64_t seq) { return WaitQueue(queue, seq).ok(); }
    // Copies bytes of a resource that has no host view (e.g. device-local memory) into `dst`.
    virtual Status ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) {
        return Unsupported("resource " + std::to_string(resource) + " has no host view to capture from");
    }
    // Optional, after the cut, on the application's thread just before a submission on `queue`
    // writes bytes [offset, offset + size) not captured yet: preserves them as they will be when
    // the queue reaches that submission, without waiting for the device (e.g. a device-to-device
    // copy into a shadow, enqueued on the queue ahead of the write). ReadRange later returns the
    // preserved bytes. False: not possible (no shadow memory left, say): the engine copies now.
    virtual bool PreserveRange(dag::ResourceId resource, uint64_t offset, uint64_t size, dag::QueueId queue) {
        return false;
    }
    // Whether PreserveRange can ever succeed; false: copy-on-write copies at once (CaptureRange).
    virtual bool CanPreserve() const { return false; }
    // Optional: called with each snapshot buffer (page-aligned host memory the engine captures
    // into) before the cut, so that the device can copy into it directly (page-locking it, say),
    // and before it is freed.
    virtual void PinHost(void* host, uint64_t size) {}
    virtual void UnpinHost(void* host) {}
};

// Per-thread hold accounting.
struct HoldStats {
    double total_ms = 0;
    double max_ms = 0;
    uint64_t holds = 0;
};

class CheckpointEngine {
public:
    CheckpointEngine(dag::Dag& dag, CaptureSource& source);
    ~CheckpointEngine();
    CheckpointEngine(const CheckpointEngine&) = delete;
    CheckpointEngine& operator=(const CheckpointEngine&) = delete;

    // Held for the duration of one submission: the cut never falls inside it.
    class SubmitGuard {
    public:
        SubmitGuard(SubmitGuard&&) = default;
        ~SubmitGuard() = default;
    private:
        friend class CheckpointEngine;
        explicit SubmitGuard(std::shared_mutex& gate) : lock_(gate) {}
        std::shared_lock<std::shared_mutex> lock_;
    };
    // Call before handing a submission to the driver; `seq` is the number it will carry on
    // `queue`. Copies (cow) or marks (dirty) the blocks it writes; in stop mode it waits.
    SubmitGuard BeginSubmit(dag::QueueId queue, uint64_t seq, std::span<const dag::Access> writes);
    // The same, numbering the submission inside the guard (*seq = ++counter), so that a cut never
    // sees a number whose submission has not reached the driver yet.
    SubmitGuard BeginNumberedSubmit(dag::QueueId queue, std::atomic<uint64_t>& counter, uint64_t* seq,
                                    std::span<const dag::Access> writes);
    // Call before a resource's memory is freed or unmapped for good: captures what is left.
    void BeforeRelease(dag::ResourceId resource);
    // Call when the application maps a resource during a dump.
    void OnMap(dag::ResourceId resource);

    // Runs a dump to completion; returns the API section's "cut", "resources", "dag" and
    // "stats" (the caller adds devices and objects from SnapshotObjects, already included).
    Result<nlohmann::json> Dump(image::ImageWriter& writer, const DumpOptions& options, const agent::ProgressFn& progress);
    bool dump_active() const { return active_.load() != nullptr; }

    struct DumpState;
    struct Res;
    void RecordHold(double ms);

private:
    Status RunCow(DumpState& st, image::ImageWriter& writer);
    Status RunDirty(DumpState& st, image::ImageWriter& writer);
    Status RunStop(DumpState& st, image::ImageWriter& writer);
    Status TakeCut(DumpState& st, bool wait_all);
    Status CaptureRange(DumpState& st, Res& r, size_t b0, size_t b1);
    Status PreserveRange(DumpState& st, Res& r, size_t b0, size_t b1, dag::QueueId queue);
    void MarkWrites(DumpState* st, dag::QueueId queue, uint64_t seq, std::span<const dag::Access> writes);
    Status CopyOut(Res& r, uint64_t offset, uint64_t len);
    Status EnsurePendingDone(DumpState& st, Res& r);
    Status WriteAll(DumpState& st, image::ImageWriter& writer, bool from_live);
    Status CopyRound(DumpState& st, bool only_dirty, uint64_t* copied);
    void Finish(DumpState& st);
    nlohmann::json StatsJson(const DumpState& st) const;

    dag::Dag& dag_;
    CaptureSource& source_;
    std::shared_mutex gate_;
    std::atomic<DumpState*> active_{nullptr};
    std::mutex dump_mu_;

    std::mutex holds_mu_;
    std::map<int, HoldStats> holds_;  // tid -> stats, reset per dump
};

}  // namespace gpucr::engine
