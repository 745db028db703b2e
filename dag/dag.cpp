#include "dag/dag.h"

#include <algorithm>

namespace gpucr::dag {

const char* OpKindName(OpKind kind) {
    switch (kind) {
        case OpKind::kDispatch: return "dispatch";
        case OpKind::kCopy: return "copy";
        case OpKind::kFill: return "fill";
        case OpKind::kUpdate: return "update";
        case OpKind::kClear: return "clear";
        case OpKind::kHostWrite: return "host_write";
        case OpKind::kHostRead: return "host_read";
        case OpKind::kOther: return "other";
    }
    return "other";
}

const char* EdgeKindName(EdgeKind kind) {
    switch (kind) {
        case EdgeKind::kRaw: return "raw";
        case EdgeKind::kWar: return "war";
        case EdgeKind::kWaw: return "waw";
    }
    return "raw";
}

void Dag::Link(OpId from, OpId to, EdgeKind kind) {
    if (from == 0 || from == to) return;
    edges_.push_back({from, to, kind});
    while (edges_.size() > window_ * 4) edges_.pop_front();
}

OpId Dag::Add(Op op) {
    std::lock_guard lock(mu_);
    op.id = next_id_++;
    for (const Access& r : op.reads) {
        ResourceState& st = resources_[r.resource];
        Link(st.last_writer, op.id, EdgeKind::kRaw);
        if (st.readers_since_write.empty() || st.readers_since_write.back() != op.id) {
            st.readers_since_write.push_back(op.id);
        }
    }
    for (const Access& w : op.writes) {
        ResourceState& st = resources_[w.resource];
        for (OpId reader : st.readers_since_write) {
            if (reader != op.id) Link(reader, op.id, EdgeKind::kWar);
        }
        if (st.last_writer != op.id) Link(st.last_writer, op.id, EdgeKind::kWaw);
        st.last_writer = op.id;
        st.readers_since_write.clear();
        uint64_t& seq = st.last_write_seq[op.queue];
        seq = std::max(seq, op.seq);
    }
    ops_.push_back(std::move(op));
    while (ops_.size() > window_) ops_.pop_front();
    return ops_.back().id;
}

std::map<QueueId, uint64_t> Dag::LastWrites(ResourceId resource) const {
    std::lock_guard lock(mu_);
    auto it = resources_.find(resource);
    if (it == resources_.end()) return {};
    return it->second.last_write_seq;
}

void Dag::Forget(ResourceId resource) {
    std::lock_guard lock(mu_);
    resources_.erase(resource);
}

size_t Dag::op_count() const {
    std::lock_guard lock(mu_);
    return next_id_ - 1;
}

std::vector<Op> Dag::RecentOps() const {
    std::lock_guard lock(mu_);
    return {ops_.begin(), ops_.end()};
}

std::vector<Edge> Dag::RecentEdges() const {
    std::lock_guard lock(mu_);
    OpId oldest = ops_.empty() ? 0 : ops_.front().id;
    std::vector<Edge> out;
    for (const Edge& e : edges_) {
        if (e.from >= oldest) out.push_back(e);
    }
    return out;
}

nlohmann::json ToJson(const Access& access) {
    nlohmann::json j{{"resource", access.resource},
                     {"offset", access.offset},
                     {"certainty", access.certainty == Certainty::kCertain ? "certain" : "speculated"}};
    if (access.size == kWholeSize) {
        j["size"] = "whole";
    } else {
        j["size"] = access.size;
    }
    return j;
}

nlohmann::json ToJson(const Op& op) {
    nlohmann::json reads = nlohmann::json::array();
    nlohmann::json writes = nlohmann::json::array();
    for (const Access& a : op.reads) reads.push_back(ToJson(a));
    for (const Access& a : op.writes) writes.push_back(ToJson(a));
    return {{"id", op.id},     {"kind", OpKindName(op.kind)}, {"queue", op.queue}, {"seq", op.seq},
            {"label", op.label}, {"reads", reads},             {"writes", writes}};
}

nlohmann::json Dag::ToJson() const {
    nlohmann::json ops = nlohmann::json::array();
    for (const Op& op : RecentOps()) ops.push_back(dag::ToJson(op));
    nlohmann::json edges = nlohmann::json::array();
    for (const Edge& e : RecentEdges()) edges.push_back({e.from, e.to, EdgeKindName(e.kind)});
    return {{"ops", ops}, {"edges", edges}};
}

}  // namespace gpucr::dag
