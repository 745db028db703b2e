#include "dag/protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gpucr {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
}

void UniqueFd::Reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

namespace protocol {

Status WriteLine(int fd, const nlohmann::json& j) {
    std::string text;
    try {
        text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception& e) {
        return Internal(std::string("cannot encode reply: ") + e.what());
    }
    text.push_back('\n');
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE || errno == ECONNRESET) return Unavailable("peer closed the connection");
            return ErrnoError("send", errno);
        }
        off += static_cast<size_t>(n);
    }
    return Status::Ok();
}

Result<nlohmann::json> LineReader::Next() {
    for (;;) {
        size_t nl = buffer_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (j.is_discarded() || !j.is_object()) return InvalidArgument("malformed message: not a JSON object");
            return j;
        }
        if (buffer_.size() > kMaxLineBytes) return InvalidArgument("message too long");
        char chunk[4096];
        ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return Unavailable("timed out waiting for a message");
            if (errno == ECONNRESET) return Unavailable("connection reset by peer");
            return ErrnoError("recv", errno);
        }
        if (n == 0) return Unavailable("connection closed before a complete message");
        buffer_.append(chunk, static_cast<size_t>(n));
    }
}

nlohmann::json OkReply(nlohmann::json result) { return {{"ok", true}, {"result", std::move(result)}}; }

nlohmann::json ErrorReply(const Status& status) {
    return {{"ok", false}, {"code", CodeName(status.code())}, {"error", status.message()}};
}

nlohmann::json ProgressEvent(std::string_view phase, uint64_t done, uint64_t total) {
    return {{"event", "progress"}, {"phase", std::string(phase)}, {"done", done}, {"total", total}};
}

bool IsFinal(const nlohmann::json& line) { return line.is_object() && line.contains("ok"); }

Status StatusFromReply(const nlohmann::json& reply) {
    auto ok = reply.find("ok");
    if (ok == reply.end() || !ok->is_boolean()) return Internal("malformed reply: no \"ok\" field");
    if (ok->get<bool>()) return Status::Ok();
    std::string code = reply.value("code", std::string("internal"));
    std::string error = reply.value("error", std::string("unknown error"));
    Code c = CodeFromName(code);
    return Status(c == Code::kOk ? Code::kInternal : c, std::move(error));
}

Code CodeFromName(std::string_view name) {
    for (int i = 0; i <= static_cast<int>(Code::kIo); ++i) {
        Code c = static_cast<Code>(i);
        if (name == CodeName(c)) return c;
    }
    return Code::kInternal;
}

}  // namespace protocol
Result<protocol::UnixSocket> protocol::NewUnixSocket(const std::string& path) {
    protocol::UnixSocket sock;
    sock.addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sock.addr.sun_path)) return InvalidArgument("socket path too long: " + path);
    std::memcpy(sock.addr.sun_path, path.c_str(), path.size() + 1);
    sock.fd = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock.fd.valid()) return ErrnoError("socket", errno);
    return sock;
}

}  // namespace gpucr
