// The agent: a provider registry and a thread serving <runtime dir>/<pid>.sock.
//
// State lives in a heap object that is never destroyed, because detached threads may still run
// while static destructors do. After fork() the child has no agent thread; EnsureRunning() (and
// RegisterProvider) notice that getpid() changed and start a fresh one with the child's pid.
#include "dag/agent.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dag/agent_internal.h"
#include "dag/log.h"
#include "dag/protocol.h"

namespace gpucr::agent {
namespace {

constexpr int kRequestTimeoutSec = 10;
constexpr int kSendTimeoutSec = 60;
constexpr int kMaxConnections = 16;

struct State {
    std::mutex mu;
    std::vector<Provider> providers;
    int serving_pid = 0;  // pid whose socket thread is running; 0 when none
    int failed_pid = 0;   // pid for which starting failed (do not retry on every call)
    int listen_fd = -1;
    std::string socket_path;
    bool hooks_installed = false;
    // The running dump/suspend/resume/migrate (internal::OperationGuard); pid 0 when none.
    int op_pid = 0;
    std::string op_name;
    // The image a suspended process resumes from (internal::RememberSuspend).
    std::optional<internal::SuspendRecord> suspend;
};

State& GetState() {
    static State* state = new State;  // intentionally leaked, see the file comment
    return *state;
}

std::atomic<int> g_serving_pid{0};
std::atomic<int> g_connections{0};

bool Disabled() {
    const char* v = std::getenv("GPUCR_DISABLE");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

void AtForkPrepare() { GetState().mu.lock(); }
void AtForkParent() { GetState().mu.unlock(); }
void AtForkChild() {
    State& s = GetState();
    // The parent's listening socket belongs to the parent; the child gets its own later.
    if (s.listen_fd >= 0) ::close(s.listen_fd);
    s.listen_fd = -1;
    s.serving_pid = 0;
    s.failed_pid = 0;
    s.socket_path.clear();
    // The parent's operation does not run in the child; its suspend image is the parent's.
    s.op_pid = 0;
    s.suspend.reset();
    g_serving_pid.store(0);
    g_connections.store(0);
    s.mu.unlock();
}

void AtExit() {
    State& s = GetState();
    // Best effort: another thread may hold the lock while the process exits.
    std::unique_lock lock(s.mu, std::try_to_lock);
    if (s.serving_pid == ::getpid() && !s.socket_path.empty()) ::unlink(s.socket_path.c_str());
}

// The agent thread, the atexit/atfork handlers and the providers run code of the library that
// holds this file (a Vulkan layer, which the loader dlclose()s at vkDestroyInstance). Keep that
// library mapped for the life of the process.
void PinThisLibrary() {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(&PinThisLibrary), &info) == 0 || info.dli_fname == nullptr) return;
    if (::dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) == nullptr) {  // handle kept on purpose
        GPUCR_LOG_DEBUG("agent", "cannot pin {}: {}", info.dli_fname, ::dlerror());
    }
}

void InstallHooksLocked(State& s) {
    if (s.hooks_installed) return;
    s.hooks_installed = true;
    PinThisLibrary();
    ::pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
    std::atexit(AtExit);
}

bool PeerAllowed(int fd, std::string* why) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        *why = std::string("cannot read peer credentials: ") + std::strerror(errno);
        return false;
    }
    uid_t me = ::geteuid();
    if (cred.uid == me || cred.uid == 0) return true;
    *why = "peer uid " + std::to_string(cred.uid) + " may not control process " + std::to_string(::getpid()) +
           " (uid " + std::to_string(me) + ")";
    return false;
}

void SetTimeouts(int fd) {
    timeval rcv{kRequestTimeoutSec, 0};
    timeval snd{kSendTimeoutSec, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
}

// One request, one reply. Errors go to the client, never to the application.
void ServeConnection(int raw_fd) noexcept {
    UniqueFd fd(raw_fd);
    try {
        SetTimeouts(fd.get());
        protocol::LineReader reader(fd.get());
        Result<nlohmann::json> request = reader.Next();
        std::string why;
        if (!PeerAllowed(fd.get(), &why)) {
            GPUCR_LOG_WARN("agent", "refused connection: {}", why);
            (void)protocol::WriteLine(fd.get(), protocol::ErrorReply(PermissionDenied(why)));
            return;
        }
        if (!request.ok()) {
            (void)protocol::WriteLine(fd.get(), protocol::ErrorReply(request.status()));
            return;
        }
        bool client_gone = false;
        internal::EmitFn emit = [&](const nlohmann::json& event) {
            if (!client_gone) client_gone = !protocol::WriteLine(fd.get(), event).ok();
        };
        Result<nlohmann::json> result = internal::HandleRequest(*request, internal::ProvidersSnapshot(), emit);
        nlohmann::json reply =
            result.ok() ? protocol::OkReply(std::move(result).value()) : protocol::ErrorReply(result.status());
        Status sent = protocol::WriteLine(fd.get(), reply);
        if (!sent.ok()) GPUCR_LOG_INFO("agent", "reply not delivered: {}", sent.message());
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR("agent", "request failed: {}", e.what());
    } catch (...) {
        GPUCR_LOG_ERROR("agent", "request failed with an unknown exception");
    }
}

void ServeDetached(int fd) {
    if (g_connections.fetch_add(1) >= kMaxConnections) {
        g_connections.fetch_sub(1);
        (void)protocol::WriteLine(fd, protocol::ErrorReply(Unavailable("agent busy: too many connections")));
        ::close(fd);
        return;
    }
    try {
        std::thread([fd] {
            ServeConnection(fd);
            g_connections.fetch_sub(1);
        }).detach();
    } catch (...) {
        ServeConnection(fd);  // no thread available: serve inline
        g_connections.fetch_sub(1);
    }
}

void AcceptLoop(int listen_fd, int owner_pid) noexcept {
    while (::getpid() == owner_pid) {
        int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                if (errno != EINTR && errno != ECONNABORTED) ::usleep(100 * 1000);
                continue;
            }
            GPUCR_LOG_WARN("agent", "control socket closed: {}", std::strerror(errno));
            return;
        }
        ServeDetached(fd);
    }
}

