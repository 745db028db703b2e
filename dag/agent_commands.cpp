// The agent's commands: hello, describe, dump, and the helpers dump shares with suspend
// (agent_suspend.cpp). One request in, one result (or error) out.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dag/agent.h"
#include "dag/agent_internal.h"
#include "dag/image.h"
#include "dag/log.h"
#include "dag/protocol.h"
#include "dag/version.h"

namespace gpucr::agent {
namespace internal {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kProgressInterval = std::chrono::milliseconds(100);

struct DumpRequest {
    std::string dir;
    std::string mode = "cow";
    std::string backend = "auto";
    bool compress = false;
};

std::string ReadFile(const char* path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

json Hello(const std::vector<Provider>& providers) {
    SelfInfo self = ReadSelfInfo();
    return {{"pid", self.pid}, {"exe", self.exe}, {"apis", ApiNames(providers)}, {"gpucr_version", GPUCR_VERSION}};
}

json Describe(const std::vector<Provider>& providers) {
    SelfInfo self = ReadSelfInfo();
    json apis = json::object();
    for (const Provider& p : providers) {
        try {
            apis[p.api] = p.describe ? p.describe() : json::object();
        } catch (const std::exception& e) {
            apis[p.api] = {{"error", e.what()}};
        }
    }
    json result = {{"pid", self.pid},
                   {"exe", self.exe},
                   {"cmdline", self.cmdline},
                   {"apis", std::move(apis)},
                   {"suspended", IsSuspended(providers)}};
    if (std::optional<SuspendRecord> record = RememberedSuspend()) result["image"] = record->dir;
    if (json last = LastResume(); !last.is_null()) result["last_resume"] = std::move(last);
    return result;
}

Result<DumpRequest> ParseDumpRequest(const json& req) {
    DumpRequest r;
    try {
        r.dir = req.value("dir", std::string());
        r.mode = req.value("mode", r.mode);
        r.backend = req.value("backend", r.backend);
        r.compress = req.value("compress", false);
    } catch (const std::exception& e) {
        return InvalidArgument(std::string("malformed dump request: ") + e.what());
    }
    if (r.dir.empty() || r.dir.front() != '/') return InvalidArgument("dump directory must be an absolute path");
    if (!OneOf(r.mode, {"cow", "dirty", "stop"})) return InvalidArgument("unknown dump mode \"" + r.mode + "\"");
    if (!OneOf(r.backend, {"auto", "vulkan", "opencl", "cuda"})) {
        return InvalidArgument("unknown backend \"" + r.backend + "\"");
    }
    return r;
}

double NumberOr0(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

Result<json> Dump(const json& request, const std::vector<Provider>& providers, const EmitFn& emit) {
    Clock::time_point start = Clock::now();
    GPUCR_ASSIGN_OR_RETURN(DumpRequest req, ParseDumpRequest(request));
    GPUCR_ASSIGN_OR_RETURN(std::vector<Provider> selected, SelectProviders(providers, req.backend));
    for (const Provider& p : selected) {
        if (!p.dump) return Unsupported(p.api + " state cannot be dumped by this build");
    }
    GPUCR_ASSIGN_OR_RETURN(OperationGuard guard, OperationGuard::Acquire("dump"));
    if (IsSuspended(providers)) {
        std::optional<SuspendRecord> record = RememberedSuspend();
        return FailedPrecondition("process is suspended" + (record ? " (image " + record->dir + ")" : std::string()) +
                                  ": resume it first");
    }
    image::WriterOptions options;
    options.compress = req.compress;
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<image::ImageWriter> writer, image::ImageWriter::Create(req.dir, options));

    ProgressThrottle throttle(emit);
    ProgressFn progress = throttle.Fn();
    json sections = json::array();
    for (const Provider& p : selected) {
        Result<json> section = CallProvider(p, "dump", [&] { return p.dump(*writer, request, progress); });
        if (!section.ok()) {
            writer->Abort();
            GPUCR_LOG_WARN("agent", "dump to {} failed: {}", req.dir, section.status().message());
            return section.status();
        }
        sections.push_back(std::move(section).value());
    }
    Status committed =
        writer->Commit(ImageManifest(req.mode, selected, sections, MakeStats(MsSince(start), *writer, sections)));
    if (!committed.ok()) {
        writer->Abort();
        return committed;
    }
    return json{{"image", writer->target_dir()},
                {"mode", req.mode},
                {"apis", ApiNames(selected)},
                {"stats", MakeStats(MsSince(start), *writer, sections)}};
}

}  // namespace

void ProgressThrottle::operator()(std::string_view phase, uint64_t done, uint64_t total) {
    std::lock_guard lock(mu_);
    Clock::time_point now = Clock::now();
    bool edge = phase != last_phase_ || done >= total;
    if (!edge && now - last_emit_ < kProgressInterval) return;
    last_phase_ = std::string(phase);
    last_emit_ = now;
    if (emit_) emit_(protocol::ProgressEvent(phase, done, total));
}

double MsSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int64_t MonotonicNs() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; });
}

