// The agent's suspend, resume and migrate commands (docs/protocol.md).
//
// suspend writes an image as dump does, and each front-end then releases its driver objects
// while the application lives on (its API calls wait); the agent remembers the image. resume
// checks that the image belongs to this process and this suspend and verifies every chunk
// before any front-end touches it, then has each suspended front-end re-create its state, on
// another device if asked. migrate is a suspend into a temporary in-memory image followed by a
// resume on another device, falling back to the original device when that fails.
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "dag/agent.h"
#include "dag/agent_internal.h"
#include "dag/image.h"
#include "dag/log.h"

namespace gpucr::agent::internal {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kCowRefusal =
    "suspend needs the image to show the moment the process stops: use --mode dirty (default) or stop";

struct SuspendArgs {
    std::string dir;  // empty: migrate into a temporary directory
    std::string mode = "dirty";
    std::string backend = "auto";
    bool compress = false;
    bool fsync = true;  // false: the client makes the image durable itself (gpucr's CRIU plugin)
};

struct ResumeArgs {
    std::string dir;            // empty: the remembered image
    std::optional<int> device;  // empty: the original device
    bool eager = false;
};

Status CheckAbsolute(const std::string& dir) {
    if (dir.front() != '/') return InvalidArgument("image directory must be an absolute path");
    return Status::Ok();
}

Result<SuspendArgs> ParseSuspendArgs(const json& req, bool dir_required) {
    SuspendArgs a;
    try {
        a.dir = req.value("dir", std::string());
        a.mode = req.value("mode", a.mode);
        a.backend = req.value("backend", a.backend);
        a.compress = req.value("compress", false);
        a.fsync = req.value("fsync", true);
    } catch (const std::exception& e) {
        return InvalidArgument(std::string("malformed request: ") + e.what());
    }
    if (a.dir.empty() && dir_required) return InvalidArgument("image directory must be an absolute path");
    if (!a.dir.empty()) GPUCR_RETURN_IF_ERROR(CheckAbsolute(a.dir));
    if (a.mode == "cow") return InvalidArgument(kCowRefusal);
    if (!OneOf(a.mode, {"dirty", "stop"})) return InvalidArgument("unknown suspend mode \"" + a.mode + "\"");
    if (!OneOf(a.backend, {"auto", "vulkan", "opencl", "cuda"})) {
        return InvalidArgument("unknown backend \"" + a.backend + "\"");
    }
    return a;
}

Result<ResumeArgs> ParseResumeArgs(const json& req, bool device_required) {
    ResumeArgs a;
    try {
        a.dir = req.value("dir", std::string());
        a.eager = req.value("eager", false);
    } catch (const std::exception& e) {
        return InvalidArgument(std::string("malformed request: ") + e.what());
    }
    if (!a.dir.empty()) GPUCR_RETURN_IF_ERROR(CheckAbsolute(a.dir));
    auto device = req.find("device");
    if (device == req.end() || device->is_null()) {
        if (device_required) return InvalidArgument("migrate needs a \"device\"");
        return a;
    }
    bool index = device->is_number_unsigned() || (device->is_number_integer() && device->get<int64_t>() >= 0);
    if (!index || device->get<uint64_t>() > INT_MAX) {
        return InvalidArgument("\"device\" must be a device index (an integer >= 0)");
    }
    a.device = device->get<int>();
    return a;
}

// Every selected API must be able to come back before any of them is suspended.
Result<std::vector<Provider>> SelectSuspendable(const std::vector<Provider>& providers, const std::string& backend) {
    GPUCR_ASSIGN_OR_RETURN(std::vector<Provider> selected, SelectProviders(providers, backend));
    for (const Provider& p : selected) {
        if (!p.suspend || !p.resume) return Unsupported(p.api + " state cannot be suspended by this build");
    }
    return selected;
}

Status CheckNotSuspended(const std::vector<Provider>& providers) {
    if (std::optional<SuspendRecord> r = RememberedSuspend()) {
        return FailedPrecondition("process is already suspended (image " + r->dir + ")");
    }
    if (IsSuspended(providers)) return FailedPrecondition("process is already suspended");
    return Status::Ok();
}

std::string NewSuspendId() {
    std::random_device rd;
    std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(MonotonicNs()));
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(gen()));
    return buf;
}

