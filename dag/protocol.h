// protocol.h — the wire format shared by the agent (server) and the gpucr CLI (client).
//
// One JSON object per line over a Unix stream socket (docs/protocol.md). The client sends one
// request line; the server answers zero or more progress lines
// {"event":"progress","phase":P,"done":N,"total":N} and one final line, either
// {"ok":true,"result":{...}} or {"ok":false,"code":"<CodeName>","error":"<message>"}.
//
//   UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
//   GPUCR_RETURN_IF_ERROR(protocol::WriteLine(fd.get(), {{"cmd", "hello"}}));
//   protocol::LineReader reader(fd.get());
//   GPUCR_ASSIGN_OR_RETURN(nlohmann::json line, reader.Next());
//   if (protocol::IsFinal(line)) GPUCR_RETURN_IF_ERROR(protocol::StatusFromReply(line));
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sys/un.h>
#include <string>
#include <string_view>

#include "dag/status.h"

namespace gpucr {

// Owns a file descriptor; closes it on destruction. Move-only.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { Reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int Release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void Reset(int fd = -1);

private:
    int fd_ = -1;
};

namespace protocol {

// Longest accepted line (requests are small; results carry stats, not data).
inline constexpr size_t kMaxLineBytes = 16u << 20;

// A new stream socket (close-on-exec) and the address of `path`, for bind or connect.
struct UnixSocket {
    UniqueFd fd;
    sockaddr_un addr{};
};
Result<UnixSocket> NewUnixSocket(const std::string& path);

// Writes `j` and a newline, retrying short writes; never raises SIGPIPE.
Status WriteLine(int fd, const nlohmann::json& j);

// Reads newline-terminated JSON objects from a stream socket, keeping unread bytes between calls.
class LineReader {
public:
    explicit LineReader(int fd) : fd_(fd) {}
    // kUnavailable on EOF before a full line, kInvalidArgument on malformed JSON or an over-long line.
    Result<nlohmann::json> Next();

private:
    int fd_;
    std::string buffer_;
};

// Final reply lines.
nlohmann::json OkReply(nlohmann::json result);
nlohmann::json ErrorReply(const Status& status);
nlohmann::json ProgressEvent(std::string_view phase, uint64_t done, uint64_t total);

// True for the final line of a reply ({"ok": ...}); false for events.
bool IsFinal(const nlohmann::json& line);
// Ok for {"ok":true}; the Status carried by {"ok":false,...} otherwise.
Status StatusFromReply(const nlohmann::json& reply);
// Inverse of CodeName(); kInternal for unknown names.
Code CodeFromName(std::string_view name);

}  // namespace protocol
}  // namespace gpucr
