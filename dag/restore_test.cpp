// Unit tests of the on-demand loader (dag/restore.h). The load function is a test double that
// records the order of pieces; the same path runs for real in tests/suspend_test.py.
#include "dag/restore.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace gpucr::restore {
namespace {

using namespace std::chrono_literals;

struct Recorder {
    std::mutex mu;
    std::vector<std::pair<dag::ResourceId, size_t>> pieces;
    std::chrono::milliseconds per_piece{0};
    LoadFn Fn() {
        return [this](const Item& it, size_t piece) {
            std::this_thread::sleep_for(per_piece);
            std::lock_guard lock(mu);
            pieces.push_back({it.id, piece});
            return Status::Ok();
        };
    }
};

std::vector<Item> Items(std::initializer_list<std::pair<dag::ResourceId, size_t>> spec) {
    std::vector<Item> out;
    for (auto [id, pieces] : spec) out.push_back({id, pieces * 100, nlohmann::json::object(), pieces});
    return out;
}

TEST(Loader, EagerLoadsEverythingInOrderBeforeReturning) {
    Recorder rec;
    Loader loader(Items({{1, 2}, {2, 1}, {3, 3}}), rec.Fn());
    ASSERT_TRUE(loader.Start(true).ok());
    EXPECT_TRUE(loader.done());
    ASSERT_EQ(rec.pieces.size(), 6u);
    EXPECT_EQ(rec.pieces[0], std::make_pair(dag::ResourceId{1}, size_t{0}));
    EXPECT_EQ(rec.pieces[5], std::make_pair(dag::ResourceId{3}, size_t{2}));
    nlohmann::json st = loader.Stats();
    EXPECT_EQ(st["bytes"], 600u);
    EXPECT_EQ(st["waits"], 0u);
}

TEST(Loader, EnsureWaitsOnlyForWhatItNamesAndJumpsTheQueue) {
    Recorder rec;
    rec.per_piece = 5ms;
    // A large resource first in image order, a small one last.
    Loader loader(Items({{1, 100}, {2, 1}}), rec.Fn());
    ASSERT_TRUE(loader.Start(false).ok());
    std::this_thread::sleep_for(20ms);  // the loader is inside resource 1
    const dag::ResourceId small = 2;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(loader.Ensure({&small, 1}).ok());
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(loader.done()) << "resource 1 (100 pieces of 5 ms) cannot be loaded yet";
    EXPECT_LT(waited, 400ms);
    ASSERT_TRUE(loader.WaitAll().ok());
    nlohmann::json st = loader.Stats();
    EXPECT_EQ(st["order"], nlohmann::json({2, 1}));  // 2 finished first
    EXPECT_EQ(st["waited_for"], nlohmann::json({2}));
    EXPECT_EQ(st["waits"], 1u);
    // Resource 1 was interrupted and continued where it stopped: each piece once, in order.
    std::vector<size_t> ones;
    for (auto [id, piece] : rec.pieces) {
        if (id == 1) ones.push_back(piece);
    }
    ASSERT_EQ(ones.size(), 100u);
    for (size_t i = 0; i < ones.size(); ++i) EXPECT_EQ(ones[i], i);
}

TEST(Loader, EnsureOfUnknownOrLoadedIdsDoesNotWait) {
    Recorder rec;
    Loader loader(Items({{1, 1}}), rec.Fn());
    ASSERT_TRUE(loader.Start(true).ok());
    const dag::ResourceId ids[] = {1, 42};
    ASSERT_TRUE(loader.Ensure(ids).ok());
    EXPECT_EQ(loader.Stats()["waits"], 0u);
}

TEST(Loader, AFailedLoadIsReportedToWaitersAndInStats) {
    Loader loader(Items({{1, 2}, {2, 1}}), [](const Item& it, size_t piece) {
        if (it.id == 1 && piece == 1) return DataLoss("chunk abc: checksum mismatch");
        return Status::Ok();
    });
    ASSERT_TRUE(loader.Start(false).ok());
    const dag::ResourceId one = 1;
    Status s = loader.Ensure({&one, 1});
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos);
    EXPECT_FALSE(loader.WaitAll().ok());
    EXPECT_TRUE(loader.Stats().contains("error"));
}

TEST(Loader, EagerStopsAtTheFirstFailure) {
    std::atomic<int> calls{0};
    Loader loader(Items({{1, 1}, {2, 1}}), [&](const Item& it, size_t) {
        ++calls;
        return it.id == 1 ? IoError("read failed") : Status::Ok();
    });
    EXPECT_FALSE(loader.Start(true).ok());
    EXPECT_EQ(calls.load(), 1);
}

TEST(Loader, ManyThreadsEnsuringConcurrently) {
    Recorder rec;
    rec.per_piece = 1ms;
    std::vector<Item> items;
    for (dag::ResourceId id = 1; id <= 20; ++id) items.push_back({id, 100, nlohmann::json::object(), 2});
    Loader loader(std::move(items), rec.Fn());
    ASSERT_TRUE(loader.Start(false).ok());
    std::vector<std::thread> threads;
    for (dag::ResourceId id = 20; id >= 1; --id) {
        threads.emplace_back([&loader, id] { EXPECT_TRUE(loader.Ensure({&id, 1}).ok()); });
    }
    for (auto& t : threads) t.join();
    ASSERT_TRUE(loader.WaitAll().ok());
    EXPECT_EQ(rec.pieces.size(), 40u);
}

}  // namespace
}  // namespace gpucr::restore
