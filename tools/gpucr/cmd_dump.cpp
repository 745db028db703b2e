// `gpucr dump PID -D DIR [...]`: checkpoint a process's GPU state through its agent.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "tools/gpucr/cli_util.h"
#include "tools/gpucr/client.h"
#include "tools/gpucr/cmd_process.h"
#include "tools/gpucr/progress_line.h"

namespace gpucr::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double Number(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

int RunDump(const DumpOptions& options, bool mode_given) {
    if (!options.gpu_only) return RunProcessDump(options, mode_given);
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
    if (!result.ok()) return FailRequest(result.status(), pid, "dump", dir);
    std::string out = options.json ? result->dump(2) + "\n" : DumpSummary(*result);
    std::fputs(out.c_str(), stdout);
    return kExitOk;
}

}  // namespace

Result<int> ProcessWithAgent(const std::string& pid_text) {
    GPUCR_ASSIGN_OR_RETURN(int pid, client::ParsePid(pid_text));
    GPUCR_RETURN_IF_ERROR(client::AgentSocket(pid).status());
    return pid;
}

Result<std::string> AbsoluteDir(const std::string& dir) {
    std::error_code ec;
    fs::path path = fs::absolute(dir, ec).lexically_normal();
    if (ec) return InvalidArgument(dir + ": " + ec.message());
    std::string text = path.string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
}

Result<std::string> NewImageDir(const std::string& dir) {
    GPUCR_ASSIGN_OR_RETURN(std::string text, AbsoluteDir(dir));
    std::error_code ec;
    fs::file_status st = fs::status(text, ec);
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) return AlreadyExists(text + ": exists and is not a directory");
        if (!fs::is_empty(text, ec)) return AlreadyExists(text + ": exists and is not empty");
    }
    return text;
}

int FailRequest(const Status& status, int pid, const std::string& what, const std::string& image_dir) {
    if (client::ProcessAlive(pid)) return Fail(status);
    // The process ended mid-request: its writer could not clean up; nothing complete is left.
    if (!image_dir.empty()) {
        std::error_code ec;
        fs::remove_all(image_dir + ".partial-" + std::to_string(pid), ec);
        return Fail("process " + std::to_string(pid) + " exited during the " + what + "; no image was written");
    }
    return Fail("process " + std::to_string(pid) + " exited during the " + what);
}

Status ValidateDump(const DumpOptions& options, int* pid, std::string* abs_dir) {
    GPUCR_ASSIGN_OR_RETURN(*pid, ProcessWithAgent(options.pid));
    GPUCR_ASSIGN_OR_RETURN(std::string dir, NewImageDir(options.dir));
    *abs_dir = dir;
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
    CLI::Option* mode = dump->add_option(
        "--mode", opts->mode, "cow (default with --gpu-only), dirty (default for a process dump) or stop")
        ->check(CLI::IsMember({"cow", "dirty", "stop"}));
    dump->add_option("--backend", opts->backend, "Which API's state to capture")
        ->check(CLI::IsMember({"auto", "vulkan", "opencl", "cuda"}));
    dump->add_option("--background", opts->background,
                     "Priority of the capture threads while the application runs: low (default), idle or normal")
        ->check(CLI::IsMember({"low", "idle", "normal"}));
    dump->add_flag("--leave-running", opts->leave_running, "Keep the process running after a process dump");
    dump->add_flag("--gpu-only", opts->gpu_only, "Write the GPU state only; the process keeps running");
    dump->add_flag("--compress", opts->compress, "Compress chunks (zstd)");
    dump->add_flag("--json", opts->json, "Print the result as JSON");
    dump->callback([opts, exit_code, mode] { *exit_code = RunDump(*opts, mode->count() > 0); });
}

}  // namespace gpucr::cli
