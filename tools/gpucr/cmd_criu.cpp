// Process checkpoints through CRIU: `gpucr dump PID -D DIR` (without --gpu-only) and
// `gpucr restore -D DIR` (docs/criu.md).
//
// A dump runs CRIU with gpucr's plugin: the plugin has the process's agent suspend its GPU state
// into DIR/gpu-<pid> (copied while the application runs, then the application's GPU calls are
// held and every driver object released) before CRIU freezes and dumps the process. gpucr then
// writes DIR/gpucr-dump.json, last: without it the directory is not a complete image. A restore
// verifies the GPU image, has CRIU restore the process (the plugin asks the agent to re-create
// the GPU objects as the process starts running) and waits for the agent to report it.
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dag/image.h"
#include "dag/image_fs.h"
#include "dag/protocol.h"
#include "tools/gpucr/cli_util.h"
#include "tools/gpucr/client.h"
#include "tools/gpucr/cmd_process.h"
#include "tools/gpucr/criu.h"
#include "tools/gpucr/progress_line.h"

namespace gpucr::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kMarker = "gpucr-dump.json";
constexpr const char* kMarkerFormat = "gpucr-process-image";
constexpr int kMarkerVersion = 1;
constexpr int kResumeWaitS = 300;

double MsSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A /proc entry (its size reads 0, so it is read to its end), empty when it cannot be read.
std::string ReadProc(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The process's session id (field 6 of /proc/PID/stat); 0 when unknown.
int SessionOf(int pid) {
    std::string stat = ReadProc("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    int ppid = 0, pgrp = 0, session = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) return 0;
    return session;
}

std::string CommOf(int pid) {
    std::string comm = ReadProc("/proc/" + std::to_string(pid) + "/comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
}

// What fds 0-2 of the process refer to ("pipe:[123]", "/dev/null", "/dev/pts/1").
json StdioOf(int pid) {
    json stdio = json::array();
    for (int fd = 0; fd <= 2; ++fd) {
        std::error_code ec;
        fs::path target = fs::read_symlink("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd), ec);
        if (!ec) stdio.push_back({{"fd", fd}, {"target", target.string()}});
    }
    return stdio;
}

// Written under a temporary name, fsynced, renamed into place, the directory flushed.
Status WriteFileSynced(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    GPUCR_RETURN_IF_ERROR(image::fs::WriteFile(tmp, text, /*fsync=*/true));
    if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp, errno);
    return image::fs::FsyncDir(fs::path(path).parent_path().string());
}

// Lines the plugin appended to its report file (agent events and replies, its own requests).
class Report {
public:
    explicit Report(std::string path) : path_(std::move(path)) {}
    const std::string& path() const { return path_; }
    std::vector<json> Lines() const {
        std::vector<json> out;
        std::ifstream in(path_);
        std::string line;
        while (std::getline(in, line)) {
            json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (j.is_object()) out.push_back(std::move(j));
        }
        return out;
    }
    // The agent's reply to the suspend (null when there was none).
    json SuspendReply() const {
        for (const json& j : Lines()) {
            if (j.contains("ok")) return j;
        }
        return nullptr;
    }

private:
    std::string path_;
};

// Shows the agent's progress events from the report file on the terminal while CRIU runs.
class ReportFollower {
public:
    explicit ReportFollower(const std::string& path) : path_(path), thread_([this] { Follow(); }) {}
    ~ReportFollower() {
        stop_ = true;
        thread_.join();
    }

private:
    void Follow() {
        ProgressLine progress;
        size_t offset = 0;
        std::string pending;
        while (!stop_) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            std::ifstream in(path_, std::ios::binary);
            if (!in) continue;
            in.seekg(static_cast<std::streamoff>(offset));
            std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            offset += chunk.size();
            pending += chunk;
            size_t nl;
            while ((nl = pending.find('\n')) != std::string::npos) {
                json j = json::parse(pending.substr(0, nl), nullptr, false);
                pending.erase(0, nl + 1);
                if (j.is_object() && j.value("event", std::string()) == "progress") progress.Update(j);
            }
        }
    }
    std::string path_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// A private scratch directory for CRIU's logs and the plugin's report; kept (for its logs) only
// when something failed.
class Scratch {
public:
    static Result<std::unique_ptr<Scratch>> Create() {
        std::string path = (fs::temp_directory_path() / "gpucr-criu-XXXXXX").string();
        if (::mkdtemp(path.data()) == nullptr) return ErrnoError("cannot create a scratch directory", errno);
        return std::unique_ptr<Scratch>(new Scratch(path));
    }
    ~Scratch() {
        if (keep_) return;
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string Path(const std::string& name) const { return path_ + "/" + name; }
    void Keep() { keep_ = true; }

private:
    explicit Scratch(std::string path) : path_(std::move(path)) {}
    std::string path_;
    bool keep_ = false;
};

// Polls the agent at `socket` until it reports the outcome of the resume tagged `nonce` (the
// plugin posted it without waiting). The outcome object {ok, result|error}, or an error when the
// agent does not answer in time or the process ended.
Result<json> AwaitResume(const std::string& socket, int pid, const std::string& nonce, int timeout_s) {
    Clock::time_point start = Clock::now();
    Status last = Unavailable("no answer");
    while (MsSince(start) < timeout_s * 1000.0) {
        if (!client::ProcessAlive(pid)) return Unavailable("process " + std::to_string(pid) + " ended");
        Result<UniqueFd> fd = client::ConnectPath(socket);
        if (fd.ok()) {
            Result<json> d = client::Request(fd->get(), {{"cmd", "describe"}}, {}, 10);
            if (d.ok()) {
                const json& r = d->value("last_resume", json());
                if (r.is_object() && r.value("nonce", std::string()) == nonce) return r;
            } else {
                last = d.status();
            }
        } else {
            last = fd.status();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // each poll is a request the app serves
    }
    return Unavailable("process " + std::to_string(pid) + " did not report its GPU resume within " +
                       std::to_string(timeout_s) + " s (" + last.message() + ")");
}

// Removes what a failed dump wrote into `dir` (the directory itself if this dump created it).
void RemoveDumpOutput(const std::string& dir, bool created) {
    std::error_code ec;
    if (created) {
        fs::remove_all(dir, ec);
        return;
    }
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) fs::remove_all(e.path(), ec);
}

double Num(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string WaitStatusText(int status) {
    if (status < 0) return std::string("could not run: ") + std::strerror(errno);
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

std::string DumpSummaryText(const json& m) {
    const json& s = m["stats"];
    const json& gpu = s.value("gpu", json::object());
    std::string out = fmt::format("dump: {} (process {}, CRIU {})\n", m.value("dir", std::string()),
                                  m.value("pid", 0), m.value("criu_version", std::string()));
    if (!gpu.empty()) {
        // From the final stop the application's GPU calls wait: until CRIU kills the process, or
        // (left running) until its GPU is back.
        double held = 0;
        const json release = gpu.value("release", json::object());
        for (const auto& [api, r] : release.items()) held = std::max(held, Num(r, "held_ms"));
        out += fmt::format("  GPU ({}, mode {}): {} in {:.1f} ms; the application's GPU calls held for the last {:.1f} ms\n",
                           gpu.value("apis", json::array()).dump(), m.value("mode", std::string()),
                           FormatBytes(gpu.value("bytes_raw", uint64_t{0})), Num(gpu, "wall_ms"), held);
    } else {
        out += "  GPU: none (the process holds no GPU state gpucr captures)\n";
    }
    out += fmt::format("  CRIU: {:.1f} ms (after the GPU part)\n  total: {:.1f} ms, then {:.1f} ms to make the image durable\n",
                       Num(s, "criu_ms"), Num(s, "total_ms"), Num(s, "sync_ms"));
    if (s.contains("resume")) {
        out += fmt::format("  left running: GPU state loaded back in {:.1f} ms\n", Num(s["resume"], "wall_ms"));
    }
    return out;
}

}  // namespace

int RunProcessDump(const DumpOptions& options, bool mode_given) {
    Result<int> pid_or = ProcessWithAgent(options.pid);
    if (!pid_or.ok()) return Fail(pid_or.status());
    int pid = *pid_or;
    if (mode_given && options.mode == "cow") {
        std::fprintf(stderr,
                     "gpucr: a process dump captures the GPU at the moment CRIU stops the process: use --mode dirty "
                     "(default) or stop (cow is for --gpu-only)\n");
        return kExitUsage;
    }
    std::string mode = mode_given ? options.mode : "dirty";
    Result<std::string> dir_or = NewImageDir(options.dir);
    if (!dir_or.ok()) return Fail(dir_or.status());
    const std::string& dir = *dir_or;
    Result<Criu> criu = FindCriu();
    if (!criu.ok()) return Fail(criu.status());
    Result<std::string> plugins = PluginDir();
    if (!plugins.ok()) return Fail(plugins.status());
    Result<std::string> socket = client::AgentSocket(pid);
    if (!socket.ok()) return Fail(socket.status());
    Result<std::unique_ptr<Scratch>> scratch = Scratch::Create();
    if (!scratch.ok()) return Fail(scratch.status());

    bool shell_job = SessionOf(pid) != pid;
    json stdio = StdioOf(pid);
    std::string exe;
    {
        std::error_code ec;
        exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
    }
    std::error_code ec;
    bool created = !fs::exists(dir, ec);
    if (created && !fs::create_directories(dir, ec)) return Fail(dir + ": cannot create: " + ec.message());
    ::chmod(dir.c_str(), 0700);  // the image holds the process's memory

    Report report((*scratch)->Path("plugin-report.jsonl"));
    std::string nonce = RandomToken();
    // CRIU's --timeout also bounds the plugin's GPU suspend, which copies while the process runs.
    const char* timeout = std::getenv("GPUCR_CRIU_TIMEOUT");
    int timeout_s = std::max(60, timeout != nullptr ? std::atoi(timeout) : 600);
    std::vector<std::string> args = {"dump",  "-t",  std::to_string(pid), "-D",        dir,
                                     "--libdir", *plugins, "-o", "criu-dump.log", "-v4",
                                     "--timeout", std::to_string(timeout_s)};
    if (options.leave_running) args.push_back("--leave-running");
    if (shell_job) args.push_back("--shell-job");
    std::vector<std::pair<std::string, std::string>> env = {{"GPUCR_CRIU_MODE", mode},
                                                            {"GPUCR_CRIU_BACKEND", options.backend},
                                                            {"GPUCR_CRIU_REPORT", report.path()},
                                                            {"GPUCR_CRIU_NONCE", nonce},
                                                            {"GPUCR_CRIU_SYNC", "0"}};  // synced below
    Clock::time_point start = Clock::now();
    int status;
    {
        ReportFollower follower(report.path());
        status = RunCriu(*criu, args, env);
    }
    double total_ms = MsSince(start);
    json suspend = report.SuspendReply();
    bool gpu_suspended = suspend.is_object() && suspend.value("ok", false);
    std::string gpu_dir = dir + "/gpu-" + std::to_string(pid);

    if (status != 0) {
        std::string log = (*scratch)->Path("criu-dump.log");
        fs::rename(dir + "/criu-dump.log", log, ec);
        (*scratch)->Keep();
        std::string why = CriuLogError(log);
        if (why.empty()) why = WaitStatusText(status);
        std::string message = "CRIU dump failed: " + why + " (log: " + log + ")";
        if (!client::ProcessAlive(pid)) {
            RemoveDumpOutput(dir, created);
            return Fail(message + "; the process has ended; no image was written");
        }
        if (gpu_suspended) {
            // The plugin queued a resume for when CRIU let the process go: wait for it before the
            // image it loads from goes away.
            Result<json> back = AwaitResume(*socket, pid, nonce, kResumeWaitS);
            if (!back.ok() || !back->value("ok", false)) {
                std::string err = back.ok() ? back->value("error", std::string("?")) : back.status().message();
                return Fail(message + "; bringing the GPU back failed: " + err + "; the GPU state is kept in " +
                            gpu_dir + ": gpucr resume " + std::to_string(pid) + " -D " + gpu_dir);
            }
        }
        RemoveDumpOutput(dir, created);
        return Fail(message + "; the process continues as before and no image was written");
    }

    json stats = {{"total_ms", total_ms}};
    if (gpu_suspended) {
        json s = suspend["result"].value("stats", json::object());
        s["apis"] = suspend["result"].value("apis", json::array());
        stats["gpu"] = s;
        stats["criu_ms"] = total_ms - Num(s, "wall_ms");
    } else {
        stats["criu_ms"] = total_ms;
    }
    if (options.leave_running && gpu_suspended) {
        Result<json> back = AwaitResume(*socket, pid, nonce, kResumeWaitS);
        if (!back.ok() || !back->value("ok", false)) {
            std::string err = back.ok() ? back->value("error", std::string("?")) : back.status().message();
            std::fprintf(stderr, "gpucr: warning: the image is complete, but process %d did not get its GPU back: %s\n",
                         pid, err.c_str());
        } else {
            stats["resume"] = (*back)["result"].value("stats", json::object());
        }
    }
    // The plugin wrote the GPU image without fsync while the application was held, and CRIU
    // writes its images without fsync: make both durable before the image is called complete
    // (after CRIU has let the process go, so this is not part of its stall).
    {
        UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        Clock::time_point sync_start = Clock::now();
        if (!dfd.valid() || ::syncfs(dfd.get()) != 0) {
            return Fail(dir + ": the image could not be made durable: " + std::strerror(errno) +
                        "; it is left incomplete");
        }
        stats["sync_ms"] = MsSince(sync_start);
    }
    // Every process of the dumped tree that had an agent left its GPU image (gpu-<its pid>).
    json gpu_images = json::array();
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (name.rfind("gpu-", 0) == 0 && fs::exists(e.path() / "manifest.json", ec)) gpu_images.push_back(name);
    }
    std::sort(gpu_images.begin(), gpu_images.end());
    json marker = {{"format", kMarkerFormat},
                   {"version", kMarkerVersion},
                   {"pid", pid},
                   {"exe", exe},
                   {"dir", dir},
                   {"mode", mode},
                   {"leave_running", options.leave_running},
                   {"shell_job", shell_job},
                   {"stdio", stdio},
                   {"agent_socket", *socket},
                   {"gpu_images", gpu_images},
                   {"criu_version", criu->version},
                   {"stats", stats}};
    Status written = WriteFileSynced(dir + "/" + kMarker, marker.dump(2) + "\n");
    if (!written.ok()) {
        return Fail("the dump is done but " + std::string(kMarker) + " could not be written: " + written.message() +
                    "; the image is incomplete");
    }
    std::string out = options.json ? marker.dump(2) + "\n" : DumpSummaryText(marker);
    std::fputs(out.c_str(), stdout);
    return kExitOk;
}

namespace {

struct RestoreOptions {
    std::string dir;
    int device = -1;
    bool eager = false;
    bool detach = false;
    bool json = false;
};

Result<json> ReadMarker(const std::string& dir) {
    std::string path = dir + "/" + kMarker;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return NotFound(dir + ": no such image directory");
    if (!fs::exists(path, ec)) {
        return FailedPrecondition(dir + " is not a complete gpucr process image: " + kMarker +
                                  " is missing (a dump that did not finish, or a --gpu-only image)");
    }
    GPUCR_ASSIGN_OR_RETURN(std::string text, image::fs::ReadFile(path));
    json m = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object() || m.value("format", std::string()) != kMarkerFormat || !m["pid"].is_number_integer()) {
        return DataLoss(path + ": damaged (not a gpucr process image description)");
    }
    if (m.value("version", 0) != kMarkerVersion) {
        return Unsupported(path + ": version " + m["version"].dump() + " is not one this gpucr reads");
    }
    return m;
}

// Every chunk of every GPU image, before anything is started.
Status VerifyGpuImages(const std::string& dir, const json& marker) {
    for (const json& name : marker.value("gpu_images", json::array())) {
        std::string path = dir + "/" + name.get<std::string>();
        GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<image::ImageReader> reader, image::ImageReader::Open(path));
        ProgressLine progress;
        GPUCR_RETURN_IF_ERROR(reader->VerifyAll([&](uint64_t done, uint64_t total) {
            progress.Update({{"event", "progress"}, {"phase", "verify"}, {"done", done}, {"total", total}});
        }));
    }
    return Status::Ok();
}

std::string RestoreSummaryText(const json& r) {
    std::string out = fmt::format("restore: process {} from {}\n  verify: {:.1f} ms\n  CRIU: {:.1f} ms\n",
                                  r.value("pid", 0), r.value("dir", std::string()), Num(r, "verify_ms"),
                                  Num(r, "criu_ms"));
    if (r.contains("gpu")) {
        // The agent answers once the application's first GPU operation after the resume is done.
        const json stats = r["gpu"].value("stats", json::object());
        for (const auto& [api, s] : stats.items()) {
            if (!s.is_object()) continue;
            out += fmt::format("  {} ({}): objects re-created {:.1f} ms, first operation done {:.1f} ms, {} loaded\n",
                               api, r.value("eager", false) ? "eager" : "on demand", Num(s, "handback_ms"),
                               Num(s, "first_op_ms"), FormatBytes(s.value("bytes_loaded", uint64_t{0})));
        }
        out += fmt::format("  GPU answered {:.1f} ms after CRIU finished\n", Num(r, "gpu_wait_ms"));
    }
    out += fmt::format("  total: {:.1f} ms\n", Num(r, "total_ms"));
    return out;
}

int RunRestore(const RestoreOptions& o) {
    Clock::time_point start = Clock::now();
    Result<std::string> dir_or = AbsoluteDir(o.dir);
    if (!dir_or.ok()) return Fail(dir_or.status());
    const std::string& dir = *dir_or;
    Result<json> marker = ReadMarker(dir);
    if (!marker.ok()) return Fail(marker.status());
    int pid = (*marker)["pid"].get<int>();
    Result<Criu> criu = FindCriu();
    if (!criu.ok()) return Fail(criu.status());
    Result<std::string> plugins = PluginDir();
    if (!plugins.ok()) return Fail(plugins.status());
    if (client::ProcessAlive(pid)) {
        return Fail(fmt::format("process id {} is in use (by {}); a restore needs the id the process had: end that "
                                "process first",
                                pid, CommOf(pid)));
    }
    Clock::time_point verify_start = Clock::now();
    Status verified = VerifyGpuImages(dir, *marker);
    if (!verified.ok()) return Fail("restore refused, nothing was started: " + verified.message());
    double verify_ms = MsSince(verify_start);
    Result<std::unique_ptr<Scratch>> scratch = Scratch::Create();
    if (!scratch.ok()) return Fail(scratch.status());

    std::string socket = marker->value("agent_socket", std::string());
    if (!socket.empty()) {
        // CRIU binds the agent's socket again at its old path; its directory may be gone.
        std::error_code ec;
        fs::path parent = fs::path(socket).parent_path();
        if (!fs::exists(parent, ec) && fs::create_directories(parent, ec)) ::chmod(parent.c_str(), 0700);
    }
    std::string log = (*scratch)->Path("criu-restore.log");
    std::vector<std::string> args = {"restore", "-D", dir, "--libdir", *plugins, "-d", "-o", log, "-v4"};
    if (marker->value("shell_job", false)) args.push_back("--shell-job");
    // Pipes and sockets on the application's stdin/out/err become this command's own.
    std::set<std::string> keys;
    for (const json& s : marker->value("stdio", json::array())) {
        std::string target = s.value("target", std::string());
        if ((target.rfind("pipe:", 0) == 0 || target.rfind("socket:", 0) == 0) && keys.insert(target).second) {
            args.push_back("--inherit-fd");
            args.push_back(fmt::format("fd[{}]:{}", s.value("fd", 0), target));
        }
    }
    std::string nonce = RandomToken();
    std::vector<std::pair<std::string, std::string>> env = {{"GPUCR_CRIU_EAGER", o.eager ? "1" : "0"},
                                                            {"GPUCR_CRIU_NONCE", nonce},
                                                            {"GPUCR_CRIU_VERIFIED", "1"}};
    if (o.device >= 0) env.emplace_back("GPUCR_CRIU_DEVICE", std::to_string(o.device));
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // the restored process becomes ours when CRIU exits
    Clock::time_point criu_start = Clock::now();
    int status = RunCriu(*criu, args, env);
    double criu_ms = MsSince(criu_start);
    if (status != 0) {
        (*scratch)->Keep();
        std::string why = CriuLogError(log);
        if (why.empty()) why = WaitStatusText(status);
        return Fail("CRIU restore failed: " + why + " (log: " + log + ")");
    }
    json result = {{"pid", pid}, {"dir", dir}, {"eager", o.eager}, {"verify_ms", verify_ms}, {"criu_ms", criu_ms}};
    // The root process's GPU: the agent gpucr knows the socket of (children resume the same way).
    if (fs::exists(dir + "/gpu-" + std::to_string(pid) + "/manifest.json")) {
        Clock::time_point wait_start = Clock::now();
        Result<json> back = AwaitResume(socket, pid, nonce, kResumeWaitS);
        if (!back.ok() || !back->value("ok", false)) {
            (*scratch)->Keep();
            std::string err = back.ok() ? back->value("error", std::string("?")) : back.status().message();
            return Fail(fmt::format("process {} was restored, but its GPU state did not come back: {}; it waits "
                                    "(gpucr resume {} -D {}/gpu-{} tries again)",
                                    pid, err, pid, dir, pid));
        }
        result["gpu_wait_ms"] = MsSince(wait_start);
        result["gpu"] = (*back)["result"];
    }
    result["total_ms"] = MsSince(start);
    // stdout belongs to the restored application: the summary goes to stderr.
    std::string out = o.json ? result.dump(2) + "\n" : RestoreSummaryText(result);
    std::fputs(out.c_str(), stderr);
    if (o.detach) return kExitOk;
    int app_status = 0;
    while (::waitpid(pid, &app_status, 0) < 0) {
        if (errno == EINTR) continue;
        return Fail(fmt::format("cannot wait for restored process {}: {}", pid, std::strerror(errno)));
    }
    if (WIFEXITED(app_status)) return WEXITSTATUS(app_status);
    if (WIFSIGNALED(app_status)) return 128 + WTERMSIG(app_status);
    return kExitFailure;
}

}  // namespace

void AddRestoreCommand(CLI::App& app, int* exit_code) {
    auto o = std::make_shared<RestoreOptions>();
    CLI::App* restore = app.add_subcommand(
        "restore", "Restore a process dumped by gpucr dump (CRIU), with its GPU state; waits for it to exit");
    restore->add_option("-D,--images-dir", o->dir, "Image directory written by gpucr dump")->required();
    restore->add_option("--device", o->device, "Device index to restore onto (default: the original device)")
        ->check(CLI::Range(0, 1 << 20));
    restore->add_flag("--eager", o->eager, "Load all GPU memory before the application continues (default: on demand)");
    restore->add_flag("--detach", o->detach, "Return once the process runs instead of waiting for it to exit");
    restore->add_flag("--json", o->json, "Print the result as JSON (on stderr: stdout is the application's)");
    restore->callback([o, exit_code] { *exit_code = RunRestore(*o); });
}

}  // namespace gpucr::cli