bool Suspended(const Provider& p) {
    try {
        return !p.suspended || p.suspended();
    } catch (...) {
        return true;
    }
}

Result<json> CallResume(const Provider& p, const image::ImageReader& reader, const json& section, const json& request,
                        const ProgressFn& progress) {
    return CallProvider(p, "resume", [&] { return p.resume(reader, section, request, progress); });
}

// Removes a committed image again. An empty directory given by the client stays (as it was).
void RemoveImage(const std::string& dir, bool keep_dir) {
    std::error_code ec;
    if (!keep_dir) {
        fs::remove_all(dir, ec);
        return;
    }
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) fs::remove_all(e.path(), ec);
}

// A later API refused to suspend after earlier ones had released their objects: commit what
// those wrote and resume them from it, so that the process runs as before.
Status ResumeEarlier(const std::vector<Provider>& done, image::ImageWriter& writer, json manifest,
                     const ProgressFn& progress) {
    GPUCR_RETURN_IF_ERROR(writer.Commit(std::move(manifest)));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<image::ImageReader> reader, image::ImageReader::Open(writer.target_dir()));
    json request = {{"cmd", "resume"}, {"eager", true}, {"t0_ns", MonotonicNs()}};
    const json& sections = reader->manifest()["sections"];
    for (size_t i = 0; i < done.size(); ++i) {
        GPUCR_RETURN_IF_ERROR(CallResume(done[i], *reader, sections[i], request, progress).status());
    }
    return Status::Ok();
}

json SuspendManifest(const std::string& mode, const std::vector<Provider>& apis, const json& sections,
                     const image::ImageWriter& writer, Clock::time_point start, const std::string& id) {
    json manifest = ImageManifest(mode, apis, sections, MakeStats(MsSince(start), writer, sections));
    manifest["suspend"] = true;
    manifest["suspend_id"] = id;
    return manifest;
}

bool TwoPhase(const Provider& p) { return p.release && p.cancel; }

// Lets held applications continue (two-phase providers whose image will not be committed).
void CancelAll(const std::vector<Provider>& providers) {
    for (const Provider& p : providers) {
        try {
            p.cancel();
        } catch (const std::exception& e) {
            GPUCR_LOG_ERROR("agent", "{}: cancelling the suspend failed: {}", p.api, e.what());
        }
    }
}

// After `refusal` by a later API: brings back the APIs in `done` and removes their image. Returns
// the error to report; when they cannot be brought back, the image stays, remembered.
Status UndoPartialSuspend(const Status& refusal, const std::vector<Provider>& done, image::ImageWriter& writer,
                          json manifest, const SuspendRecord& record, bool keep_dir, const ProgressFn& progress) {
    Status back = ResumeEarlier(done, writer, std::move(manifest), progress);
    if (back.ok()) {
        RemoveImage(record.dir, keep_dir);
        return refusal;
    }
    writer.Abort();
    std::error_code ec;
    bool kept = fs::exists(record.dir + "/manifest.json", ec);
    if (kept) RememberSuspend(record);
    return Status(refusal.code(), refusal.message() + "; bringing back what was suspended failed: " + back.message() +
                                      (kept ? "; the process stays suspended (image " + record.dir + ")"
                                            : "; the process stays suspended and cannot resume"));
}

