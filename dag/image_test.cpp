// image_test.cpp — ImageWriter / ImageReader: round trips, dedup, compression, atomic commit,
// and every kind of damage the reader must name.
#include "dag/image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "dag/image_chunk.h"
#include "dag/image_fs.h"

namespace gpucr::image {
namespace {

namespace stdfs = std::filesystem;

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
}

std::string ReadText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteText(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

void FlipByte(const std::string& path, uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
}

nlohmann::json ResourceJson(int id, uint64_t size, const std::vector<ChunkRef>& refs) {
    nlohmann::json chunks = nlohmann::json::array();
    for (const ChunkRef& r : refs) chunks.push_back(ToJson(r));
    return {{"id", id}, {"object", id + 100}, {"size", size}, {"chunks", chunks}};
}

class ImageTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (stdfs::temp_directory_path() / "gpucr-image-test-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        base_ = tmpl;
        dir_ = base_ + "/img";
    }
    void TearDown() override { stdfs::remove_all(base_); }

    // Writes an image holding `contents` as resources 1..N of one "vulkan" section.
    void WriteImage(const std::vector<std::vector<uint8_t>>& contents, const WriterOptions& options = {}) {
        auto writer = ImageWriter::Create(dir_, options);
        ASSERT_TRUE(writer.ok()) << writer.status().ToString();
        nlohmann::json resources = nlohmann::json::array();
        for (size_t i = 0; i < contents.size(); ++i) {
            auto refs = (*writer)->PutBlob(contents[i].data(), contents[i].size());
            ASSERT_TRUE(refs.ok()) << refs.status().ToString();
            resources.push_back(ResourceJson(static_cast<int>(i + 1), contents[i].size(), *refs));
        }
        nlohmann::json manifest = {
            {"mode", "stop"}, {"apis", {"vulkan"}}, {"sections", {{{"api", "vulkan"}, {"resources", resources}}}}};
        Status s = (*writer)->Commit(std::move(manifest));
        ASSERT_TRUE(s.ok()) << s.ToString();
    }

    // The file of the first chunk of resource `index` (0-based) in the first section.
    std::string FirstChunkFile(const nlohmann::json& manifest, int index, std::string* rel) {
        std::string hash = manifest["sections"][0]["resources"][index]["chunks"][0]["hash"];
        *rel = chunk::RelativePath(hash);
        return dir_ + "/" + *rel;
    }

    Status VerifyImage() {
        auto reader = ImageReader::Open(dir_);
        if (!reader.ok()) return reader.status();
        return (*reader)->VerifyAll();
    }

    std::string base_;
    std::string dir_;
};

TEST(ChunkRefTest, JsonRoundTrip) {
    ChunkRef ref{std::string(32, 'a'), 42};
    auto back = ChunkRefFromJson(ToJson(ref));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->hash, ref.hash);
    EXPECT_EQ(back->size, 42u);
    EXPECT_FALSE(ChunkRefFromJson(nlohmann::json{{"hash", "xyz"}, {"size", 1}}).ok());
    EXPECT_FALSE(ChunkRefFromJson(nlohmann::json{{"hash", std::string(32, 'a')}}).ok());
}

