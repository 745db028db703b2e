// agent_internal.h — pieces of the agent shared by its source files and its tests; not an API.
//
// agent.cpp owns the provider registry, the socket thread and the per-process operation state;
// agent_commands.cpp turns one request into one reply (hello, describe, dump) and
// agent_suspend.cpp does suspend, resume and migrate; agent_paths.cpp knows where sockets live.
//
//   std::vector<Provider> providers = internal::ProvidersSnapshot();
//   Result<nlohmann::json> r = internal::HandleRequest(request, providers, emit_event);
//
//   GPUCR_ASSIGN_OR_RETURN(internal::OperationGuard guard, internal::OperationGuard::Acquire("suspend"));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dag/agent.h"
#include "dag/image.h"
#include "dag/status.h"

namespace gpucr::agent::internal {

// Creates `dir` with mode 0700 if missing; otherwise requires a real directory (not a link)
// owned by this euid with no group/other permission. kPermissionDenied names what is wrong.
Status EnsurePrivateDir(const std::string& dir);

// A copy of the registered providers, in registration order.
std::vector<Provider> ProvidersSnapshot();

// Sends one progress event line to the requesting client (best effort).
using EmitFn = std::function<void(const nlohmann::json& event)>;

// Executes one request ({"cmd": ...}) against `providers`; the result object or an error.
Result<nlohmann::json> HandleRequest(const nlohmann::json& request, const std::vector<Provider>& providers,
                                     const EmitFn& emit);

// This process, as reported by hello/describe and recorded in manifests.
struct SelfInfo {
    int pid = 0;
    std::string exe;
    nlohmann::json cmdline = nlohmann::json::array();
    std::string host;
};
SelfInfo ReadSelfInfo();

// At most one dump, suspend, resume or migrate runs in a process at a time; other commands are
// served meanwhile. Keyed by pid, so a fork() child of a process in the middle of one is free.
class OperationGuard {
public:
    // kFailedPrecondition "a <running op> of this process is already running".
    static Result<OperationGuard> Acquire(const char* name);
    OperationGuard(OperationGuard&& other) noexcept;
    OperationGuard& operator=(OperationGuard&&) = delete;
    ~OperationGuard();

private:
    OperationGuard() = default;
    bool held_ = false;
};

// The image a suspended process resumes from by default. `temporary`: made by migrate (in
// memory), deleted once the process has resumed.
// `id`: the manifest's "suspend_id", so that an image of an earlier suspend is refused.
struct SuspendRecord {
    std::string dir;
    bool temporary = false;
    std::string id;
};
std::optional<SuspendRecord> RememberedSuspend();
void RememberSuspend(SuspendRecord record);
void ForgetSuspend();

// Forwards provider progress to the client, at most every 100 ms per phase (a phase change and
// a phase's last event always go through). Thread-safe.
class ProgressThrottle {
public:
    explicit ProgressThrottle(const EmitFn& emit) : emit_(emit) {}
    void operator()(std::string_view phase, uint64_t done, uint64_t total);
    ProgressFn Fn() {
        return [this](std::string_view phase, uint64_t done, uint64_t total) { (*this)(phase, done, total); };
    }

private:
    const EmitFn& emit_;
    std::mutex mu_;
    std::string last_phase_;
    std::chrono::steady_clock::time_point last_emit_{};
};

// Helpers shared by dump and suspend (agent_commands.cpp).
double MsSince(std::chrono::steady_clock::time_point start);
bool OneOf(const std::string& v, std::initializer_list<const char*> allowed);
nlohmann::json ApiNames(const std::vector<Provider>& providers);
// Registered providers selected by a request's "backend" (auto: all); kFailedPrecondition when
// none is. Does not check which entry points they have.
Result<std::vector<Provider>> SelectProviders(const std::vector<Provider>& providers, const std::string& backend);
// Calls one provider entry point, prefixing its error with the API name and turning an
// exception into kInternal.
Result<nlohmann::json> CallProvider(const Provider& p, const char* what,
                                    const std::function<Result<nlohmann::json>()>& call);
// The image's "stats": wall time, bytes, and the sections' held times and threads.
nlohmann::json MakeStats(double wall_ms, const image::ImageWriter& writer, const nlohmann::json& sections);
// The manifest of an image the agent writes (source process, mode, APIs, sections, stats).
nlohmann::json ImageManifest(const std::string& mode, const std::vector<Provider>& selected,
                             const nlohmann::json& sections, nlohmann::json stats);

// True while the process is suspended: an image is remembered or a provider says so.
bool IsSuspended(const std::vector<Provider>& providers);

// The outcome of the last resume whose request carried a "nonce" ({nonce, ok, result|error}),
// null when none has finished (agent_suspend.cpp).
nlohmann::json LastResume();

// suspend, resume, migrate (agent_suspend.cpp). t0_ns: CLOCK_MONOTONIC when the request arrived.
Result<nlohmann::json> Suspend(const nlohmann::json& request, const std::vector<Provider>& providers,
                               const EmitFn& emit);
Result<nlohmann::json> Resume(const nlohmann::json& request, const std::vector<Provider>& providers, const EmitFn& emit,
                              int64_t t0_ns);
Result<nlohmann::json> Migrate(const nlohmann::json& request, const std::vector<Provider>& providers,
                               const EmitFn& emit, int64_t t0_ns);
int64_t MonotonicNs();

}  // namespace gpucr::agent::internal
