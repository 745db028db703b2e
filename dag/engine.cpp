#include "dag/engine.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "dag/host_guard.h"
#include "dag/log.h"

namespace gpucr::engine {
namespace {

constexpr uint8_t kNeed = 0;      // not captured (or dirty)
constexpr uint8_t kCopying = 1;   // a copy is in progress
constexpr uint8_t kDone = 2;      // captured in the snapshot
constexpr uint8_t kDirtied = 3;   // written while being copied: copy again
constexpr uint8_t kShadow = 4;    // preserved by the source (CaptureSource::PreserveRange), to be copied

constexpr int kPhasePrep = 0;   // snapshots allocated, nothing tracked yet
constexpr int kPhaseTrack = 1;  // dirty mode pre-copy: writes mark blocks dirty
constexpr int kPhaseCut = 2;    // the cut is taken: writes copy first
constexpr int kPhaseDone = 3;   // everything is captured: writes proceed untouched

constexpr uint64_t kPage = 4096;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t NowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Test hook: GPUCR_TEST_DELAY_AFTER_CUT_MS holds the background copier after the cut (cow) or
// after each pre-copy round (dirty), so tests can make the application write during a dump.
void TestDelay() {
    static const int ms = [] {
        const char* v = std::getenv("GPUCR_TEST_DELAY_AFTER_CUT_MS");
        return v ? std::atoi(v) : 0;
    }();
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Waits a little for another thread's copy; async-signal-safe. Sleeping rather than spinning
// lets a low-priority copier run on a busy machine.
void Backoff(int& spins) {
    if (++spins < 64) {
        sched_yield();
        return;
    }
    timespec ts{0, 20000};
    nanosleep(&ts, nullptr);
}

// Background capture threads run at a lower priority so that, where the device is the CPU
// itself (lavapipe), they leave the processors to the application. `nice` 1..19 lowers the
// thread's nice value; 20 means SCHED_IDLE (only otherwise idle processors; nice 19 where
// that is refused); 0 changes nothing. Restored on scope exit.
class ScopedBackground {
public:
    explicit ScopedBackground(int nice) {
        if (nice <= 0) return;
        tid_ = static_cast<int>(syscall(SYS_gettid));
        if (nice >= 20 && pthread_getschedparam(pthread_self(), &old_policy_, &old_param_) == 0) {
            sched_param idle{};
            if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) == 0) {
                idle_ = true;
                return;
            }
        }
        errno = 0;
        old_ = getpriority(PRIO_PROCESS, tid_);
        if (errno == 0 && setpriority(PRIO_PROCESS, tid_, std::min(nice, 19)) == 0) niced_ = true;
    }
    ~ScopedBackground() {
        if (idle_) pthread_setschedparam(pthread_self(), old_policy_, &old_param_);
        if (niced_) setpriority(PRIO_PROCESS, tid_, old_);
    }
    ScopedBackground(const ScopedBackground&) = delete;
    ScopedBackground& operator=(const ScopedBackground&) = delete;

private:
    int tid_ = 0;
    int old_ = 0;
    int old_policy_ = SCHED_OTHER;
    sched_param old_param_{};
    bool idle_ = false;
    bool niced_ = false;
};

void AtomicMax(std::atomic<uint64_t>& a, uint64_t v) {
    uint64_t cur = a.load();
    while (v > cur && !a.compare_exchange_weak(cur, v)) {
    }
}

}  // namespace

Result<Mode> ParseMode(const std::string& s) {
    if (s == "cow") return Mode::kCow;
    if (s == "dirty") return Mode::kDirty;
    if (s == "stop") return Mode::kStop;
    return InvalidArgument("unknown dump mode '" + s + "' (cow, dirty or stop)");
}

Result<DumpOptions> ParseDumpOptions(const nlohmann::json& request) {
    DumpOptions o;
    GPUCR_ASSIGN_OR_RETURN(o.mode, ParseMode(request.value("mode", std::string("cow"))));
    const std::string bg = request.value("background", std::string("low"));
    if (bg == "normal") {
        o.background_nice = 0;
    } else if (bg == "low") {
        o.background_nice = 10;
    } else if (bg == "idle") {
        o.background_nice = 20;
    } else {
        return InvalidArgument("unknown background priority '" + bg + "' (normal, low or idle)");
    }
    return o;
}

const char* ModeName(Mode mode) {
    switch (mode) {
        case Mode::kCow: return "cow";
        case Mode::kDirty: return "dirty";
        case Mode::kStop: return "stop";
    }
    return "cow";
}