TEST_F(ImageTest, RoundTripWithSeveralResourcesAndDedup) {
    auto big = RandomBytes(kDefaultChunkSize * 2 + 12345, 1);  // three chunks
    auto small = RandomBytes(1000, 2);
    std::vector<uint8_t> empty;
    WriteImage({big, small, big, empty});  // resource 3 repeats resource 1: no new chunk

    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    const nlohmann::json& m = (*reader)->manifest();
    EXPECT_EQ(m["format"], "gpucr-image");
    EXPECT_EQ(m["version"], 1);
    EXPECT_EQ(m["creator"].get<std::string>().rfind("gpucr ", 0), 0u);
    EXPECT_EQ(m["created"].get<std::string>().size(), 20u);  // 2024-05-01T12:00:00Z
    EXPECT_EQ(m["chunk_count"], 4);
    EXPECT_EQ(m["bytes_raw"], 2 * big.size() + small.size());
    EXPECT_EQ(m["mode"], "stop");

    const auto& resources = m["sections"][0]["resources"];
    std::vector<std::vector<uint8_t>> expected = {big, small, big, empty};
    for (size_t i = 0; i < expected.size(); ++i) {
        std::vector<uint8_t> out(expected[i].size() + 1, 0xee);
        Status s = (*reader)->ReadResource(resources[i], out.data(), out.size());
        ASSERT_TRUE(s.ok()) << s.ToString();
        out.pop_back();
        EXPECT_EQ(out, expected[i]) << "resource " << i;
    }

    size_t files = 0;
    for (const auto& e : stdfs::recursive_directory_iterator(dir_ + "/chunks")) files += e.is_regular_file();
    EXPECT_EQ(files, 4u);

    uint64_t last_done = 0;
    uint64_t last_total = 0;
    Status s = (*reader)->VerifyAll([&](uint64_t done, uint64_t total) {
        EXPECT_GE(done, last_done);
        last_done = done;
        last_total = total;
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(last_done, big.size() + small.size());
    EXPECT_EQ(last_total, big.size() + small.size());
    EXPECT_FALSE(stdfs::exists(dir_ + ".partial-" + std::to_string(::getpid())));
}

TEST_F(ImageTest, CompressionRoundTrip) {
    std::vector<uint8_t> compressible(3 * 1024 * 1024);
    for (size_t i = 0; i < compressible.size(); ++i) compressible[i] = static_cast<uint8_t>(i / 4096);
    auto random = RandomBytes(100000, 7);  // does not shrink: stored raw
    WriterOptions options;
    options.compress = true;
    WriteImage({compressible, random}, options);

    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    const nlohmann::json& m = (*reader)->manifest();
    EXPECT_LT(m["bytes_stored"].get<uint64_t>(), compressible.size() / 10 + random.size() + 200);
    std::string rel;
    EXPECT_EQ(stdfs::file_size(FirstChunkFile(m, 1, &rel)), random.size() + chunk::kHeaderSize);

    const auto& resources = m["sections"][0]["resources"];
    std::vector<uint8_t> out(compressible.size());
    ASSERT_TRUE((*reader)->ReadResource(resources[0], out.data(), out.size()).ok());
    EXPECT_EQ(out, compressible);
    out.assign(random.size(), 0);
    ASSERT_TRUE((*reader)->ReadResource(resources[1], out.data(), out.size()).ok());
    EXPECT_EQ(out, random);
    EXPECT_TRUE((*reader)->VerifyAll().ok());
}

TEST_F(ImageTest, CreateIntoNonEmptyDirectoryFails) {
    stdfs::create_directory(dir_);
    WriteText(dir_ + "/something", "x");
    auto writer = ImageWriter::Create(dir_, {});
    ASSERT_FALSE(writer.ok());
    EXPECT_EQ(writer.status().code(), Code::kAlreadyExists);
    EXPECT_EQ(writer.status().message(), dir_ + ": exists and is not empty");
}

TEST_F(ImageTest, CreateIntoEmptyDirectoryWorks) {
    stdfs::create_directory(dir_);
    WriteImage({RandomBytes(100, 3)});
    EXPECT_TRUE(VerifyImage().ok());
}

TEST_F(ImageTest, AbortLeavesNoDirectory) {
    std::string partial = dir_ + ".partial-" + std::to_string(::getpid());
    {
        auto writer = ImageWriter::Create(dir_, {});
        ASSERT_TRUE(writer.ok());
        auto data = RandomBytes(5000, 4);
        ASSERT_TRUE((*writer)->PutChunk(data.data(), data.size()).ok());
        EXPECT_TRUE(stdfs::exists(partial));
    }  // destroyed without Commit
    EXPECT_FALSE(stdfs::exists(partial));
    EXPECT_FALSE(stdfs::exists(dir_));

    auto writer = ImageWriter::Create(dir_, {});
    ASSERT_TRUE(writer.ok());
    (*writer)->Abort();
    EXPECT_FALSE(stdfs::exists(partial));
    EXPECT_FALSE((*writer)->Commit(nlohmann::json::object()).ok());
    EXPECT_FALSE(stdfs::exists(dir_));
}

TEST_F(ImageTest, FailedCommitLeavesNoImage) {
    auto writer = ImageWriter::Create(dir_, {});
    ASSERT_TRUE(writer.ok());
    auto data = RandomBytes(5000, 5);
    ASSERT_TRUE((*writer)->PutChunk(data.data(), data.size()).ok());
    stdfs::create_directory(dir_);  // someone else fills the target meanwhile
    WriteText(dir_ + "/other", "x");
    Status s = (*writer)->Commit(nlohmann::json::object());
    EXPECT_EQ(s.code(), Code::kAlreadyExists) << s.ToString();
    EXPECT_FALSE(stdfs::exists(dir_ + ".partial-" + std::to_string(::getpid())));
    EXPECT_FALSE(stdfs::exists(dir_ + "/COMPLETE"));
}

TEST_F(ImageTest, FailedPutChunkPreventsCommit) {
    auto writer = ImageWriter::Create(dir_, {});
    ASSERT_TRUE(writer.ok());
    auto first = RandomBytes(100, 20);
    ASSERT_TRUE((*writer)->PutChunk(first.data(), first.size()).ok());
    stdfs::remove_all(dir_ + ".partial-" + std::to_string(::getpid()) + "/chunks");  // the disk "loses" it
    auto second = RandomBytes(100, 21);
    auto ref = (*writer)->PutChunk(second.data(), second.size());
    EXPECT_EQ(ref.status().code(), Code::kIo) << ref.status().ToString();
    // A caller that ignores the failed PutChunk still cannot commit.
    EXPECT_FALSE((*writer)->Commit(nlohmann::json::object()).ok());
    EXPECT_FALSE(stdfs::exists(dir_));
}

TEST(ImageFsTest, FullDiskIsAClearError) {
    Status s = fs::WriteFile("/dev/full", std::string(8192, 'x'), /*fsync=*/false);
    EXPECT_EQ(s.code(), Code::kIo);
    EXPECT_EQ(s.message(), "/dev/full: write: No space left on device");
}

TEST_F(ImageTest, MissingCompleteMarkerIsRefused) {
    WriteImage({RandomBytes(100, 6)});
    stdfs::remove(dir_ + "/COMPLETE");
    auto reader = ImageReader::Open(dir_);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().code(), Code::kDataLoss);
    EXPECT_EQ(reader.status().message(), dir_ + ": image is incomplete (no COMPLETE marker)");

    // A writer's temporary directory is never readable as an image.
    auto writer = ImageWriter::Create(base_ + "/other", {});
    ASSERT_TRUE(writer.ok());
    auto partial = ImageReader::Open(base_ + "/other.partial-" + std::to_string(::getpid()));
    EXPECT_EQ(partial.status().code(), Code::kDataLoss);
}

TEST_F(ImageTest, TruncatedChunkIsNamed) {
    WriteImage({RandomBytes(10000, 8)});
    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok());
    std::string rel;
    std::string file = FirstChunkFile((*reader)->manifest(), 0, &rel);
    stdfs::resize_file(file, 5000);
    Status s = (*reader)->VerifyAll();
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_EQ(s.message(), dir_ + "/" + rel + ": truncated (expected 10048 bytes, found 5000)");
    stdfs::resize_file(file, 20);
    EXPECT_NE(VerifyImage().message().find(rel + ": truncated"), std::string::npos);
}

