// The engine's core logic with a test double for the API side: resources are plain host
// memory and "submissions" write them from the test thread. The same paths run for real in
// the Vulkan integration tests (tests/dump_test.py).
#include "dag/engine.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

namespace gpucr::engine {
namespace {

constexpr uint64_t kSize = 8 << 20;

class FakeSource : public CaptureSource {
public:
    FakeSource() {
        for (auto& m : mem) {
            m = static_cast<uint8_t*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
            std::memset(m, 0, kSize);
        }
    }
    ~FakeSource() override {
        for (auto* m : mem) munmap(m, kSize);
    }
    Result<std::vector<ResourceView>> SnapshotResources() override {
        std::vector<ResourceView> v;
        for (int i = 0; i < 2; ++i) v.push_back({static_cast<dag::ResourceId>(i + 1), kSize, mem[i], i == 1, {}});
        cut_seq = seq.load();
        return v;
    }
    Result<nlohmann::json> SnapshotObjects() override { return nlohmann::json{{"objects", nlohmann::json::array()}}; }
    std::map<dag::QueueId, uint64_t> QueueSeqs() override { return {{1, seq.load()}}; }
    // A submission "completes" when the writer thread has finished it.
    Status WaitQueue(dag::QueueId, uint64_t s) override {
        while (seq.load() < s) std::this_thread::yield();
        return Status::Ok();
    }