struct CheckpointEngine::Res {
    ResourceView view;
    DumpState* owner = nullptr;
    size_t nblocks = 0;
    std::unique_ptr<std::atomic<uint8_t>[]> state;
    uint8_t* snap = nullptr;
    uint64_t snap_size = 0;
    std::mutex mu;                               // orders dirty marking against the copier
    std::map<dag::QueueId, uint64_t> writes;     // writes to wait for before copying
    bool pending_done = false;
    int guard_slot = -1;
    bool released = false;
    CaptureSource* pinned_by = nullptr;  // the snapshot is page-locked by this source
    std::vector<image::ChunkRef> chunks;

    ~Res() {
        if (pinned_by != nullptr) pinned_by->UnpinHost(snap);
        if (snap != nullptr) munmap(snap, snap_size);
    }
    uint64_t BlockLen(size_t b) const { return std::min<uint64_t>(kBlockSize, view.size - b * kBlockSize); }
    uint64_t ProtLen(size_t b) const { return RoundUp(BlockLen(b), kPage); }
};

struct CheckpointEngine::DumpState {
    Mode mode = Mode::kCow;
    int background_nice = 10;
    std::function<Status()> before_final_stop;
    std::atomic<int> phase{kPhasePrep};
    std::vector<std::unique_ptr<Res>> res;
    std::unordered_map<dag::ResourceId, Res*> by_id;
    std::map<dag::QueueId, uint64_t> cut;
    nlohmann::json objects;
    agent::ProgressFn progress;
    uint64_t total_bytes = 0;
    std::atomic<uint64_t> done_bytes{0};
    std::atomic<uint64_t> cow_blocks{0};
    std::atomic<uint64_t> fault_blocks{0};
    std::atomic<uint64_t> fault_ns_total{0};
    std::atomic<uint64_t> fault_ns_max{0};
    std::atomic<uint64_t> faults{0};
    uint64_t rounds = 0;
    uint64_t final_recopied = 0;
    double capture_ms = 0;          // cut to every block captured in memory
    std::vector<uint64_t> dirty_per_round;
    double cut_hold_ms = 0;
    double final_stop_ms = 0;
    uint64_t t_start_ns = 0;
    uint64_t t_cut_ns = 0;
    bool failed = false;
    std::atomic<bool> abort{false};
};

