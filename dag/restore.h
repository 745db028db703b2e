// restore.h — soft on-demand loading: contents come back in the background, an operation waits
// only for the resources it touches.
//
// Vendor-neutral. After a backend has re-created its objects, it hands the resources whose
// contents must come from the image to a Loader and lets the application run again. A
// background thread loads them one by one, in the order they were asked for, then in image
// order; before an operation is issued, the front-end calls Ensure() with the resources the
// operation reads or writes, which moves them to the front and waits for them only. Eager
// mode (the baseline) loads everything before Start() returns. Every wait is measured.
//
//   restore::Loader loader(items, [&](const restore::Item& it, size_t piece) { return backend.Load(it, piece); });
//   GPUCR_RETURN_IF_ERROR(loader.Start(/*eager=*/false));   // then let the application run
//   loader.Ensure(ids_of_next_op);                            // from the application's thread
//   loader.WaitAll();  nlohmann::json stats = loader.Stats();
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "dag/dag.h"
#include "dag/status.h"

namespace gpucr::restore {

struct Item {
    dag::ResourceId id = 0;
    uint64_t size = 0;
    nlohmann::json entry;  // the image's resource entry (chunks, ...)
    size_t pieces = 1;     // loaded piece by piece (e.g. one image chunk each), so that an
                           // operation that needs another resource waits one piece at most
};

// Loads piece `piece` (0 .. item.pieces-1) of an item; pieces of one item come in order.
using LoadFn = std::function<Status(const Item&, size_t piece)>;

class Loader {
public:
    Loader(std::vector<Item> items, LoadFn load);
    ~Loader();  // waits for the loading thread
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    // eager: loads everything on the calling thread before returning. Otherwise starts the
    // background thread and returns at once.
    Status Start(bool eager);
    // Blocks until each of `ids` that this loader holds is loaded (others are ignored). Returns
    // the load's error if one of them failed.
    Status Ensure(std::span<const dag::ResourceId> ids);
    Status EnsureAll();
    // Blocks until everything is loaded or a load failed.
    Status WaitAll();
    bool done() const;
    // {"resources", "bytes", "loaded_ms" (from Start), "waits", "wait_ms_total", "wait_ms_max",
    //  "waited_for": [ids], "order": [ids in load order], "error"?}
    nlohmann::json Stats() const;

private:
    enum class State : uint8_t { kPending, kLoading, kLoaded, kFailed };
    struct Entry {
        Item item;
        State state = State::kPending;
        size_t next_piece = 0;
        Status error;
    };
    void Run();
    bool LoadOne(std::unique_lock<std::mutex>& lock, Entry& e);  // one piece
    void Finish(Entry& e, const Status& s);
    Entry* NextLocked();

    LoadFn load_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Entry> entries_;
    std::map<dag::ResourceId, size_t> index_;
    std::deque<size_t> wanted_;  // asked for by Ensure, first come first served
    std::vector<size_t> partial_;  // entries begun, continued when nothing is wanted
    size_t next_ = 0;            // image order cursor
    size_t remaining_ = 0;
    bool failed_ = false;
    Status first_error_;
    std::thread thread_;
    int64_t t_start_ns_ = 0;
    int64_t t_done_ns_ = 0;
    uint64_t bytes_ = 0;
    uint64_t waits_ = 0;
    double wait_ms_total_ = 0;
    double wait_ms_max_ = 0;
    std::vector<dag::ResourceId> waited_for_;
    std::vector<dag::ResourceId> order_;
};

int64_t MonotonicNs();

// The first operation the application issues after a resume's hand-back, and when it completed:
// watched on a thread of its own, since it may complete long before everything is loaded.
//
//   watch.Start(t0_ns, [&](dag::QueueId q, uint64_t seq) { return backend.WaitQueue(q, seq); });
//   ... open the gate ...             // application threads: watch.Record(queue, seq) per submission
//   nlohmann::json first_op_ms = watch.Join();   // ms from t0_ns, or null (none within 30 s)
class FirstOpWatch {
public:
    FirstOpWatch() = default;
    ~FirstOpWatch();
    FirstOpWatch(const FirstOpWatch&) = delete;
    FirstOpWatch& operator=(const FirstOpWatch&) = delete;

    void Start(int64_t t0_ns, std::function<Status(dag::QueueId, uint64_t)> wait_completed);
    // Cheap when not watching; the first call after Start() is the one watched.
    void Record(dag::QueueId queue, uint64_t seq) noexcept {
        if (state_.load(std::memory_order_relaxed) != kWatching) return;
        int expected = kWatching;
        if (!state_.compare_exchange_strong(expected, kRecording)) return;
        queue_ = queue;
        seq_ = seq;
        state_.store(kRecorded);
    }
    nlohmann::json Join();

private:
    enum : int { kIdle = 0, kWatching = 1, kRecorded = 2, kRecording = 3 };
    std::atomic<int> state_{kIdle};
    dag::QueueId queue_ = 0;
    uint64_t seq_ = 0;
    std::thread thread_;
    nlohmann::json result_;
};

// The items for `ids` from an API section's "resources" of a verified image: one piece per chunk,
// the entry given "offsets" (each chunk's offset in the resource). DataLoss, prefixed with `where`
// (the image directory) and naming the resource with `name(id)`, when the section holds no
// contents for one or its chunks do not add up to its size.
Result<std::vector<Item>> ItemsFromSection(const nlohmann::json& section, std::span<const uint64_t> ids,
                                           const std::function<std::string(uint64_t)>& name,
                                           const std::string& where);
// The loading part of a resume's statistics, from Loader::Stats(): bytes_loaded,
// resources_loaded, waits, wait_ms_total, wait_ms_max, waited_for, load_order.
nlohmann::json ResumeLoadStats(const nlohmann::json& loader_stats);

}  // namespace gpucr::restore