TEST_F(ImageTest, FlippedByteInChunkNamesTheChunk) {
    WriteImage({RandomBytes(1000, 9), RandomBytes(10000, 10)});
    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok());
    std::string rel;
    std::string file = FirstChunkFile((*reader)->manifest(), 1, &rel);
    FlipByte(file, chunk::kHeaderSize + 777);
    Status s = (*reader)->VerifyAll();
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_EQ(s.message(), dir_ + "/" + rel + ": checksum mismatch");
    std::vector<uint8_t> out(10000);
    s = (*reader)->ReadResource((*reader)->manifest()["sections"][0]["resources"][1], out.data(), out.size());
    EXPECT_EQ(s.message(), dir_ + "/" + rel + ": checksum mismatch");
    // The other resource is intact.
    EXPECT_TRUE((*reader)->ReadResource((*reader)->manifest()["sections"][0]["resources"][0], out.data(), 1000).ok());
}

TEST_F(ImageTest, FlippedByteInCompressedChunkIsDetected) {
    std::vector<uint8_t> data(200000, 3);
    WriterOptions options;
    options.compress = true;
    WriteImage({data}, options);
    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok());
    std::string rel;
    std::string file = FirstChunkFile((*reader)->manifest(), 0, &rel);
    FlipByte(file, stdfs::file_size(file) - 6);
    Status s = (*reader)->VerifyAll();
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_EQ(s.message().rfind(dir_ + "/" + rel + ": ", 0), 0u) << s.message();
}

TEST_F(ImageTest, FlippedByteInManifestNamesManifest) {
    WriteImage({RandomBytes(100, 11)});
    FlipByte(dir_ + "/manifest.json", 10);
    auto reader = ImageReader::Open(dir_);
    ASSERT_FALSE(reader.ok());
    EXPECT_EQ(reader.status().code(), Code::kDataLoss);
    EXPECT_EQ(reader.status().message(), dir_ + "/manifest.json: checksum mismatch");
}