// Writes the image at args.dir and suspends every selected API into it; on success the process
// is suspended and the image remembered. On failure every API runs as before and no image is
// left, except when an API suspended earlier cannot be brought back (see UndoPartialSuspend).
Result<json> SuspendInto(const SuspendArgs& args, bool temporary, const std::vector<Provider>& selected,
                         const json& request, const ProgressFn& progress) {
    Clock::time_point start = Clock::now();
    std::error_code ec;
    bool existed = fs::exists(args.dir, ec);
    image::WriterOptions options;
    options.compress = args.compress;
    options.fsync = !temporary && args.fsync;  // an in-memory image never outlives the process
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<image::ImageWriter> writer, image::ImageWriter::Create(args.dir, options));
    json provider_request = request;
    provider_request["dir"] = args.dir;
    provider_request["mode"] = args.mode;
    SuspendRecord record{args.dir, temporary, NewSuspendId()};
    json sections = json::array();
    std::vector<Provider> done;
    for (const Provider& p : selected) {
        Result<json> section =
            CallProvider(p, "suspend", [&] { return p.suspend(*writer, provider_request, progress); });
        if (!section.ok()) {
            GPUCR_LOG_WARN("agent", "suspend to {} failed: {}", args.dir, section.status().message());
            if (done.empty()) {
                writer->Abort();
                return section.status();
            }
            if (std::all_of(done.begin(), done.end(), TwoPhase)) {
                CancelAll(done);
                writer->Abort();
                return section.status();
            }
            return UndoPartialSuspend(section.status(), done, *writer,
                                      SuspendManifest(args.mode, done, sections, *writer, start, record.id), record,
                                      existed, progress);
        }
        sections.push_back(std::move(section).value());
        done.push_back(p);
    }
    Status committed = writer->Commit(SuspendManifest(args.mode, selected, sections, *writer, start, record.id));
    if (!committed.ok() && std::all_of(selected.begin(), selected.end(), TwoPhase)) {
        // Nothing was released yet: the application simply continues.
        CancelAll(selected);
        writer->Abort();
        return Status(committed.code(), "suspend: writing the image failed: " + committed.message() +
                                            "; the process continues as before");
    }
    if (!committed.ok()) {
        // The APIs have released their objects and their image is lost: nothing can resume them.
        GPUCR_LOG_ERROR("agent", "suspend: image {} lost after the APIs released their objects: {}", args.dir,
                        committed.message());
        return Status(committed.code(), "suspend: writing the image failed after the process was suspended: " +
                                            committed.message() + "; the process cannot resume");
    }
    RememberSuspend(record);
    // Only now, with the image safe, do two-phase APIs let their objects go.
    json released = json::object();
    for (const Provider& p : selected) {
        if (!TwoPhase(p)) continue;
        Result<json> r = CallProvider(p, "release", [&] { return p.release(); });
        if (!r.ok()) {
            return Status(r.status().code(), "suspend: " + r.status().message() + "; the process is suspended (image " +
                                                 args.dir + ")");
        }
        released[p.api] = std::move(r).value();
    }
    json stats = MakeStats(MsSince(start), *writer, sections);
    if (!released.empty()) stats["release"] = std::move(released);
    return json{{"image", writer->target_dir()}, {"mode", args.mode}, {"apis", ApiNames(selected)}, {"stats", stats}};
}

// The image must be a suspend image of this process, of its current suspend when one is known.
Status CheckImageSource(const image::ImageReader& reader, const std::optional<SuspendRecord>& record) {
    const json& m = reader.manifest();
    const std::string& dir = reader.dir();
    json source_pid = m.contains("source") && m["source"].is_object() ? m["source"].value("pid", json()) : json();
    if (!source_pid.is_number_integer()) return DataLoss(dir + "/manifest.json: no source process id");
    if (source_pid.get<int64_t>() != ::getpid()) {
        return FailedPrecondition("image " + dir + " was taken from process " + source_pid.dump() + ", not this one");
    }
    if (!m.value("suspend", false)) {
        return FailedPrecondition("image " + dir +
                                  " was written by dump, not suspend: it is not where this process stopped");
    }
    if (record && !record->id.empty() && m.value("suspend_id", std::string()) != record->id) {
        return FailedPrecondition("image " + dir + " is from an earlier suspend of this process, not the current one");
    }
    return Status::Ok();
}