    uint8_t* mem[2];
    std::atomic<uint64_t> seq{0};
    uint64_t cut_seq = 0;
};

std::string TempDir(const char* name) {
    auto p = std::filesystem::temp_directory_path() / (std::string("gpucr-engine-test-") + name + "-" +
                                                        std::to_string(getpid()));
    std::filesystem::remove_all(p);
    return p.string();
}

// A "GPU" writer: each submission fills resource 1 with its sequence number (low byte).
void RunSubmissions(CheckpointEngine& engine, dag::Dag& dag, FakeSource& src, std::atomic<bool>& stop) {
    while (!stop.load()) {
        const uint64_t seq = src.seq.load() + 1;
        dag::Access w{1, 0, dag::kWholeSize, dag::Certainty::kCertain};
        auto guard = engine.BeginSubmit(1, seq, std::span<const dag::Access>(&w, 1));
        std::memset(src.mem[0], static_cast<int>(seq & 0xff), kSize);
        dag::Op op;
        op.queue = 1;
        op.seq = seq;
        op.writes.push_back(w);
        dag.Add(op);
        src.seq.store(seq);
    }
}

void CheckImage(const std::string& dir, FakeSource& src) {
    auto reader = image::ImageReader::Open(dir);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    const auto& res = (*reader)->manifest()["sections"][0]["resources"];
    ASSERT_EQ(res.size(), 2u);
    std::vector<uint8_t> a(kSize);
    ASSERT_TRUE((*reader)->ReadResource(res[0], a.data(), kSize).ok());
    // Resource 1 is exactly the state at the cut: every byte from the last pre-cut submission.
    const uint8_t want = static_cast<uint8_t>(src.cut_seq & 0xff);
    for (uint64_t i = 0; i < kSize; i += 4093) ASSERT_EQ(a[i], want) << "byte " << i;
    ASSERT_EQ(a[kSize - 1], want);
}

Status DumpTo(CheckpointEngine& engine, const std::string& dir, Mode mode) {
    GPUCR_ASSIGN_OR_RETURN(auto writer, image::ImageWriter::Create(dir, {.fsync = false}));
    GPUCR_ASSIGN_OR_RETURN(nlohmann::json section, engine.Dump(*writer, {.mode = mode}, {}));
    nlohmann::json manifest{{"sections", nlohmann::json::array({section})}};
    return writer->Commit(std::move(manifest));
}

class EngineModes : public ::testing::TestWithParam<Mode> {};

TEST_P(EngineModes, ImageHoldsTheStateAtTheCutWhileSubmissionsContinue) {
    FakeSource src;
    dag::Dag dag;
    CheckpointEngine engine(dag, src);
    std::atomic<bool> stop{false};
    std::thread gpu([&] { RunSubmissions(engine, dag, src, stop); });
    while (src.seq.load() < 3) std::this_thread::yield();
    const std::string dir = TempDir(ModeName(GetParam()));
    Status s = DumpTo(engine, dir, GetParam());
    const uint64_t after = src.seq.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop = true;
    gpu.join();
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_GT(src.seq.load(), after);  // the application kept submitting after the dump
    CheckImage(dir, src);
    std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(AllModes, EngineModes, ::testing::Values(Mode::kCow, Mode::kDirty, Mode::kStop),
                         [](const auto& info) { return std::string(ModeName(info.param)); });

TEST(Engine, HostWritesAfterTheCutAreCopiedFirst) {
    FakeSource src;
    dag::Dag dag;
    CheckpointEngine engine(dag, src);
    std::memset(src.mem[1], 7, kSize);
    std::atomic<bool> stop{false};
    std::atomic<int> passes{0};
    // Host thread rewriting the mapped resource (2) with increasing values, start to end.
    std::thread host([&] {
        for (int v = 8; !stop.load(); ++v) {
            for (uint64_t i = 0; i < kSize; i += 4096) src.mem[1][i] = static_cast<uint8_t>(v);
            passes++;
        }
    });
    while (passes.load() < 2) std::this_thread::yield();
    const std::string dir = TempDir("host");
    Status s = DumpTo(engine, dir, Mode::kCow);
    stop = true;
    host.join();
    ASSERT_TRUE(s.ok()) << s.message();
    auto reader = image::ImageReader::Open(dir);
    ASSERT_TRUE(reader.ok());
    std::vector<uint8_t> b(kSize);
    ASSERT_TRUE((*reader)->ReadResource((*reader)->manifest()["sections"][0]["resources"][1], b.data(), kSize).ok());
    // One instant of a front-to-back rewrite: a prefix of value v+1, the rest v.
    const uint8_t first = b[0];
    for (uint64_t i = 0; i < kSize; i += 4096) {
        ASSERT_TRUE(b[i] == first || static_cast<uint8_t>(b[i] + 1) == first) << "page " << i / 4096;
        if (i > 0) ASSERT_LE(b[i], b[i - 4096]) << "page " << i / 4096;
    }
    std::filesystem::remove_all(dir);
}

// Two queues, each writing its own resource with its own sequence numbers: the image must hold
// each resource exactly as of its queue's position in the one cut.
class TwoQueueSource : public CaptureSource {
public:
    TwoQueueSource() {
        for (auto& m : mem) {
            m = static_cast<uint8_t*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        }
    }
    ~TwoQueueSource() override {
        for (auto* m : mem) munmap(m, kSize);
    }
    Result<std::vector<ResourceView>> SnapshotResources() override {
        return std::vector<ResourceView>{{1, kSize, mem[0], false, {}}, {2, kSize, mem[1], false, {}}};
    }
    Result<nlohmann::json> SnapshotObjects() override { return nlohmann::json::object(); }
    std::map<dag::QueueId, uint64_t> QueueSeqs() override {
        cut[0] = seq[0].load();
        cut[1] = seq[1].load();
        return {{1, cut[0]}, {2, cut[1]}};
    }
    Status WaitQueue(dag::QueueId q, uint64_t s) override {
        while (seq[q - 1].load() < s) std::this_thread::yield();
        return Status::Ok();
    }
    uint8_t* mem[2];
    std::atomic<uint64_t> seq[2] = {0, 0};
    uint64_t cut[2] = {0, 0};
};

TEST(Engine, SeveralQueuesGetOneConsistentCut) {
    for (Mode mode : {Mode::kCow, Mode::kDirty, Mode::kStop}) {
        TwoQueueSource src;
        dag::Dag dag;
        CheckpointEngine engine(dag, src);
        std::atomic<bool> stop{false};
        auto queue = [&](int q) {
            while (!stop.load()) {
                const uint64_t seq = src.seq[q].load() + 1;
                dag::Access w{static_cast<dag::ResourceId>(q + 1), 0, dag::kWholeSize, dag::Certainty::kCertain};
                auto guard = engine.BeginSubmit(q + 1, seq, std::span<const dag::Access>(&w, 1));
                std::memset(src.mem[q], static_cast<int>(seq & 0xff), kSize);
                dag::Op op;
                op.queue = q + 1;
                op.seq = seq;
                op.writes.push_back(w);
                dag.Add(op);
                src.seq[q].store(seq);
                std::this_thread::sleep_for(std::chrono::microseconds(200));  // leave the copier some CPU
            }
        };
        std::thread q0(queue, 0), q1(queue, 1);
        while (src.seq[0].load() < 3 || src.seq[1].load() < 3) std::this_thread::yield();
        const std::string dir = TempDir("two-queues");
        Status s = DumpTo(engine, dir, mode);
        stop = true;
        q0.join();
        q1.join();
        ASSERT_TRUE(s.ok()) << s.message();
        auto reader = image::ImageReader::Open(dir);
        ASSERT_TRUE(reader.ok());
        const auto& res = (*reader)->manifest()["sections"][0]["resources"];
        std::vector<uint8_t> b(kSize);
        for (int q = 0; q < 2; ++q) {
            ASSERT_TRUE((*reader)->ReadResource(res[q], b.data(), kSize).ok());
            const uint8_t want = static_cast<uint8_t>(src.cut[q] & 0xff);
            for (uint64_t i = 0; i < kSize; i += 4093) ASSERT_EQ(b[i], want) << ModeName(mode) << " queue " << q;
        }
        std::filesystem::remove_all(dir);
    }
}

TEST(Engine, ParsesModes) {
    EXPECT_EQ(ParseMode("bogus").status().code(), Code::kInvalidArgument);
    EXPECT_EQ(*ParseMode("dirty"), Mode::kDirty);
}

}  // namespace
}  // namespace gpucr::engine
