// Where agent sockets live, and the checks that keep that directory private.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dag/agent.h"
#include "dag/agent_internal.h"
#include "dag/status.h"

namespace gpucr::agent {
namespace {

std::string Env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

std::string OctalMode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

}  // namespace

namespace internal {

Status EnsurePrivateDir(const std::string& dir) {
    if (dir.empty()) return InvalidArgument("runtime directory path is empty");
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("cannot create " + dir, errno);
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return ErrnoError("cannot stat " + dir, errno);
    if (!S_ISDIR(st.st_mode)) return PermissionDenied(dir + ": not a directory (refusing to use it for sockets)");
    uid_t me = ::geteuid();
    if (st.st_uid != me) {
        return PermissionDenied(dir + ": owned by uid " + std::to_string(st.st_uid) + ", expected uid " +
                                std::to_string(me));
    }
    if ((st.st_mode & 077) != 0) {
        return PermissionDenied(dir + ": mode " + OctalMode(st.st_mode) + " is open to other users, expected 0700");
    }
    return Status::Ok();
}

}  // namespace internal

Result<std::string> RuntimeDir() {
    std::string dir = Env("GPUCR_RUNTIME_DIR");
    if (dir.empty()) {
        std::string xdg = Env("XDG_RUNTIME_DIR");
        dir = xdg.empty() ? "/tmp/gpucr-" + std::to_string(::geteuid()) : xdg + "/gpucr";
    }
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    GPUCR_RETURN_IF_ERROR(internal::EnsurePrivateDir(dir));
    return dir;
}

std::string SocketPath(const std::string& runtime_dir, int pid) {
    return runtime_dir + "/" + std::to_string(pid) + ".sock";
}

}  // namespace gpucr::agent
