// image.h — the on-disk checkpoint image (format v1, specified in docs/image-format.md).
//
// An image is a directory: manifest.json, content-addressed chunks under chunks/, and a
// COMPLETE marker written last. A writer works in a sibling temporary directory and renames
// it onto the target only when everything is written and flushed, so a failed or interrupted
// dump never leaves a complete-looking image. A reader verifies the format version and every
// checksum and names the damaged piece when one is wrong.
//
//   GPUCR_ASSIGN_OR_RETURN(auto writer, image::ImageWriter::Create("/ckpt/app1", {}));
//   GPUCR_ASSIGN_OR_RETURN(image::ChunkRef ref, writer->PutChunk(data, size));   // any thread
//   manifest["resources"] = ...;   // resources list their ChunkRefs (ToJson)
//   GPUCR_RETURN_IF_ERROR(writer->Commit(std::move(manifest)));
//
//   GPUCR_ASSIGN_OR_RETURN(auto reader, image::ImageReader::Open("/ckpt/app1"));
//   GPUCR_RETURN_IF_ERROR(reader->ReadResource(resource_json, dst, size));
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dag/status.h"

namespace gpucr::image {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kDefaultChunkSize = 4ull << 20;

// One stored chunk: its content hash (XXH3-128 of the raw bytes, 32 hex digits) names the
// file; `size` is the raw size. A resource's bytes are the concatenation of its chunks.
struct ChunkRef {
    std::string hash;
    uint64_t size = 0;
};
nlohmann::json ToJson(const ChunkRef& ref);
Result<ChunkRef> ChunkRefFromJson(const nlohmann::json& j);

struct WriterOptions {
    bool compress = false;      // zstd per chunk
    int compress_level = 1;
    bool fsync = true;          // flush chunks, manifest and directories before the rename
};

class ImageWriter {
public:
    // Fails with kAlreadyExists if `dir` exists and is not empty; with kIo if its parent is
    // not writable. Creates "<dir>.partial-<pid>" beside it.
    static Result<std::unique_ptr<ImageWriter>> Create(const std::string& dir, const WriterOptions& options);
    ~ImageWriter();  // aborts (removes the temporary directory) unless committed

    // Thread-safe. Stores the bytes once per distinct content (dedup by hash).
    Result<ChunkRef> PutChunk(const void* data, uint64_t size);
    // Splits `size` bytes into chunks of kDefaultChunkSize and stores each.
    Result<std::vector<ChunkRef>> PutBlob(const void* data, uint64_t size);

    // Adds "format", "version", "creator", "created", "chunk_count", "bytes_raw" and
    // "bytes_stored" fields to the manifest, writes it, its checksum and the COMPLETE marker,
    // flushes and renames. Waits for PutChunk calls in flight; fails (and removes the
    // temporary directory) if any PutChunk failed, so a dump with a lost chunk never commits.
    Status Commit(nlohmann::json manifest);
    void Abort();

    const std::string& target_dir() const;
    uint64_t bytes_stored() const;   // bytes written to chunk files (after compression)
    uint64_t bytes_raw() const;      // raw bytes offered to PutChunk (before dedup)
    uint64_t chunk_count() const;    // distinct chunks stored

    struct Impl;
private:
    explicit ImageWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

class ImageReader {
public:
    // Verifies the COMPLETE marker, format version and manifest checksum.
    static Result<std::unique_ptr<ImageReader>> Open(const std::string& dir);
    ~ImageReader();

    const nlohmann::json& manifest() const;
    // Reads and verifies one chunk into dst (ref.size bytes).
    Status ReadChunk(const ChunkRef& ref, void* dst) const;
    // Reads a resource's content: `resource` is a manifest entry with "chunks" and "size".
    Status ReadResource(const nlohmann::json& resource, void* dst, uint64_t dst_size) const;
    // Verifies every chunk the manifest references; progress(done_bytes, total_bytes).
    Status VerifyAll(const std::function<void(uint64_t, uint64_t)>& progress = {}) const;

    // The image directory as given to Open (trailing slashes removed).
    const std::string& dir() const;
    // Every distinct chunk the manifest references (top-level "resources" and each section's
    // "resources"), in first-reference order. Checks that each resource's chunk sizes add up
    // to its "size"; does not read the chunk files.
    Result<std::vector<ChunkRef>> ReferencedChunks() const;
    // Size of a chunk's file on disk (48-byte header included), without verifying it;
    // kNotFound "<dir>/chunks/…: missing" when absent.
    Result<uint64_t> ChunkFileSize(const ChunkRef& ref) const;

    struct Impl;
private:
    explicit ImageReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gpucr::image