struct Target {
    Provider provider;
    json section;
};

// The suspended APIs and their sections. An API that has resumed already (an earlier partial
// resume) is left alone.
Result<std::vector<Target>> MatchSections(const image::ImageReader& reader, const std::vector<Provider>& providers) {
    const json& m = reader.manifest();
    const std::string& dir = reader.dir();
    if (!m.contains("sections") || !m["sections"].is_array()) return DataLoss(dir + "/manifest.json: no sections");
    std::vector<Target> targets;
    for (const json& section : m["sections"]) {
        std::string api = section.is_object() ? section.value("api", std::string()) : std::string();
        auto p = std::find_if(providers.begin(), providers.end(), [&](const Provider& x) { return x.api == api; });
        if (p == providers.end()) {
            return FailedPrecondition("image " + dir + " holds " + api + " state, but the process does not use " + api);
        }
        if (!Suspended(*p)) continue;
        if (!p->resume) return Unsupported(api + " state cannot be resumed by this build");
        targets.push_back({*p, section});
    }
    for (const Provider& p : providers) {
        bool has =
            std::any_of(targets.begin(), targets.end(), [&](const Target& t) { return t.provider.api == p.api; });
        if (!has && p.suspended && Suspended(p)) {
            return FailedPrecondition("image " + dir + " holds no " + p.api + " state, but " + p.api + " is suspended");
        }
    }
    return targets;
}

// Verifies the whole image, then resumes each suspended API from it. The process stays
// suspended when this fails before an API has resumed.
Result<json> ResumeFrom(const std::string& dir, const ResumeArgs& args, const std::vector<Provider>& providers,
                        const json& request, const ProgressFn& progress, int64_t t0_ns) {
    Clock::time_point start = Clock::now();
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<image::ImageReader> reader, image::ImageReader::Open(dir));
    GPUCR_RETURN_IF_ERROR(CheckImageSource(*reader, RememberedSuspend()));
    GPUCR_ASSIGN_OR_RETURN(std::vector<Target> targets, MatchSections(*reader, providers));
    Clock::time_point verify_start = Clock::now();
    // "verified": the client has just verified every chunk (gpucr restore does, before CRIU
    // starts the process); each chunk is still checked against its hash as it loads.
    if (!request.value("verified", false)) {
        GPUCR_RETURN_IF_ERROR(
            reader->VerifyAll([&](uint64_t done, uint64_t total) { progress("verify", done, total); }));
    }
    json stats = {{"verify_ms", MsSince(verify_start)}};

    json provider_request = request;
    provider_request["eager"] = args.eager;
    provider_request["t0_ns"] = t0_ns;
    provider_request.erase("device");
    if (args.device) provider_request["device"] = *args.device;
    json apis = json::array();
    for (const Target& t : targets) {
        Result<json> api_stats = CallResume(t.provider, *reader, t.section, provider_request, progress);
        if (!api_stats.ok()) {
            if (apis.empty()) return api_stats.status();
            return Status(api_stats.status().code(), api_stats.status().message() + " (" + apis.dump() +
                                                         " resumed; the rest of the process stays suspended)");
        }
        stats[t.provider.api] = api_stats->is_object() ? std::move(api_stats).value() : json::object();
        apis.push_back(t.provider.api);
    }
    stats["wall_ms"] = MsSince(start);
    return json{{"image", dir},
                {"device", args.device ? json(*args.device) : json(nullptr)},
                {"eager", args.eager},
                {"apis", apis},
                {"stats", stats}};
}

// The process has resumed: forget its image, deleting it if it was a temporary one.
void Forget(const std::optional<SuspendRecord>& record) {
    ForgetSuspend();
    if (record && record->temporary) {
        std::error_code ec;
        fs::remove_all(record->dir, ec);
    }
}

