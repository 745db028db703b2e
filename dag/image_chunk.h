// image_chunk.h — the chunk file of image format v1: a fixed 48-byte header, then the
// stored (raw or zstd-compressed) bytes. See docs/image-format.md, "Chunk files".
//
// Chunks are named by the XXH3-128 of their raw bytes: chunks/<2 hex>/<32 hex>.chunk.
//
//   std::string hex = image::chunk::HashHex(data, size);
//   GPUCR_RETURN_IF_ERROR(image::chunk::WriteChunkFile(path, hex, data, size, opts, &stored));
//   GPUCR_RETURN_IF_ERROR(image::chunk::ReadChunkFile(path, "chunks/ab/ab….chunk", hex, size, dst));
#pragma once

#include <cstdint>
#include <string>

#include "dag/status.h"

namespace gpucr::image::chunk {

inline constexpr char kMagic[4] = {'G', 'P', 'C', 'K'};
inline constexpr uint32_t kChunkVersion = 1;
inline constexpr uint32_t kFlagZstd = 1u << 0;
inline constexpr uint32_t kKnownFlags = kFlagZstd;

// On-disk layout, little-endian, no padding. Append-only: new fields go into `reserved`
// or behind a new version.
struct ChunkHeader {
    char magic[4];         // "GPCK"
    uint32_t version;      // kChunkVersion
    uint32_t flags;        // bit 0: stored bytes are one zstd frame
    uint32_t reserved;     // 0
    uint64_t raw_size;     // bytes after decompression
    uint64_t stored_size;  // bytes following the header
    uint8_t hash[16];      // XXH3-128 of the raw bytes, canonical (big-endian) order
};
static_assert(sizeof(ChunkHeader) == 48, "chunk header is 48 bytes on disk");
inline constexpr uint64_t kHeaderSize = sizeof(ChunkHeader);

// Canonical XXH3-128 of `data`, as 16 bytes and as 32 lowercase hex digits.
void Hash(const void* data, uint64_t size, uint8_t out[16]);
std::string HashHex(const void* data, uint64_t size);
std::string ToHex(const uint8_t* bytes, size_t n);
bool IsHashHex(const std::string& s);

// "chunks/ab/ab01….chunk" for a hash in hex.
std::string RelativePath(const std::string& hash_hex);

struct WriteOptions {
    bool compress = false;
    int compress_level = 1;
    bool fsync = true;
};

// Writes a chunk file (header + stored bytes) at `path`. `*stored` receives the file size.
Status WriteChunkFile(const std::string& path, const std::string& hash_hex, const void* data, uint64_t size,
                      const WriteOptions& options, uint64_t* stored);

// Reads and fully verifies a chunk file into dst (`raw_size` bytes). Errors start with
// `display` (the path shown to the user): "…: missing", "…: truncated (expected N bytes,
// found M)", "…: checksum mismatch", ….
Status ReadChunkFile(const std::string& path, const std::string& display, const std::string& hash_hex,
                     uint64_t raw_size, void* dst);

// Size of the chunk file on disk, or kNotFound "<display>: missing".
Result<uint64_t> FileSize(const std::string& path, const std::string& display);

}  // namespace gpucr::image::chunk
