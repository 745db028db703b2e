// `gpucr dump PID -D DIR [...]`: checkpoint a process's GPU state through its agent.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "tools/gpucr/cli_util.h"
#include "tools/gpucr/client.h"
#include "tools/gpucr/cmd_process.h"

namespace gpucr::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// One self-overwriting status line on stderr while a terminal is watching; silent otherwise.
class ProgressLine {
public:
    ProgressLine() : tty_(::isatty(STDERR_FILENO) == 1) {}
    ~ProgressLine() { Clear(); }

    void Update(const json& event) {
        if (!tty_) return;
        std::string phase = event.value("phase", std::string("dump"));
        uint64_t done = event.value("done", uint64_t{0});
        uint64_t total = event.value("total", uint64_t{0});
        if (phase != phase_) {
            phase_ = phase;
            phase_start_ = Clock::now();
            phase_start_done_ = done;
        }
        // Rate over this phase, from its first event; shown once it means something.
        double seconds = std::chrono::duration<double>(Clock::now() - phase_start_).count();
        std::string rate = "";
        if (seconds >= 0.2 && done >= phase_start_done_) {
            rate = fmt::format("  {:.1f} MiB/s", static_cast<double>(done - phase_start_done_) / (1 << 20) / seconds);
        }
        double percent = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0;
        std::fprintf(stderr, "\r\x1b[K%s %5.1f%%  %s / %s%s", phase.c_str(), percent, FormatBytes(done).c_str(),
                     FormatBytes(total).c_str(), rate.c_str());
        std::fflush(stderr);
        drawn_ = true;
    }

    void Clear() {
        if (!drawn_) return;
        std::fputs("\r\x1b[K", stderr);
        std::fflush(stderr);
        drawn_ = false;
    }

private:
    bool tty_;
    bool drawn_ = false;
    std::string phase_;
    Clock::time_point phase_start_ = Clock::now();
    uint64_t phase_start_done_ = 0;
};

double Number(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

int RunDump(const DumpOptions& options) {
    int pid = 0;
    std::string dir;
    Status valid = ValidateDump(options, &pid, &dir);
    if (!valid.ok()) return Fail(valid);
    Result<UniqueFd> fd = client::Connect(pid);
    if (!fd.ok()) return Fail(fd.status());
    Result<json> result = [&] {
        ProgressLine progress;
        return client::Request(fd->get(), DumpRequest(options, dir),
                               [&progress](const json& event) { progress.Update(event); });
    }();
    if (!result.ok()) {
        if (!client::ProcessAlive(pid)) {
            // The process ended mid-dump: its writer could not clean up; nothing complete is left.
            std::error_code ec;
            fs::remove_all(dir + ".partial-" + std::to_string(pid), ec);
            return Fail("process " + std::to_string(pid) + " exited during the dump; no image was written");
        }
        return Fail(result.status());
    }
    std::string out = options.json ? result->dump(2) + "\n" : DumpSummary(*result);
    std::fputs(out.c_str(), stdout);
    return kExitOk;
}

}  // namespace

Status ValidateDump(const DumpOptions& options, int* pid, std::string* abs_dir) {
    GPUCR_ASSIGN_OR_RETURN(*pid, client::ParsePid(options.pid));
    GPUCR_RETURN_IF_ERROR(client::AgentSocket(*pid).status());
    std::error_code ec;
    fs::path dir = fs::absolute(options.dir, ec).lexically_normal();
    if (ec) return InvalidArgument(options.dir + ": " + ec.message());
    std::string text = dir.string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    fs::file_status st = fs::status(text, ec);
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) return AlreadyExists(text + ": exists and is not a directory");
        if (!fs::is_empty(text, ec)) return AlreadyExists(text + ": exists and is not empty");
    }
    if (!options.gpu_only) {
        return Unsupported("process dumps need CRIU, which this build does not drive yet; use --gpu-only");
    }
    *abs_dir = text;
    return Status::Ok();
}

json DumpRequest(const DumpOptions& options, const std::string& abs_dir) {
    return {{"cmd", "dump"},
            {"dir", abs_dir},
            {"mode", options.mode},
            {"backend", options.backend},
            {"compress", options.compress},
            {"background", options.background},
            {"gpu_only", options.gpu_only},
            {"leave_running", options.leave_running || options.gpu_only}};
}

std::string DumpSummary(const json& result) {
    json stats = result.value("stats", json::object());
    std::string threads;
    if (stats.contains("threads") && stats["threads"].is_array()) {
        for (const json& t : stats["threads"]) {
            threads += fmt::format("    thread {}: held {:.2f} ms in total, longest {:.2f} ms ({} holds)\n",
                                   t.value("tid", 0), Number(t, "held_ms"), Number(t, "held_max_ms"),
                                   t.value("holds", uint64_t{0}));
        }
    }
    return fmt::format(
        "dump: {}\n  mode: {}\n  application held: max {:.1f} ms, total {:.1f} ms\n{}  capture: {:.1f} ms\n"
        "  wall: {:.1f} ms\n  bytes: {} (stored {})\n  throughput: {:.1f} MiB/s\n",
        result.value("image", std::string("?")), result.value("mode", std::string("?")), Number(stats, "held_max_ms"),
        Number(stats, "held_total_ms"), threads, Number(stats, "capture_ms"), Number(stats, "wall_ms"),
        stats.value("bytes_raw", uint64_t{0}), stats.value("bytes_stored", uint64_t{0}),
        Number(stats, "throughput_mib_s"));
}

void AddDumpCommand(CLI::App& app, int* exit_code) {
    auto opts = std::make_shared<DumpOptions>();
    CLI::App* dump = app.add_subcommand("dump", "Checkpoint a running process");
    dump->add_option("pid", opts->pid, "Process id (started with gpucr run)")->required();
    dump->add_option("-D,--images-dir", opts->dir, "Image directory (must not exist or be empty)")->required();
    dump->add_option("--mode", opts->mode, "cow (default), dirty or stop")
        ->check(CLI::IsMember({"cow", "dirty", "stop"}));
    dump->add_option("--backend", opts->backend, "Which API's state to capture")
        ->check(CLI::IsMember({"auto", "vulkan", "opencl", "cuda"}));
    dump->add_option("--background", opts->background,
                     "Priority of the capture threads while the application runs: low (default), idle or normal")
        ->check(CLI::IsMember({"low", "idle", "normal"}));
    dump->add_flag("--leave-running", opts->leave_running, "Keep the process running after the dump");
    dump->add_flag("--gpu-only", opts->gpu_only, "Write the GPU state only; the process keeps running");
    dump->add_flag("--compress", opts->compress, "Compress chunks (zstd)");
    dump->add_flag("--json", opts->json, "Print the result as JSON");
    dump->callback([opts, exit_code] { *exit_code = RunDump(*opts); });
}

}  // namespace gpucr::cli
