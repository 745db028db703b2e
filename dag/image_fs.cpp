#include "dag/image_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

#include "dag/log.h"

namespace gpucr::image::fs {
namespace {

// Closes a descriptor on scope exit unless released; Close() reports the error.
class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    Status Close(const std::string& path) {
        int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) return ErrnoError(path + ": close", errno);
        return Status::Ok();
    }

private:
    int fd_;
};

}  // namespace

Status WriteAll(int fd, const std::string& path, const struct iovec* iov_in, int iovcnt) {
    std::vector<struct iovec> iov(iov_in, iov_in + iovcnt);
    size_t first = 0;
    while (first < iov.size()) {
        if (iov[first].iov_len == 0) {
            ++first;
            continue;
        }
        ssize_t n = ::writev(fd, &iov[first], static_cast<int>(iov.size() - first));
        if (n < 0) {
            if (errno == EINTR) continue;
            return ErrnoError(path + ": write", errno);
        }
        if (n == 0) return IoError(path + ": write made no progress");
        auto left = static_cast<size_t>(n);
        while (first < iov.size() && left >= iov[first].iov_len) {
            left -= iov[first].iov_len;
            ++first;
        }
        if (left > 0) {
            iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
            iov[first].iov_len -= left;
        }
    }
    return Status::Ok();
}

Status PreadAll(int fd, const std::string& path, void* dst, uint64_t size, uint64_t offset, uint64_t* got) {
    auto* out = static_cast<char*>(dst);
    uint64_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return ErrnoError(path + ": read", errno);
        }
        if (n == 0) break;
        done += static_cast<uint64_t>(n);
    }
    *got = done;
    return Status::Ok();
}

Status WriteFile(const std::string& path, std::string_view contents, bool fsync) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError(path + ": create", errno);
    struct iovec iov = {const_cast<char*>(contents.data()), contents.size()};
    GPUCR_RETURN_IF_ERROR(WriteAll(fd.get(), path, &iov, 1));
    if (fsync && ::fsync(fd.get()) != 0) return ErrnoError(path + ": fsync", errno);
    return fd.Close(path);
}

Result<std::string> ReadFile(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return NotFound(path + ": missing");
        return ErrnoError(path + ": open", errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError(path + ": stat", errno);
    std::string text(static_cast<size_t>(st.st_size), '\0');
    uint64_t got = 0;
    GPUCR_RETURN_IF_ERROR(PreadAll(fd.get(), path, text.data(), text.size(), 0, &got));
    text.resize(got);
    return text;
}

Status FsyncDir(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError(path + ": open directory", errno);
    if (::fsync(fd.get()) != 0) return ErrnoError(path + ": fsync", errno);
    return fd.Close(path);
}

Status MakeDir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Status::Ok();
    return ErrnoError(path + ": mkdir", errno);
}

void RemoveTree(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) GPUCR_LOG_WARN("image", "cannot remove {}: {}", path, ec.message());
}

Result<bool> Probe(const std::string& path, bool* is_dir, bool* empty) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return false;
        return ErrnoError(path + ": stat", errno);
    }
    *is_dir = S_ISDIR(st.st_mode);
    *empty = false;
    if (!*is_dir) return true;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return ErrnoError(path + ": opendir", errno);
    *empty = true;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name != "." && name != "..") {
            *empty = false;
            break;
        }
    }
    ::closedir(d);
    return true;
}

std::string StripTrailingSlashes(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

std::string ParentDir(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace gpucr::image::fs
