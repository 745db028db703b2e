#include "dag/image_chunk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "dag/image_fs.h"

namespace gpucr::image::chunk {
namespace {

using HeaderBytes = std::array<uint8_t, kHeaderSize>;

void PutLe(uint8_t* p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

// Field offsets follow the declaration order of ChunkHeader.
HeaderBytes Encode(const ChunkHeader& h) {
    HeaderBytes b{};
    std::memcpy(&b[0], h.magic, 4);
    PutLe(&b[4], h.version, 4);
    PutLe(&b[8], h.flags, 4);
    PutLe(&b[12], h.reserved, 4);
    PutLe(&b[16], h.raw_size, 8);
    PutLe(&b[24], h.stored_size, 8);
    std::memcpy(&b[32], h.hash, 16);
    return b;
}

ChunkHeader Decode(const HeaderBytes& b) {
    ChunkHeader h{};
    std::memcpy(h.magic, &b[0], 4);
    h.version = static_cast<uint32_t>(GetLe(&b[4], 4));
    h.flags = static_cast<uint32_t>(GetLe(&b[8], 4));
    h.reserved = static_cast<uint32_t>(GetLe(&b[12], 4));
    h.raw_size = GetLe(&b[16], 8);
    h.stored_size = GetLe(&b[24], 8);
    std::memcpy(h.hash, &b[32], 16);
    return h;
}

struct CCtxDeleter {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// Per-thread compression state: writers call PutChunk from many threads.
struct Scratch {
    std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx;
    std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx;
    std::vector<uint8_t> buffer;
};
Scratch& ThreadScratch() {
    thread_local Scratch scratch;
    return scratch;
}

// Compresses into the thread's scratch buffer; returns 0 when compression does not shrink
// the data (the chunk is then stored raw).
Result<size_t> Compress(const void* data, uint64_t size, int level) {
    Scratch& s = ThreadScratch();
    if (!s.cctx) s.cctx.reset(ZSTD_createCCtx());
    if (!s.cctx) return Internal("zstd: cannot create a compression context");
    size_t bound = ZSTD_compressBound(size);
    if (s.buffer.size() < bound) s.buffer.resize(bound);
    size_t n = ZSTD_compressCCtx(s.cctx.get(), s.buffer.data(), bound, data, size, level);
    if (ZSTD_isError(n)) return Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
    return n < size ? n : 0;
}

Status Decompress(const std::string& display, const uint8_t* src, uint64_t src_size, void* dst, uint64_t raw_size) {
    Scratch& s = ThreadScratch();
    if (!s.dctx) s.dctx.reset(ZSTD_createDCtx());
    if (!s.dctx) return Internal("zstd: cannot create a decompression context");
    size_t n = ZSTD_decompressDCtx(s.dctx.get(), dst, raw_size, src, src_size);
    if (ZSTD_isError(n)) return DataLoss(display + ": corrupt compressed data (" + ZSTD_getErrorName(n) + ")");
    if (n != raw_size) {
        return DataLoss(display + ": corrupt compressed data (" + std::to_string(n) + " bytes instead of " +
                        std::to_string(raw_size) + ")");
    }
    return Status::Ok();
}

class ScopedFd {
public:
    explicit ScopedFd(int fd) : fd_(fd) {}
    ~ScopedFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    ScopedFd(const ScopedFd&) = delete;
    ScopedFd& operator=(const ScopedFd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

Status CheckHeader(const ChunkHeader& h, const std::string& display, const std::string& hash_hex, uint64_t raw_size,
                   uint64_t file_size) {
    if (std::memcmp(h.magic, kMagic, 4) != 0) return DataLoss(display + ": not a gpucr chunk (bad magic)");
    if (h.version != kChunkVersion) {
        return Unsupported(display + ": chunk version " + std::to_string(h.version) +
                           " is not supported (this gpucr reads " + std::to_string(kChunkVersion) + ")");
    }
    if ((h.flags & ~kKnownFlags) != 0) return Unsupported(display + ": unknown chunk flags " + std::to_string(h.flags));
    if (h.raw_size != raw_size) {
        return DataLoss(display + ": size mismatch (manifest says " + std::to_string(raw_size) +
                        " bytes, chunk holds " + std::to_string(h.raw_size) + ")");
    }
    if ((h.flags & kFlagZstd) == 0 && h.stored_size != h.raw_size) {
        return DataLoss(display + ": corrupt header (stored size differs from raw size)");
    }
    uint64_t expected = kHeaderSize + h.stored_size;
    if (file_size < expected) {
        return DataLoss(display + ": truncated (expected " + std::to_string(expected) + " bytes, found " +
                        std::to_string(file_size) + ")");
    }
    if (file_size > expected) {
        return DataLoss(display + ": trailing data (expected " + std::to_string(expected) + " bytes, found " +
                        std::to_string(file_size) + ")");
    }
    if (ToHex(h.hash, 16) != hash_hex) return DataLoss(display + ": checksum mismatch (header names other content)");
    return Status::Ok();
}

}  // namespace

void Hash(const void* data, uint64_t size, uint8_t out[16]) {
    XXH128_hash_t h = XXH3_128bits(data, size);
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, h);
    std::memcpy(out, canonical.digest, 16);
}

std::string ToHex(const uint8_t* bytes, size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s(2 * n, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = kDigits[bytes[i] >> 4];
        s[2 * i + 1] = kDigits[bytes[i] & 15];
    }
    return s;
}

std::string HashHex(const void* data, uint64_t size) {
    uint8_t digest[16];
    Hash(data, size, digest);
    return ToHex(digest, 16);
}

bool IsHashHex(const std::string& s) {
    if (s.size() != 32) return false;
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

std::string RelativePath(const std::string& hash_hex) {
    return "chunks/" + hash_hex.substr(0, 2) + "/" + hash_hex + ".chunk";
}

// Writes header + body with O_DIRECT through an aligned per-thread buffer, then trims the
// padding. Returns false (nothing written) where the file system refuses O_DIRECT.
static Result<bool> WriteDirect(const std::string& path, const HeaderBytes& header, const void* body, uint64_t body_size) {
    constexpr uint64_t kAlign = 4096;
    const uint64_t total = kHeaderSize + body_size;
    const uint64_t padded = (total + kAlign - 1) / kAlign * kAlign;
    struct Aligned {
        void* p = nullptr;
        uint64_t size = 0;
        ~Aligned() { std::free(p); }
    };
    thread_local Aligned buf;
    if (buf.size < padded) {
        std::free(buf.p);
        buf.p = nullptr;
        buf.size = 0;
        if (posix_memalign(&buf.p, kAlign, padded) != 0) return false;
        buf.size = padded;
    }
    auto* out = static_cast<uint8_t*>(buf.p);
    std::memcpy(out, header.data(), kHeaderSize);
    if (body_size > 0) std::memcpy(out + kHeaderSize, body, body_size);
    std::memset(out + total, 0, padded - total);
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644));
    if (fd.get() < 0) {
        if (errno == EINVAL) return false;
        return ErrnoError(path + ": create", errno);
    }
    struct iovec iov{out, padded};
    Status s = fs::WriteAll(fd.get(), path, &iov, 1);
    if (!s.ok()) {
        if (s.message().find("Invalid argument") != std::string::npos) {
            ::unlink(path.c_str());
            return false;
        }
        return s;
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) return ErrnoError(path + ": truncate", errno);
    if (::fsync(fd.get()) != 0) return ErrnoError(path + ": fsync", errno);
    if (::close(fd.release()) != 0) return ErrnoError(path + ": close", errno);
    return true;
}

Status WriteChunkFile(const std::string& path, const std::string& hash_hex, const void* data, uint64_t size,
                      const WriteOptions& options, uint64_t* stored) {
    ChunkHeader h{};
    std::memcpy(h.magic, kMagic, 4);
    h.version = kChunkVersion;
    h.raw_size = size;
    h.stored_size = size;
    Hash(data, size, h.hash);
    if (ToHex(h.hash, 16) != hash_hex) return Internal("chunk hash changed while writing " + path);
    const void* body = data;
    if (options.compress && size > 0) {
        GPUCR_ASSIGN_OR_RETURN(size_t compressed, Compress(data, size, options.compress_level));
        if (compressed > 0) {
            h.flags |= kFlagZstd;
            h.stored_size = compressed;
            body = ThreadScratch().buffer.data();
        }
    }
    HeaderBytes header = Encode(h);
    *stored = kHeaderSize + h.stored_size;
    if (options.fsync) {
        // Data that must reach the disk anyway goes there directly: no page-cache copy and no
        // later writeback by the kernel's threads, which would compete with the application
        // for the CPU. File systems without O_DIRECT (tmpfs) take the buffered path.
        Result<bool> direct = WriteDirect(path, header, body, h.stored_size);
        if (!direct.ok()) return direct.status();
        if (*direct) return Status::Ok();
    }
    ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError(path + ": create", errno);
    struct iovec iov[2] = {{header.data(), header.size()}, {const_cast<void*>(body), h.stored_size}};
    GPUCR_RETURN_IF_ERROR(fs::WriteAll(fd.get(), path, iov, 2));
    if (options.fsync && ::fsync(fd.get()) != 0) return ErrnoError(path + ": fsync", errno);
    if (::close(fd.release()) != 0) return ErrnoError(path + ": close", errno);
    return Status::Ok();
}

Status ReadChunkFile(const std::string& path, const std::string& display, const std::string& hash_hex,
                     uint64_t raw_size, void* dst) {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return DataLoss(display + ": missing");
        return ErrnoError(display + ": open", errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError(display + ": stat", errno);
    auto file_size = static_cast<uint64_t>(st.st_size);
    HeaderBytes bytes{};
    uint64_t got = 0;
    GPUCR_RETURN_IF_ERROR(fs::PreadAll(fd.get(), display, bytes.data(), bytes.size(), 0, &got));
    if (got < kHeaderSize) {
        return DataLoss(display + ": truncated (expected at least " + std::to_string(kHeaderSize) + " bytes, found " +
                        std::to_string(got) + ")");
    }
    ChunkHeader h = Decode(bytes);
    GPUCR_RETURN_IF_ERROR(CheckHeader(h, display, hash_hex, raw_size, file_size));
    if ((h.flags & kFlagZstd) == 0) {
        GPUCR_RETURN_IF_ERROR(fs::PreadAll(fd.get(), display, dst, h.stored_size, kHeaderSize, &got));
    } else {
        std::vector<uint8_t>& buf = ThreadScratch().buffer;
        if (buf.size() < h.stored_size) buf.resize(h.stored_size);
        GPUCR_RETURN_IF_ERROR(fs::PreadAll(fd.get(), display, buf.data(), h.stored_size, kHeaderSize, &got));
        if (got == h.stored_size) GPUCR_RETURN_IF_ERROR(Decompress(display, buf.data(), got, dst, raw_size));
    }
    if (got != h.stored_size) {
        return DataLoss(display + ": truncated (expected " + std::to_string(kHeaderSize + h.stored_size) +
                        " bytes, found " + std::to_string(kHeaderSize + got) + ")");
    }
    if (HashHex(dst, raw_size) != hash_hex) return DataLoss(display + ": checksum mismatch");
    return Status::Ok();
}

Result<uint64_t> FileSize(const std::string& path, const std::string& display) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return NotFound(display + ": missing");
        return ErrnoError(display + ": stat", errno);
    }
    return static_cast<uint64_t>(st.st_size);
}

}  // namespace gpucr::image::chunk