// Bytes free for an unprivileged writer under `dir`, 0 when unknown.
uint64_t FreeBytes(const std::string& dir) {
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

// What the providers say the process holds (their describe "bytes").
uint64_t StateBytes(const std::vector<Provider>& providers) {
    uint64_t bytes = 0;
    for (const Provider& p : providers) {
        try {
            if (p.describe) bytes += p.describe().value("bytes", uint64_t{0});
        } catch (...) {
        }
    }
    return bytes;
}

// A fresh directory for a migrate's image, in memory (/dev/shm) when it has room for `need`
// bytes (a container's /dev/shm is often 64 MiB), else in the runtime directory; removed when
// this goes out of scope unless kept.
class TempImageDir {
public:
    static Result<std::unique_ptr<TempImageDir>> Create(uint64_t need) {
        std::string name = "/gpucr-migrate-" + std::to_string(::getpid()) + "-XXXXXX";
        std::vector<std::string> parents;
        if (FreeBytes("/dev/shm") > need + need / 8 + (64ull << 20)) parents.push_back("/dev/shm");
        if (Result<std::string> rt = RuntimeDir(); rt.ok()) parents.push_back(*rt);
        for (const std::string& parent : parents) {
            std::string path = parent + name;
            if (::mkdtemp(path.data()) != nullptr) return std::unique_ptr<TempImageDir>(new TempImageDir(path));
        }
        return ErrnoError("cannot create a temporary image directory in /dev/shm or the runtime directory", errno);
    }
    ~TempImageDir() {
        if (keep_) return;
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    void Keep() { keep_ = true; }

private:
    explicit TempImageDir(std::string path) : path_(std::move(path)) {}
    std::string path_;
    bool keep_ = false;
};

// Migrate's resume on the new device failed: resume the process where it was. Returns the error
// to report. Should that fail too, the image stays (a temporary one included) for a later resume.
Status ResumeOnOriginal(const Status& failed, const std::string& dir, ResumeArgs args,
                        const std::vector<Provider>& providers, const json& request, const ProgressFn& progress,
                        TempImageDir* temp) {
    std::string why = "migrate to device " + std::to_string(*args.device) + " failed: " + failed.message();
    GPUCR_LOG_WARN("agent", "{}; resuming on the original device", why);
    std::optional<SuspendRecord> record = RememberedSuspend();
    args.device.reset();
    Result<json> back = ResumeFrom(dir, args, providers, request, progress, MonotonicNs());
    if (!back.ok()) {
        if (temp != nullptr) temp->Keep();  // gpucr resume deletes it
        return Status(failed.code(), why + "; resuming on the original device failed too: " + back.status().message() +
                                         "; the process stays suspended (image " + dir + ")");
    }
    Forget(record);
    return Status(failed.code(), why + "; the process continues on its original device");
}

}  // namespace

Result<json> Suspend(const json& request, const std::vector<Provider>& providers, const EmitFn& emit) {
    GPUCR_ASSIGN_OR_RETURN(SuspendArgs args, ParseSuspendArgs(request, /*dir_required=*/true));
    GPUCR_ASSIGN_OR_RETURN(std::vector<Provider> selected, SelectSuspendable(providers, args.backend));
    GPUCR_ASSIGN_OR_RETURN(OperationGuard guard, OperationGuard::Acquire("suspend"));
    GPUCR_RETURN_IF_ERROR(CheckNotSuspended(providers));
    ProgressThrottle throttle(emit);
    return SuspendInto(args, /*temporary=*/false, selected, request, throttle.Fn());
}

namespace {

std::mutex g_last_resume_mu;
json g_last_resume;  // null until a resume request with a "nonce" has finished

// Remembers the outcome of a resume that asked for it (docs/protocol.md "nonce"): a resume
// posted by gpucr's CRIU plugin has nobody reading its reply, so gpucr finds it in describe.
void RecordResume(const json& request, const Result<json>& outcome) {
    auto nonce = request.find("nonce");
    if (nonce == request.end() || !nonce->is_string() || nonce->get_ref<const std::string&>().empty()) return;
    json record = {{"nonce", *nonce}, {"ok", outcome.ok()}};
    if (outcome.ok()) {
        record["result"] = *outcome;
    } else {
        record["error"] = outcome.status().message();
    }
    std::lock_guard lock(g_last_resume_mu);
    g_last_resume = std::move(record);
}

Result<json> ResumeImpl(const json& request, const std::vector<Provider>& providers, const EmitFn& emit,
                        int64_t t0_ns) {
    GPUCR_ASSIGN_OR_RETURN(ResumeArgs args, ParseResumeArgs(request, /*device_required=*/false));
    GPUCR_ASSIGN_OR_RETURN(OperationGuard guard, OperationGuard::Acquire("resume"));
    std::optional<SuspendRecord> record = RememberedSuspend();
    if (!record && !IsSuspended(providers)) return FailedPrecondition("process is not suspended");
    std::string dir = !args.dir.empty() ? args.dir : record ? record->dir : std::string();
    if (dir.empty()) return FailedPrecondition("the process is suspended, but its image is not known: name it");
    ProgressThrottle throttle(emit);
    GPUCR_ASSIGN_OR_RETURN(json result, ResumeFrom(dir, args, providers, request, throttle.Fn(), t0_ns));
    Forget(record);
    return result;
}

}  // namespace

Result<json> Resume(const json& request, const std::vector<Provider>& providers, const EmitFn& emit, int64_t t0_ns) {
    Result<json> outcome = ResumeImpl(request, providers, emit, t0_ns);
    RecordResume(request, outcome);
    return outcome;
}

json LastResume() {
    std::lock_guard lock(g_last_resume_mu);
    return g_last_resume;
}

Result<json> Migrate(const json& request, const std::vector<Provider>& providers, const EmitFn& emit, int64_t t0_ns) {
    Clock::time_point start = Clock::now();
    GPUCR_ASSIGN_OR_RETURN(SuspendArgs sargs, ParseSuspendArgs(request, /*dir_required=*/false));
    GPUCR_ASSIGN_OR_RETURN(ResumeArgs rargs, ParseResumeArgs(request, /*device_required=*/true));
    GPUCR_ASSIGN_OR_RETURN(std::vector<Provider> selected, SelectSuspendable(providers, sargs.backend));
    GPUCR_ASSIGN_OR_RETURN(OperationGuard guard, OperationGuard::Acquire("migrate"));
    GPUCR_RETURN_IF_ERROR(CheckNotSuspended(providers));
    bool given_dir = !sargs.dir.empty();
    std::unique_ptr<TempImageDir> temp;
    if (!given_dir) {
        GPUCR_ASSIGN_OR_RETURN(temp, TempImageDir::Create(StateBytes(selected)));
        sargs.dir = temp->path();
    }
    ProgressThrottle throttle(emit);
    ProgressFn progress = throttle.Fn();
    Result<json> suspended = SuspendInto(sargs, /*temporary=*/!given_dir, selected, request, progress);
    if (!suspended.ok()) {
        if (temp && RememberedSuspend()) temp->Keep();  // the process needs it to resume
        return suspended.status();
    }
    std::optional<SuspendRecord> record = RememberedSuspend();
    Result<json> resumed = ResumeFrom(sargs.dir, rargs, providers, request, progress, t0_ns);
    if (!resumed.ok()) {
        return ResumeOnOriginal(resumed.status(), sargs.dir, rargs, providers, request, progress, temp.get());
    }
    Forget(record);
    json result = {
        {"device", *rargs.device},
        {"mode", sargs.mode},
        {"eager", rargs.eager},
        {"apis", (*resumed)["apis"]},
        {"stats", {{"suspend", (*suspended)["stats"]}, {"resume", (*resumed)["stats"]}, {"wall_ms", MsSince(start)}}}};
    if (given_dir) result["image"] = sargs.dir;
    return result;
}

}  // namespace gpucr::agent::internal
