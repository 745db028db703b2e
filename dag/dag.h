// dag.h — the kernel DAG: GPU operations with read/write sets over resources.
//
// Front-ends describe every operation they forward (dispatch, copy, fill, update, host write)
// as an Op whose accesses name resources by stable id with byte ranges, each `certain` (the
// API says so) or `speculated` (inferred: reflection, argument values). The DAG links ops by
// data (read-after-write, write-after-read, write-after-write), remembers per resource which
// queue positions wrote it last (what a checkpoint cut must wait for), and keeps a bounded
// window of recent ops for the image.
//
//   dag::Dag dag;
//   dag::Op op{.kind = dag::OpKind::kDispatch, .queue = q, .seq = 17, .label = "stencil"};
//   op.reads.push_back({.resource = a, .offset = 0, .size = n, .certainty = dag::Certainty::kSpeculated});
//   op.writes.push_back({.resource = b, .offset = 0, .size = n, .certainty = dag::Certainty::kSpeculated});
//   dag::OpId id = dag.Add(std::move(op));
//   auto pending = dag.LastWrites(b);   // {queue -> seq} of the ops that wrote b last
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace gpucr::dag {

using ResourceId = uint64_t;
using QueueId = uint64_t;
using OpId = uint64_t;

inline constexpr uint64_t kWholeSize = ~0ull;

enum class Certainty : uint8_t { kCertain, kSpeculated };
enum class OpKind : uint8_t { kDispatch, kCopy, kFill, kUpdate, kClear, kHostWrite, kHostRead, kOther };
enum class EdgeKind : uint8_t { kRaw, kWar, kWaw };

const char* OpKindName(OpKind kind);
const char* EdgeKindName(EdgeKind kind);

struct Access {
    ResourceId resource = 0;
    uint64_t offset = 0;
    uint64_t size = kWholeSize;
    Certainty certainty = Certainty::kCertain;
};

struct Op {
    OpId id = 0;             // assigned by Dag::Add
    OpKind kind = OpKind::kOther;
    QueueId queue = 0;       // 0: the host
    uint64_t seq = 0;        // position in its queue (submission sequence number)
    std::string label;
    std::vector<Access> reads;
    std::vector<Access> writes;
};

struct Edge {
    OpId from = 0;
    OpId to = 0;
    EdgeKind kind = EdgeKind::kRaw;
};

// Thread-safe. Edges are tracked per resource (not per byte range): conservative, never
// missing a dependency.
class Dag {
public:
    explicit Dag(size_t window = 4096) : window_(window) {}

    OpId Add(Op op);
    // The most recent write of `resource` on each queue: queue -> seq.
    std::map<QueueId, uint64_t> LastWrites(ResourceId resource) const;
    // Forget a destroyed resource.
    void Forget(ResourceId resource);

    size_t op_count() const;
    std::vector<Op> RecentOps() const;
    std::vector<Edge> RecentEdges() const;
    // {"ops": [...], "edges": [[from, to, "raw"], ...]} over the window.
    nlohmann::json ToJson() const;

private:
    struct ResourceState {
        OpId last_writer = 0;
        std::vector<OpId> readers_since_write;
        std::map<QueueId, uint64_t> last_write_seq;
    };
    void Link(OpId from, OpId to, EdgeKind kind);

    mutable std::mutex mu_;
    size_t window_;
    OpId next_id_ = 1;
    std::deque<Op> ops_;
    std::deque<Edge> edges_;
    std::unordered_map<ResourceId, ResourceState> resources_;
};

nlohmann::json ToJson(const Access& access);
nlohmann::json ToJson(const Op& op);

}  // namespace gpucr::dag