namespace {

// A resource's capture state, with a snapshot buffer when `snapshot` (pre-populated when
// `populate`, so that copies into it run at memcpy speed).
Result<std::unique_ptr<CheckpointEngine::Res>> NewRes(CheckpointEngine::DumpState* st, ResourceView view,
                                                       bool snapshot, bool populate) {
    auto r = std::make_unique<CheckpointEngine::Res>();
    r->owner = st;
    r->nblocks = (view.size + kBlockSize - 1) / kBlockSize;
    r->state = std::make_unique<std::atomic<uint8_t>[]>(r->nblocks);
    r->snap_size = RoundUp(std::max<uint64_t>(view.size, 1), kPage);
    if (snapshot) {
        void* p = mmap(nullptr, r->snap_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
        if (p == MAP_FAILED) return ErrnoError("allocating the snapshot buffer", errno);
        r->snap = static_cast<uint8_t*>(p);
    }
    r->view = std::move(view);
    return r;
}

// Runs in the faulting thread, in signal context: atomics, memcpy and mprotect only.
void OnHostFault(void* ctx, uint64_t offset) {
    auto* r = static_cast<CheckpointEngine::Res*>(ctx);
    const uint64_t t0 = NowNs();
    const size_t b = offset / kBlockSize;
    if (b >= r->nblocks) {
        hostguard::SetWritableRaw(r->view.host + (offset & ~(kPage - 1)), kPage, true);
        return;
    }
    std::atomic<uint8_t>& s = r->state[b];
    const bool cut = r->owner->phase.load() == kPhaseCut;
    int spins = 0;
    for (;;) {
        uint8_t v = s.load();
        if (cut) {
            if (v == kNeed) {
                if (!s.compare_exchange_strong(v, kCopying)) continue;
                std::memcpy(r->snap + b * kBlockSize, r->view.host + b * kBlockSize, r->BlockLen(b));
                s.store(kDone);
                r->owner->fault_blocks.fetch_add(1);
                break;
            }
            if (v == kCopying) {
                Backoff(spins);
                continue;
            }
            break;
        }
        // Tracking: the block becomes dirty.
        if (v == kDone && !s.compare_exchange_strong(v, kNeed)) continue;
        if (v == kCopying && !s.compare_exchange_strong(v, kDirtied)) continue;
        break;
    }
    hostguard::SetWritableRaw(r->view.host + b * kBlockSize, r->ProtLen(b), true);
    const uint64_t dt = NowNs() - t0;
    r->owner->faults.fetch_add(1);
    r->owner->fault_ns_total.fetch_add(dt);
    AtomicMax(r->owner->fault_ns_max, dt);
}

}  // namespace

CheckpointEngine::CheckpointEngine(dag::Dag& dag, CaptureSource& source) : dag_(dag), source_(source) {}
CheckpointEngine::~CheckpointEngine() = default;

void CheckpointEngine::RecordHold(double ms) {
    const int tid = static_cast<int>(syscall(SYS_gettid));
    std::lock_guard lock(holds_mu_);
    HoldStats& h = holds_[tid];
    h.total_ms += ms;
    h.max_ms = std::max(h.max_ms, ms);
    h.holds++;
}

CheckpointEngine::SubmitGuard CheckpointEngine::BeginSubmit(dag::QueueId queue, uint64_t seq,
                                                            std::span<const dag::Access> writes) {
    const bool was_active = active_.load() != nullptr;
    const auto t0 = std::chrono::steady_clock::now();
    SubmitGuard guard(gate_);
    DumpState* st = active_.load();
    MarkWrites(st, queue, seq, writes);
    if (was_active || st != nullptr) {
        RecordHold(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return guard;
}

CheckpointEngine::SubmitGuard CheckpointEngine::BeginNumberedSubmit(dag::QueueId queue, std::atomic<uint64_t>& counter,
                                                                    uint64_t* seq,
                                                                    std::span<const dag::Access> writes) {
    const bool was_active = active_.load() != nullptr;
    const auto t0 = std::chrono::steady_clock::now();
    SubmitGuard guard(gate_);
    *seq = counter.fetch_add(1) + 1;
    DumpState* st = active_.load();
    MarkWrites(st, queue, *seq, writes);
    if (was_active || st != nullptr) {
        RecordHold(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return guard;
}

// With the gate held shared: copies (cow) or marks (dirty) the blocks a submission writes.
void CheckpointEngine::MarkWrites(DumpState* st, dag::QueueId queue, uint64_t seq, std::span<const dag::Access> writes) {
    if (st == nullptr) return;
    {
        const int phase = st->phase.load();
        for (const dag::Access& w : writes) {
            auto it = st->by_id.find(w.resource);
            if (it == st->by_id.end()) continue;
            Res& r = *it->second;
            if (r.view.size == 0 || r.snap == nullptr) continue;
            const uint64_t begin = std::min(w.offset, r.view.size);
            const uint64_t end = w.size == dag::kWholeSize ? r.view.size : std::min(r.view.size, w.offset + w.size);
            if (end <= begin) continue;
            const size_t b0 = begin / kBlockSize;
            const size_t b1 = (end + kBlockSize - 1) / kBlockSize;
            if (phase == kPhaseCut) {
                size_t pending = 0;
                for (size_t b = b0; b < b1; ++b) {
                    const uint8_t v = r.state[b].load();
                    pending += v != kDone && v != kShadow;
                }
                if (pending == 0) continue;
                Status s = source_.CanPreserve() ? PreserveRange(*st, r, b0, b1, queue) : CaptureRange(*st, r, b0, b1);
                if (!s.ok()) {
                    GPUCR_LOG_ERROR("engine", "copy-on-write of resource {} failed: {}", r.view.id, s.message());
                    st->failed = true;
                }
                st->cow_blocks.fetch_add(pending);
            } else if (phase == kPhaseTrack) {
                std::lock_guard lock(r.mu);
                for (size_t b = b0; b < b1; ++b) {
                    uint8_t v = r.state[b].load();
                    while (true) {
                        if (v == kDone && r.state[b].compare_exchange_weak(v, kNeed)) break;
                        if (v == kCopying && r.state[b].compare_exchange_weak(v, kDirtied)) break;
                        if (v == kNeed || v == kDirtied) break;
                    }
                }
                uint64_t& q = r.writes[queue];
                q = std::max(q, seq);
            }
        }
    }
}

void CheckpointEngine::BeforeRelease(dag::ResourceId resource) {
    if (active_.load() == nullptr) return;
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_lock lock(gate_);
    DumpState* st = active_.load();
    if (st == nullptr) return;
    auto it = st->by_id.find(resource);
    if (it == st->by_id.end()) return;
    Res& r = *it->second;
    if (st->phase.load() == kPhaseCut) {
        if (!CaptureRange(*st, r, 0, r.nblocks).ok()) st->failed = true;
    } else {
        // Before the cut the resource simply leaves the image; wait out a copy in flight.
        std::lock_guard rl(r.mu);
        for (size_t b = 0; b < r.nblocks; ++b) {
            int spins = 0;
            while (r.state[b].load() == kCopying || r.state[b].load() == kDirtied) Backoff(spins);
        }
        r.released = true;
    }
    if (r.guard_slot >= 0) {
        hostguard::RemoveRange(r.guard_slot);
        r.guard_slot = -1;
        hostguard::SetWritableRaw(r.view.host, RoundUp(r.view.size, kPage), true);
    }
    r.view.host = nullptr;
    RecordHold(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

void CheckpointEngine::OnMap(dag::ResourceId resource) {
    if (active_.load() == nullptr) return;
    std::shared_lock lock(gate_);
    DumpState* st = active_.load();
    if (st == nullptr || st->phase.load() == kPhasePrep) return;
    auto it = st->by_id.find(resource);
    if (it == st->by_id.end() || it->second->guard_slot >= 0) return;
    Res& r = *it->second;
    if (!EnsurePendingDone(*st, r).ok()) {
        st->failed = true;
        return;
    }
    r.view.host_mapped = true;
    r.guard_slot = hostguard::AddRange(r.view.host, RoundUp(r.view.size, kPage), &OnHostFault, &r);
    if (r.guard_slot < 0) {
        st->failed = true;
        return;
    }
    for (size_t b = 0; b < r.nblocks; ++b) {
        if (r.state[b].load() != kDone) hostguard::SetWritableRaw(r.view.host + b * kBlockSize, r.ProtLen(b), false);
    }
}

Status CheckpointEngine::EnsurePendingDone(DumpState& st, Res& r) {
    std::map<dag::QueueId, uint64_t> waits;
    {
        std::lock_guard lock(r.mu);
        if (r.pending_done) return Status::Ok();
        waits = r.writes;
    }
    for (const auto& [queue, seq] : waits) GPUCR_RETURN_IF_ERROR(source_.WaitQueue(queue, seq));
    if (st.phase.load() == kPhaseCut) {
        std::lock_guard lock(r.mu);
        r.pending_done = true;
    }
    return Status::Ok();
}

// Copies bytes [offset, offset + len) of a resource into its snapshot: from the host view,
// or through the API (a device-to-host copy) where the resource has none.
Status CheckpointEngine::CopyOut(Res& r, uint64_t offset, uint64_t len) {
    if (r.view.host != nullptr) {
        std::memcpy(r.snap + offset, r.view.host + offset, len);
        return Status::Ok();
    }
    return source_.ReadRange(r.view.id, offset, len, r.snap + offset);
}

// Cut semantics: captures blocks [b0, b1) unless captured, copying each run of blocks this
// thread claims in one piece; safe against concurrent captures and host-write faults.
Status CheckpointEngine::CaptureRange(DumpState& st, Res& r, size_t b0, size_t b1) {
    b1 = std::min(b1, r.nblocks);
    bool all_done = true;
    for (size_t b = b0; b < b1 && all_done; ++b) all_done = r.state[b].load() == kDone;
    if (all_done) return Status::Ok();
    // Pre-cut writes must land before the copy; waiting with the blocks unclaimed keeps
    // faulting host writers free to proceed.
    GPUCR_RETURN_IF_ERROR(EnsurePendingDone(st, r));
    // A run is all kNeed or all kShadow (preserved blocks are read from the source's shadow and
    // must not fall back to kNeed, whose bytes may since have been overwritten).
    auto claim = [&](size_t b, uint8_t from) {
        uint8_t v = from;
        return r.state[b].compare_exchange_strong(v, kCopying);
    };
    for (size_t b = b0; b < b1;) {
        uint8_t from = r.state[b].load();
        if ((from != kNeed && from != kShadow) || !claim(b, from)) {
            ++b;
            continue;
        }
        size_t e = b + 1;
        while (e < b1 && claim(e, from)) ++e;
        const uint64_t off = b * kBlockSize;
        const uint64_t len = std::min<uint64_t>(e * kBlockSize, r.view.size) - off;
        Status s = CopyOut(r, off, len);
        for (size_t k = b; k < e; ++k) r.state[k].store(s.ok() ? kDone : from);
        GPUCR_RETURN_IF_ERROR(s);
        if (r.guard_slot >= 0) hostguard::SetWritableRaw(r.view.host + off, RoundUp(len, kPage), true);
        b = e;
    }
    // Blocks another thread (or a fault handler) is copying.
    for (size_t b = b0; b < b1; ++b) {
        int spins = 0;
        for (uint8_t v = r.state[b].load(); v != kDone; v = r.state[b].load()) {
            if (v == kNeed) return CaptureRange(st, r, b, b1);  // the other copy failed: try ourselves
            Backoff(spins);
        }
    }
    return Status::Ok();
}

// Copy-on-write of blocks [b0, b1) ahead of a submission on `queue`: each run of blocks this
// thread claims is preserved by the source in the queue's order (no wait for the device), or
// copied now where the source cannot; blocks another thread is copying are waited for.
Status CheckpointEngine::PreserveRange(DumpState& st, Res& r, size_t b0, size_t b1, dag::QueueId queue) {
    b1 = std::min(b1, r.nblocks);
    auto claim = [&](size_t b) {
        uint8_t v = kNeed;
        return r.state[b].compare_exchange_strong(v, kCopying);
    };
    for (size_t b = b0; b < b1;) {
        if (!claim(b)) {
            ++b;
            continue;
        }
        size_t e = b + 1;
        while (e < b1 && claim(e)) ++e;
        const uint64_t off = b * kBlockSize;
        const uint64_t len = std::min<uint64_t>(e * kBlockSize, r.view.size) - off;
        if (source_.PreserveRange(r.view.id, off, len, queue)) {
            for (size_t k = b; k < e; ++k) r.state[k].store(kShadow);
        } else {
            for (size_t k = b; k < e; ++k) r.state[k].store(kNeed);
            GPUCR_RETURN_IF_ERROR(CaptureRange(st, r, b, e));
        }
        b = e;
    }
    for (size_t b = b0; b < b1; ++b) {
        int spins = 0;
        for (uint8_t v = r.state[b].load(); v != kDone && v != kShadow; v = r.state[b].load()) {
            if (v == kNeed || v == kShadow) return CaptureRange(st, r, b, b1);  // the other copy failed
            Backoff(spins);
        }
    }
    return Status::Ok();
}

Status CheckpointEngine::TakeCut(DumpState& st, bool wait_all) {
    // Called with gate_ held exclusively.
    st.t_cut_ns = NowNs();
    st.cut = source_.QueueSeqs();
    GPUCR_ASSIGN_OR_RETURN(st.objects, source_.SnapshotObjects());
    GPUCR_ASSIGN_OR_RETURN(std::vector<ResourceView> views, source_.SnapshotResources());
    std::unordered_map<dag::ResourceId, Res*> keep;
    std::vector<std::unique_ptr<Res>> kept;
    for (ResourceView& v : views) {
        auto it = st.by_id.find(v.id);
        std::unique_ptr<Res> r;
        if (it != st.by_id.end()) {
            for (auto& p : st.res) {
                if (p.get() == it->second) r = std::move(p);
            }
        }
        if (!r || r->released || r->view.size != v.size) {
            // Stop mode reads memory without a host view chunk by chunk through a staging buffer
            // (WriteAll): no snapshot of it.
            GPUCR_ASSIGN_OR_RETURN(r, NewRes(&st, v, st.mode != Mode::kStop || v.host_mapped, false));
        }
        r->view = std::move(v);
        if (st.mode != Mode::kDirty) {
            r->writes = dag_.LastWrites(r->view.id);
        }
        keep[r->view.id] = r.get();
        kept.push_back(std::move(r));
    }
    st.res = std::move(kept);
    st.by_id = std::move(keep);
    st.total_bytes = 0;
    for (auto& r : st.res) st.total_bytes += r->view.size;
    if (wait_all) {
        for (const auto& [queue, seq] : st.cut) GPUCR_RETURN_IF_ERROR(source_.WaitQueue(queue, seq));
    }
    // Mapped memory: its pre-cut GPU writes must land before it is write-protected.
    for (auto& r : st.res) {
        if (!r->view.host_mapped || r->view.host == nullptr) continue;
        GPUCR_RETURN_IF_ERROR(hostguard::Install());
        if (!wait_all) GPUCR_RETURN_IF_ERROR(EnsurePendingDone(st, *r));
        if (r->guard_slot < 0) {
            r->guard_slot = hostguard::AddRange(r->view.host, RoundUp(r->view.size, kPage), &OnHostFault, r.get());
            if (r->guard_slot < 0) return Unsupported("too many mapped memory ranges to protect during a dump");
        }
        // One call: the whole allocation changes protection at one instant (blocks already
        // captured fault once more and are simply made writable again).
        GPUCR_RETURN_IF_ERROR(hostguard::SetWritable(r->view.host, RoundUp(r->view.size, kPage), false));
    }
    if (wait_all) {
        for (auto& r : st.res) r->pending_done = true;
    }
    st.phase.store(kPhaseCut);
    return Status::Ok();
}

Status CheckpointEngine::WriteAll(DumpState& st, image::ImageWriter& writer, bool from_live) {
    constexpr uint64_t kChunk = image::kDefaultChunkSize;
    // Stop mode, memory without a host view: read through one page-locked staging buffer.
    std::unique_ptr<Res> staging;
    for (auto& rp : st.res) {
        Res& r = *rp;
        r.chunks.clear();
        for (uint64_t off = 0; off < r.view.size; off += kChunk) {
            const uint64_t len = std::min(kChunk, r.view.size - off);
            const uint8_t* src = nullptr;
            if (from_live && r.snap == nullptr && r.view.host == nullptr) {
                if (!staging) {
                    GPUCR_ASSIGN_OR_RETURN(staging, NewRes(&st, ResourceView{.size = kChunk}, true, true));
                    source_.PinHost(staging->snap, staging->snap_size);
                    staging->pinned_by = &source_;
                }
                GPUCR_RETURN_IF_ERROR(source_.ReadRange(r.view.id, off, len, staging->snap));
                src = staging->snap;
            } else if (from_live && r.snap == nullptr) {
                src = r.view.host + off;
            } else {
                GPUCR_RETURN_IF_ERROR(CaptureRange(st, r, off / kBlockSize, (off + len + kBlockSize - 1) / kBlockSize));
                src = r.snap + off;
            }
            GPUCR_ASSIGN_OR_RETURN(image::ChunkRef ref, writer.PutChunk(src, len));
            r.chunks.push_back(std::move(ref));
            if (r.snap != nullptr && r.pinned_by == nullptr) madvise(r.snap + off, RoundUp(len, kPage), MADV_DONTNEED);
            st.done_bytes += len;
            if (st.progress) st.progress("write", st.done_bytes.load(), st.total_bytes);
        }
    }
    return Status::Ok();
}

// Dirty mode: copy blocks that need it while the application runs.
Status CheckpointEngine::CopyRound(DumpState& st, bool only_dirty, uint64_t* copied) {
    *copied = 0;
    for (auto& rp : st.res) {
        Res& r = *rp;
        for (size_t b = 0; b < r.nblocks; ++b) {
            std::map<dag::QueueId, uint64_t> waits;
            {
                std::lock_guard lock(r.mu);
                if (r.released) break;
                uint8_t v = r.state[b].load();
                if (v != kNeed || !r.state[b].compare_exchange_strong(v, kCopying)) continue;
                waits = r.writes;
            }
            // A write still in flight would tear the copy, and a write issued before the block
            // was claimed does not mark it again: such a block waits for the next round (or
            // the final stop) rather than holding the pre-copy up behind the GPU.
            bool settled = true;
            for (const auto& [queue, seq] : waits) settled = settled && source_.QueueCompleted(queue, seq);
            if (!settled) {
                uint8_t expect = kCopying;
                if (!r.state[b].compare_exchange_strong(expect, kNeed)) r.state[b].store(kNeed);
                continue;
            }
            if (r.guard_slot >= 0) hostguard::SetWritableRaw(r.view.host + b * kBlockSize, r.ProtLen(b), false);
            if (Status s = CopyOut(r, b * kBlockSize, r.BlockLen(b)); !s.ok()) {
                r.state[b].store(kNeed);
                return s;
            }
            uint8_t expect = kCopying;
            if (!r.state[b].compare_exchange_strong(expect, kDone)) r.state[b].store(kNeed);
            ++*copied;
        }
        if (st.progress) st.progress(only_dirty ? "recopy" : "precopy", 0, st.total_bytes);
    }
    return Status::Ok();
}

Status CheckpointEngine::RunCow(DumpState& st, image::ImageWriter& writer) {
    {
        const auto t0 = std::chrono::steady_clock::now();
        std::unique_lock lock(gate_);
        GPUCR_RETURN_IF_ERROR(TakeCut(st, false));
        st.cut_hold_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    TestDelay();
    ScopedBackground background(st.background_nice);
    // A copier captures into memory as fast as memcpy goes, ahead of the writer (hash, store),
    // so that few of the application's next writes find their blocks uncaptured. Resources
    // with no pre-cut write in flight go first: they can be copied at once.
    Status copier_status;
    std::thread copier([&] {
        ScopedBackground copier_background(st.background_nice);
        std::vector<Res*> order;
        for (auto& r : st.res) order.push_back(r.get());
        std::stable_sort(order.begin(), order.end(), [](Res* a, Res* b) { return a->writes.empty() > b->writes.empty(); });
        constexpr size_t kStep = image::kDefaultChunkSize / kBlockSize;
        for (Res* r : order) {
            for (size_t b = 0; b < r->nblocks && !st.abort.load(); b += kStep) {
                Status s = CaptureRange(st, *r, b, b + kStep);
                if (!s.ok()) {
                    copier_status = s;
                    return;
                }
            }
        }
        st.capture_ms = (NowNs() - st.t_cut_ns) / 1e6;
    });
    Status s = WriteAll(st, writer, false);
    if (!s.ok()) st.abort.store(true);
    copier.join();
    GPUCR_RETURN_IF_ERROR(s);
    GPUCR_RETURN_IF_ERROR(copier_status);
    st.phase.store(kPhaseDone);
    return Status::Ok();
}

Status CheckpointEngine::RunStop(DumpState& st, image::ImageWriter& writer) {
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock lock(gate_);
    GPUCR_RETURN_IF_ERROR(TakeCut(st, true));
    Status s = WriteAll(st, writer, true);
    st.capture_ms = (NowNs() - st.t_cut_ns) / 1e6;
    st.phase.store(kPhaseDone);
    st.cut_hold_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

Status CheckpointEngine::RunDirty(DumpState& st, image::ImageWriter& writer) {
    {
        // Start tracking: from here every write marks its blocks dirty.
        std::unique_lock lock(gate_);
        GPUCR_ASSIGN_OR_RETURN(std::vector<ResourceView> views, source_.SnapshotResources());
        for (ResourceView& v : views) {
            GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Res> r, NewRes(&st, std::move(v), true, false));
            r->writes = dag_.LastWrites(r->view.id);
            if (r->view.host_mapped) {
                GPUCR_RETURN_IF_ERROR(hostguard::Install());
                r->guard_slot = hostguard::AddRange(r->view.host, RoundUp(r->view.size, kPage), &OnHostFault, r.get());
                if (r->guard_slot < 0) return Unsupported("too many mapped memory ranges to protect during a dump");
            }
            st.by_id[r->view.id] = r.get();
            st.res.push_back(std::move(r));
        }
        st.phase.store(kPhaseTrack);
    }
    // Memory without a host view is copied by the device: page-locked snapshots (outside the hold).
    for (auto& r : st.res) {
        if (r->view.host == nullptr && r->snap != nullptr && r->pinned_by == nullptr) {
            source_.PinHost(r->snap, r->snap_size);
            r->pinned_by = &source_;
        }
    }
    uint64_t copied = 0;
    uint64_t last = ~0ull;
    auto background = std::make_unique<ScopedBackground>(st.background_nice);
    for (int round = 0; round < 4; ++round) {
        GPUCR_RETURN_IF_ERROR(CopyRound(st, round > 0, &copied));
        TestDelay();
        st.dirty_per_round.push_back(copied);
        st.rounds++;
        if (copied == 0 || copied * 2 > last) break;
        last = copied;
    }
    background.reset();  // the final stop holds the application: full speed
    if (st.before_final_stop) GPUCR_RETURN_IF_ERROR(st.before_final_stop());
    {
        const auto t0 = std::chrono::steady_clock::now();
        std::unique_lock lock(gate_);
        GPUCR_RETURN_IF_ERROR(TakeCut(st, true));
        for (auto& r : st.res) {
            for (size_t b = 0; b < r->nblocks; ++b) {
                if (r->state[b].load() == kDirtied) r->state[b].store(kNeed);
                if (r->state[b].load() != kDone) st.final_recopied++;
            }
            GPUCR_RETURN_IF_ERROR(CaptureRange(st, *r, 0, r->nblocks));
        }
        st.final_stop_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        st.capture_ms = (NowNs() - st.t_start_ns) / 1e6;  // pre-copy rounds and the final stop
    }
    background = std::make_unique<ScopedBackground>(st.background_nice);
    GPUCR_RETURN_IF_ERROR(WriteAll(st, writer, false));
    st.phase.store(kPhaseDone);
    return Status::Ok();
}

void CheckpointEngine::Finish(DumpState& st) {
    std::unique_lock lock(gate_);
    for (auto& r : st.res) {
        if (r->guard_slot >= 0) {
            hostguard::RemoveRange(r->guard_slot);
            r->guard_slot = -1;
            if (r->view.host != nullptr) hostguard::SetWritableRaw(r->view.host, RoundUp(r->view.size, kPage), true);
        }
    }
    active_.store(nullptr);
}

nlohmann::json CheckpointEngine::StatsJson(const DumpState& st) const {
    nlohmann::json threads = nlohmann::json::array();
    double held_max = 0;
    double held_total = 0;
    {
        std::lock_guard lock(const_cast<std::mutex&>(holds_mu_));
        for (const auto& [tid, h] : holds_) {
            threads.push_back({{"tid", tid}, {"held_ms", h.total_ms}, {"held_max_ms", h.max_ms}, {"holds", h.holds}});
            held_max = std::max(held_max, h.max_ms);
            held_total += h.total_ms;
        }
    }
    const double fault_max = st.fault_ns_max.load() / 1e6;
    const double fault_total = st.fault_ns_total.load() / 1e6;
    held_max = std::max(held_max, fault_max);
    held_total += fault_total;
    return {{"held_max_ms", held_max},
            {"held_total_ms", held_total},
            {"threads", threads},
            {"host_faults", st.faults.load()},
            {"host_fault_ms_total", fault_total},
            {"host_fault_ms_max", fault_max},
            {"cow_blocks", st.cow_blocks.load()},
            {"fault_copied_blocks", st.fault_blocks.load()},
            {"block_size", kBlockSize},
            {"cut_hold_ms", st.cut_hold_ms},
            {"final_stop_ms", st.final_stop_ms},
            {"precopy_rounds", st.rounds},
            {"dirty_blocks_per_round", st.dirty_per_round},
            {"final_recopied_blocks", st.final_recopied},
            {"capture_ms", st.capture_ms},
            {"capture_mib_s", st.capture_ms > 0 ? st.total_bytes / 1048576.0 / (st.capture_ms / 1000.0) : 0.0},
            {"bytes", st.total_bytes}};
}

Result<nlohmann::json> CheckpointEngine::Dump(image::ImageWriter& writer, const DumpOptions& options,
                                              const agent::ProgressFn& progress) {
    const Mode mode = options.mode;
    std::unique_lock dump_lock(dump_mu_, std::try_to_lock);
    if (!dump_lock.owns_lock()) return FailedPrecondition("a dump of this process is already running");
    {
        std::lock_guard lock(holds_mu_);
        holds_.clear();
    }
    auto st = std::make_unique<DumpState>();
    st->mode = mode;
    st->background_nice = options.background_nice;
    st->before_final_stop = options.before_final_stop;
    st->progress = progress;
    st->t_start_ns = NowNs();

    // Allocate and populate snapshot buffers before the cut, while the application runs,
    // at background priority.
    if (mode == Mode::kCow) {
        ScopedBackground background(options.background_nice);
        GPUCR_ASSIGN_OR_RETURN(std::vector<ResourceView> views, source_.SnapshotResources());
        for (ResourceView& v : views) {
            GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Res> r, NewRes(st.get(), std::move(v), true, true));
            if (r->view.host == nullptr && r->snap != nullptr) {
                source_.PinHost(r->snap, r->snap_size);
                r->pinned_by = &source_;
            }
            st->by_id[r->view.id] = r.get();
            st->res.push_back(std::move(r));
            if (progress) progress("prepare", 0, 0);
        }
    }
    active_.store(st.get());
    Status s;
    switch (mode) {
        case Mode::kCow: s = RunCow(*st, writer); break;
        case Mode::kDirty: s = RunDirty(*st, writer); break;
        case Mode::kStop: s = RunStop(*st, writer); break;
    }
    if (s.ok() && st->failed) s = Internal("a copy during the dump failed; the image would be inconsistent");
    Finish(*st);
    nlohmann::json out;
    if (s.ok()) {
        nlohmann::json resources = nlohmann::json::array();
        for (auto& r : st->res) {
            nlohmann::json chunks = nlohmann::json::array();
            for (const auto& c : r->chunks) chunks.push_back(image::ToJson(c));
            nlohmann::json e = r->view.info;
            e["id"] = r->view.id;
            e["size"] = r->view.size;
            e["host_mapped"] = r->view.host_mapped;
            e["chunks"] = chunks;
            resources.push_back(std::move(e));
        }
        nlohmann::json cut_queues = nlohmann::json::array();
        for (const auto& [q, seq] : st->cut) cut_queues.push_back({{"queue", q}, {"seq", seq}});
        out = st->objects;
        out["cut"] = {{"queues", cut_queues}, {"time_ns", st->t_cut_ns}};
        out["resources"] = resources;
        out["dag"] = dag_.ToJson();
        out["stats"] = StatsJson(*st);
        out["stats"]["engine_ms"] = (NowNs() - st->t_start_ns) / 1e6;
    }
    if (!s.ok()) return s;
    return out;
}

}  // namespace gpucr::engine