json ApiNames(const std::vector<Provider>& providers) {
    json apis = json::array();
    for (const Provider& p : providers) apis.push_back(p.api);
    return apis;
}

Result<std::vector<Provider>> SelectProviders(const std::vector<Provider>& providers, const std::string& backend) {
    std::vector<Provider> selected;
    for (const Provider& p : providers) {
        if (backend == "auto" || p.api == backend) selected.push_back(p);
    }
    if (selected.empty()) {
        if (backend == "auto") return FailedPrecondition("process uses no GPU API that gpucr captures");
        return FailedPrecondition("process does not use " + backend);
    }
    return selected;
}

Result<json> CallProvider(const Provider& p, const char* what, const std::function<Result<json>()>& call) {
    try {
        Result<json> out = call();
        if (!out.ok()) return Status(out.status().code(), p.api + ": " + out.status().message());
        return out;
    } catch (const std::exception& e) {
        return Internal(p.api + ": " + what + " failed: " + e.what());
    }
}

json MakeStats(double wall_ms, const image::ImageWriter& writer, const json& sections) {
    double held_max = 0;
    double held_total = 0;
    double capture_ms = 0;
    json threads = json::array();
    for (const json& section : sections) {
        if (!section.is_object() || !section.contains("stats") || !section["stats"].is_object()) continue;
        const json& st = section["stats"];
        held_max = std::max(held_max, NumberOr0(st, "held_max_ms"));
        held_total += NumberOr0(st, "held_total_ms");
        capture_ms = std::max(capture_ms, NumberOr0(st, "capture_ms"));
        if (st.contains("threads") && st["threads"].is_array()) {
            for (const json& t : st["threads"]) threads.push_back(t);
        }
    }
    uint64_t raw = writer.bytes_raw();
    double seconds = wall_ms / 1000.0;
    double mib_s = seconds > 0 ? static_cast<double>(raw) / (1024.0 * 1024.0) / seconds : 0.0;
    return {{"wall_ms", wall_ms},        {"bytes_raw", raw},        {"bytes_stored", writer.bytes_stored()},
            {"throughput_mib_s", mib_s}, {"held_max_ms", held_max}, {"held_total_ms", held_total},
            {"capture_ms", capture_ms},  {"threads", threads}};
}

json ImageManifest(const std::string& mode, const std::vector<Provider>& selected, const json& sections, json stats) {
    SelfInfo self = ReadSelfInfo();
    return {
        {"source", {{"host", self.host}, {"pid", self.pid}, {"exe", self.exe}, {"cmdline", self.cmdline}}},
        {"mode", mode},
        {"apis", ApiNames(selected)},
        {"sections", sections},
        {"stats", std::move(stats)},
    };
}

bool IsSuspended(const std::vector<Provider>& providers) {
    if (RememberedSuspend().has_value()) return true;
    for (const Provider& p : providers) {
        try {
            if (p.suspended && p.suspended()) return true;
        } catch (...) {
        }
    }
    return false;
}

SelfInfo ReadSelfInfo() {
    SelfInfo info;
    info.pid = ::getpid();
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n > 0) info.exe.assign(buf, static_cast<size_t>(n));
    std::string raw = ReadFile("/proc/self/cmdline");
    size_t pos = 0;
    while (pos < raw.size()) {
        size_t end = raw.find('\0', pos);
        if (end == std::string::npos) end = raw.size();
        info.cmdline.push_back(raw.substr(pos, end - pos));
        pos = end + 1;
    }
    if (::gethostname(buf, sizeof(buf)) == 0) {
        buf[sizeof(buf) - 1] = '\0';
        info.host = buf;
    }
    return info;
}

Result<json> HandleRequest(const json& request, const std::vector<Provider>& providers, const EmitFn& emit) {
    int64_t t0_ns = MonotonicNs();  // first: resume's times count from the request's arrival
    auto cmd = request.find("cmd");
    if (cmd == request.end() || !cmd->is_string()) return InvalidArgument("request has no \"cmd\" string");
    const std::string& name = cmd->get_ref<const std::string&>();
    if (name == "hello") return Hello(providers);
    if (name == "describe") return Describe(providers);
    if (name == "dump") return Dump(request, providers, emit);
    if (name == "suspend") return Suspend(request, providers, emit);
    if (name == "resume") return Resume(request, providers, emit, t0_ns);
    if (name == "migrate") return Migrate(request, providers, emit, t0_ns);
    return InvalidArgument("unknown command \"" + name + "\"");
}

}  // namespace internal
}  // namespace gpucr::agent
