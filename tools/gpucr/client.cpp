#include "tools/gpucr/client.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "dag/agent.h"

namespace gpucr::client {
namespace {

Status NoAgent(int pid) {
    return NotFound("no gpucr agent for process " + std::to_string(pid) + " (start it with gpucr run)");
}

bool EndsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Result<int> ParsePid(std::string_view text) {
    int pid = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || pid <= 0) {
        return InvalidArgument("invalid process id \"" + std::string(text) + "\"");
    }
    return pid;
}

// Alive and not a zombie (an exited process its parent has not reaped yet).
bool ProcessAlive(int pid) {
    if (::kill(pid, 0) != 0 && errno != EPERM) return false;
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (f == nullptr) return true;
    char buf[512] = {};
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    const char* paren = std::strrchr(buf, ')');  // the state follows the command name
    return !(n > 0 && paren != nullptr && paren[1] == ' ' && paren[2] == 'Z');
}

Result<std::string> AgentSocket(int pid) {
    GPUCR_ASSIGN_OR_RETURN(std::string dir, agent::RuntimeDir());
    std::string path = agent::SocketPath(dir, pid);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return NoAgent(pid);
    return path;
}

Result<UniqueFd> ConnectPath(const std::string& path) {
    GPUCR_ASSIGN_OR_RETURN(protocol::UnixSocket sock, protocol::NewUnixSocket(path));
    UniqueFd& fd = sock.fd;
    sockaddr_un& addr = sock.addr;
    while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNREFUSED || errno == ENOENT) {
            return Unavailable("connect " + path + ": " + std::strerror(errno));  // nobody listens there
        }
        return ErrnoError("connect " + path, errno);
    }
    return std::move(fd);
}

Result<UniqueFd> Connect(int pid) {
    GPUCR_ASSIGN_OR_RETURN(std::string path, AgentSocket(pid));
    Result<UniqueFd> fd = ConnectPath(path);
    if (!fd.ok() && fd.status().code() == Code::kUnavailable) return NoAgent(pid);
    return fd;
}

Result<nlohmann::json> Request(int fd, const nlohmann::json& request, const ProgressCallback& on_progress,
                               int timeout_s) {
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    GPUCR_RETURN_IF_ERROR(protocol::WriteLine(fd, request));
    protocol::LineReader reader(fd);
    for (;;) {
        Result<nlohmann::json> line = reader.Next();
        if (!line.ok()) {
            if (line.status().code() == Code::kUnavailable) {
                return Unavailable("the process closed the connection without answering (" + line.status().message() +
                                   ")");
            }
            return line.status();
        }
        if (protocol::IsFinal(*line)) {
            GPUCR_RETURN_IF_ERROR(protocol::StatusFromReply(*line));
            auto result = line->find("result");
            return result != line->end() ? *result : nlohmann::json::object();
        }
        if (on_progress && line->value("event", std::string()) == "progress") on_progress(*line);
    }
}

Result<std::vector<int>> ListAgents(bool remove_dead) {
    GPUCR_ASSIGN_OR_RETURN(std::string dir, agent::RuntimeDir());
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoError("cannot list " + dir, errno);
    std::vector<int> pids;
    while (dirent* entry = ::readdir(d)) {
        std::string_view name = entry->d_name;
        if (!EndsWith(name, ".sock")) continue;
        Result<int> pid = ParsePid(name.substr(0, name.size() - 5));
        if (!pid.ok()) continue;
        if (remove_dead && !ProcessAlive(*pid)) {
            ::unlink(agent::SocketPath(dir, *pid).c_str());
            continue;
        }
        pids.push_back(*pid);
    }
    ::closedir(d);
    std::sort(pids.begin(), pids.end());
    return pids;
}

}  // namespace gpucr::client
