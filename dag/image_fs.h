// image_fs.h — small POSIX file helpers for the image library, each returning a Status.
//
// Every write is checked to the last byte (a short write or ENOSPC becomes an error naming
// the file), every close is checked, and directories can be flushed so that a rename done
// after them is durable.
//
//   GPUCR_RETURN_IF_ERROR(image::fs::WriteFile(dir + "/manifest.json", text, /*fsync=*/true));
//   GPUCR_ASSIGN_OR_RETURN(std::string text, image::fs::ReadFile(dir + "/manifest.json"));
//   GPUCR_RETURN_IF_ERROR(image::fs::FsyncDir(dir));
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "dag/status.h"

namespace gpucr::image::fs {

// Writes all `iovcnt` buffers to `fd` (loops over short writes and EINTR). `path` names the
// file in errors.
Status WriteAll(int fd, const std::string& path, const struct iovec* iov, int iovcnt);
// Reads exactly `size` bytes at `offset`; fewer bytes (EOF) is reported through `*got`.
Status PreadAll(int fd, const std::string& path, void* dst, uint64_t size, uint64_t offset, uint64_t* got);

// Creates (or truncates) `path` with `contents`; optionally fsyncs it before closing.
Status WriteFile(const std::string& path, std::string_view contents, bool fsync);
// Reads a whole file. A missing file is kNotFound with message "<path>: missing".
Result<std::string> ReadFile(const std::string& path);

Status FsyncDir(const std::string& path);
// mkdir that treats an existing directory as success.
Status MakeDir(const std::string& path);
// Removes a tree; logs (does not fail) when something cannot be removed.
void RemoveTree(const std::string& path);

// True if `path` exists (any type); `*is_dir` and `*empty` describe it when it is a directory.
Result<bool> Probe(const std::string& path, bool* is_dir, bool* empty);

// "a/b/" -> "a/b"; "/" stays "/".
std::string StripTrailingSlashes(std::string path);
// Parent directory of `path` ("." for a bare name).
std::string ParentDir(const std::string& path);

}  // namespace gpucr::image::fs