// Starts a thread with every signal blocked, so the application's handlers never run on it.
Status StartThread(int listen_fd, int owner_pid) {
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    Status status;
    try {
        std::thread(AcceptLoop, listen_fd, owner_pid).detach();
    } catch (const std::exception& e) {
        status = Internal(std::string("cannot start agent thread: ") + e.what());
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return status;
}

Result<UniqueFd> Listen(const std::string& path) {
    GPUCR_ASSIGN_OR_RETURN(protocol::UnixSocket sock, protocol::NewUnixSocket(path));
    UniqueFd& fd = sock.fd;
    sockaddr_un& addr = sock.addr;
    ::unlink(path.c_str());  // left by an earlier process that had this pid
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        return ErrnoError("bind " + path, errno);
    }
    if (::listen(fd.get(), kMaxConnections) != 0) {
        int err = errno;
        ::unlink(path.c_str());
        return ErrnoError("listen " + path, err);
    }
    return std::move(fd);
}

Status StartLocked(State& s, int pid) {
    GPUCR_ASSIGN_OR_RETURN(std::string dir, RuntimeDir());
    std::string path = SocketPath(dir, pid);
    GPUCR_ASSIGN_OR_RETURN(UniqueFd fd, Listen(path));
    Status started = StartThread(fd.get(), pid);
    if (!started.ok()) {
        ::unlink(path.c_str());
        return started;
    }
    s.listen_fd = fd.Release();
    s.socket_path = path;
    s.serving_pid = pid;
    g_serving_pid.store(pid);
    GPUCR_LOG_INFO("agent", "listening on {}", path);
    return Status::Ok();
}

void StartIfNeededLocked(State& s) {
    int pid = ::getpid();
    if (s.serving_pid == pid || s.failed_pid == pid || s.providers.empty()) return;
    Status st = StartLocked(s, pid);
    if (!st.ok()) {
        s.failed_pid = pid;
        GPUCR_LOG_WARN("agent", "control socket disabled, gpucr cannot reach this process: {}", st.message());
    }
}

}  // namespace

namespace internal {

std::vector<Provider> ProvidersSnapshot() {
    State& s = GetState();
    std::lock_guard lock(s.mu);
    return s.providers;
}

Result<OperationGuard> OperationGuard::Acquire(const char* name) {
    State& s = GetState();
    std::lock_guard lock(s.mu);
    int me = ::getpid();
    if (s.op_pid == me) return FailedPrecondition("a " + s.op_name + " of this process is already running");
    s.op_pid = me;
    s.op_name = name;
    OperationGuard guard;
    guard.held_ = true;
    return guard;
}

OperationGuard::OperationGuard(OperationGuard&& other) noexcept : held_(std::exchange(other.held_, false)) {}

OperationGuard::~OperationGuard() {
    if (!held_) return;
    State& s = GetState();
    std::lock_guard lock(s.mu);
    if (s.op_pid == ::getpid()) s.op_pid = 0;
}

std::optional<SuspendRecord> RememberedSuspend() {
    State& s = GetState();
    std::lock_guard lock(s.mu);
    return s.suspend;
}

void RememberSuspend(SuspendRecord record) {
    State& s = GetState();
    std::lock_guard lock(s.mu);
    s.suspend = std::move(record);
}

void ForgetSuspend() {
    State& s = GetState();
    std::lock_guard lock(s.mu);
    s.suspend.reset();
}

}  // namespace internal

void RegisterProvider(Provider provider) noexcept {
    try {
        if (Disabled()) return;
        State& s = GetState();
        std::lock_guard lock(s.mu);
        InstallHooksLocked(s);
        bool replaced = false;
        for (Provider& p : s.providers) {
            if (p.api == provider.api) {
                p = std::move(provider);
                replaced = true;
                break;
            }
        }
        if (!replaced) s.providers.push_back(std::move(provider));
        StartIfNeededLocked(s);
    } catch (...) {
        GPUCR_LOG_ERROR("agent", "cannot register provider");
    }
}

void EnsureRunning() noexcept {
    if (g_serving_pid.load(std::memory_order_relaxed) == ::getpid()) return;
    try {
        if (Disabled()) return;
        State& s = GetState();
        std::lock_guard lock(s.mu);
        StartIfNeededLocked(s);
    } catch (...) {
    }
}

std::string ActiveSocketPath() {
    State& s = GetState();
    std::lock_guard lock(s.mu);
    return s.serving_pid == ::getpid() ? s.socket_path : std::string();
}

}  // namespace gpucr::agent