TEST_F(ImageTest, WrongVersionIsUnsupported) {
    WriteImage({RandomBytes(100, 12)});
    const std::string expected = dir_ + ": image format version 2 is not supported (this gpucr reads 1)";

    // A newer manifest with consistent checksums.
    auto manifest = nlohmann::json::parse(ReadText(dir_ + "/manifest.json"));
    manifest["version"] = 2;
    std::string text = manifest.dump(1) + "\n";
    std::string hex = chunk::HashHex(text.data(), text.size());
    WriteText(dir_ + "/manifest.json", text);
    WriteText(dir_ + "/manifest.sum", "xxh3-128 " + hex + "\n");
    WriteText(dir_ + "/COMPLETE", "gpucr-image 1\nmanifest xxh3-128 " + hex + "\n");
    auto reader = ImageReader::Open(dir_);
    EXPECT_EQ(reader.status().code(), Code::kUnsupported);
    EXPECT_EQ(reader.status().message(), expected);

    // A newer marker.
    WriteText(dir_ + "/COMPLETE", "gpucr-image 2\nmanifest xxh3-128 " + hex + "\n");
    reader = ImageReader::Open(dir_);
    EXPECT_EQ(reader.status().code(), Code::kUnsupported);
    EXPECT_EQ(reader.status().message(), expected);
}

TEST_F(ImageTest, MissingChunkIsNamed) {
    WriteImage({RandomBytes(100, 13)});
    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok());
    std::string rel;
    stdfs::remove(FirstChunkFile((*reader)->manifest(), 0, &rel));
    Status s = (*reader)->VerifyAll();
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_EQ(s.message(), dir_ + "/" + rel + ": missing");
}

TEST_F(ImageTest, ResourceSizeMustMatchItsChunks) {
    WriteImage({RandomBytes(100, 14)});
    auto manifest = nlohmann::json::parse(ReadText(dir_ + "/manifest.json"));
    manifest["sections"][0]["resources"][0]["size"] = 101;
    std::string text = manifest.dump(1) + "\n";
    std::string hex = chunk::HashHex(text.data(), text.size());
    WriteText(dir_ + "/manifest.json", text);
    WriteText(dir_ + "/manifest.sum", "xxh3-128 " + hex + "\n");
    WriteText(dir_ + "/COMPLETE", "gpucr-image 1\nmanifest xxh3-128 " + hex + "\n");
    Status s = VerifyImage();
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_EQ(s.message(), dir_ + "/manifest.json: resource 1: size is 101 bytes but its chunks hold 100");
}

TEST_F(ImageTest, ConcurrentPutChunkFromFourThreads) {
    auto writer = ImageWriter::Create(dir_, {});
    ASSERT_TRUE(writer.ok());
    constexpr int kThreads = 4;
    constexpr int kPerThread = 64;
    // Even-numbered chunks are shared by all threads (dedup under contention), odd ones are private.
    std::vector<std::vector<ChunkRef>> refs(kThreads);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                uint32_t seed = (i % 2 == 0) ? 1000 + i : 2000 + t * kPerThread + i;
                auto data = RandomBytes(4096 + i, seed);
                auto ref = (*writer)->PutChunk(data.data(), data.size());
                if (!ref.ok()) {
                    ++failures;
                    continue;
                }
                refs[t].push_back(*ref);
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);
    constexpr int kDistinct = kPerThread / 2 + kThreads * kPerThread / 2;
    EXPECT_EQ((*writer)->chunk_count(), static_cast<uint64_t>(kDistinct));

    nlohmann::json resources = nlohmann::json::array();
    for (int t = 0; t < kThreads; ++t) {
        uint64_t size = 0;
        for (const auto& r : refs[t]) size += r.size;
        resources.push_back(ResourceJson(t, size, refs[t]));
    }
    ASSERT_TRUE((*writer)->Commit({{"sections", {{{"api", "vulkan"}, {"resources", resources}}}}}).ok());

    auto reader = ImageReader::Open(dir_);
    ASSERT_TRUE(reader.ok());
    EXPECT_EQ((*reader)->manifest()["chunk_count"], kDistinct);
    auto chunks = (*reader)->ReferencedChunks();
    ASSERT_TRUE(chunks.ok());
    EXPECT_EQ(chunks->size(), static_cast<size_t>(kDistinct));
    EXPECT_TRUE((*reader)->VerifyAll().ok());
    std::vector<uint8_t> out(4096 + 3);
    ASSERT_TRUE((*reader)->ReadChunk(refs[2][3], out.data()).ok());
    EXPECT_EQ(out, RandomBytes(4096 + 3, 2000 + 2 * kPerThread + 3));
}

}  // namespace
}  // namespace gpucr::image
