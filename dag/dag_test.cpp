#include "dag/dag.h"

#include <gtest/gtest.h>

namespace gpucr::dag {
namespace {

Op Make(OpKind kind, QueueId q, uint64_t seq, std::vector<ResourceId> reads, std::vector<ResourceId> writes) {
    Op op;
    op.kind = kind;
    op.queue = q;
    op.seq = seq;
    for (auto r : reads) op.reads.push_back({r, 0, 16, Certainty::kSpeculated});
    for (auto w : writes) op.writes.push_back({w, 0, 16, Certainty::kCertain});
    return op;
}

bool HasEdge(const std::vector<Edge>& edges, OpId from, OpId to, EdgeKind kind) {
    for (const auto& e : edges) {
        if (e.from == from && e.to == to && e.kind == kind) return true;
    }
    return false;
}

TEST(Dag, LinksReadAfterWriteWriteAfterReadAndWriteAfterWrite) {
    Dag dag;
    OpId w1 = dag.Add(Make(OpKind::kDispatch, 1, 1, {}, {10}));
    OpId r1 = dag.Add(Make(OpKind::kDispatch, 1, 2, {10}, {11}));
    OpId w2 = dag.Add(Make(OpKind::kCopy, 2, 1, {}, {10}));
    auto edges = dag.RecentEdges();
    EXPECT_TRUE(HasEdge(edges, w1, r1, EdgeKind::kRaw));
    EXPECT_TRUE(HasEdge(edges, r1, w2, EdgeKind::kWar));
    EXPECT_TRUE(HasEdge(edges, w1, w2, EdgeKind::kWaw));
    EXPECT_FALSE(HasEdge(edges, w1, r1, EdgeKind::kWar));
    EXPECT_EQ(dag.op_count(), 3u);
}

TEST(Dag, LastWritesPerQueueAreTheLatestSequenceNumbers) {
    Dag dag;
    dag.Add(Make(OpKind::kDispatch, 1, 5, {}, {7}));
    dag.Add(Make(OpKind::kDispatch, 1, 9, {}, {7}));
    dag.Add(Make(OpKind::kDispatch, 2, 3, {}, {7}));
    dag.Add(Make(OpKind::kDispatch, 3, 4, {7}, {}));  // a read does not count
    auto lw = dag.LastWrites(7);
    ASSERT_EQ(lw.size(), 2u);
    EXPECT_EQ(lw[1], 9u);
    EXPECT_EQ(lw[2], 3u);
    EXPECT_TRUE(dag.LastWrites(8).empty());
    dag.Forget(7);
    EXPECT_TRUE(dag.LastWrites(7).empty());
}

TEST(Dag, WindowKeepsOnlyRecentOpsAndTheirEdges) {
    Dag dag(4);
    for (int i = 0; i < 10; ++i) dag.Add(Make(OpKind::kDispatch, 1, i + 1, {1}, {1}));
    auto ops = dag.RecentOps();
    ASSERT_EQ(ops.size(), 4u);
    EXPECT_EQ(ops.front().id, 7u);
    for (const auto& e : dag.RecentEdges()) EXPECT_GE(e.from, 7u);
    EXPECT_EQ(dag.op_count(), 10u);
}

TEST(Dag, JsonNamesKindsAndCertainty) {
    Dag dag;
    dag.Add(Make(OpKind::kFill, 1, 1, {2}, {3}));
    auto j = dag.ToJson();
    ASSERT_EQ(j["ops"].size(), 1u);
    EXPECT_EQ(j["ops"][0]["kind"], "fill");
    EXPECT_EQ(j["ops"][0]["reads"][0]["certainty"], "speculated");
    EXPECT_EQ(j["ops"][0]["writes"][0]["certainty"], "certain");
}

}  // namespace
}  // namespace gpucr::dag
