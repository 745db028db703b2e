// `gpucr suspend`, `gpucr resume` and `gpucr migrate`: release a running process's GPU and bring
// it back, on the same or another device, through its agent (docs/cli.md, docs/protocol.md).
#include <fmt/format.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "tools/gpucr/cli_util.h"
#include "tools/gpucr/client.h"
#include "tools/gpucr/cmd_process.h"
#include "tools/gpucr/progress_line.h"

namespace gpucr::cli {
namespace {

using nlohmann::json;

constexpr const char* kCowRefusal =
    "suspend needs the image to show the moment the process stops: use --mode dirty (default) or stop";

struct SuspendOptions {
    std::string pid;
    std::string dir;
    std::string mode = "dirty";
    std::string backend = "auto";
    bool json = false;
};

struct ResumeOptions {
    std::string pid;
    std::string dir;
    int device = -1;  // -1: the original device
    bool eager = false;
    bool json = false;
};

struct MigrateOptions {
    std::string pid;
    std::string dir;  // empty: a temporary image in memory
    int device = -1;
    std::string mode = "dirty";
    bool eager = false;
    bool json = false;
};

// "1.25 ms", or "-" when the front-end did not report it.
std::string Ms(const json& stats, const char* key) {
    auto it = stats.find(key);
    return it != stats.end() && it->is_number() ? fmt::format("{:.2f} ms", it->get<double>()) : "-";
}

std::string Count(const json& stats, const char* key) {
    auto it = stats.find(key);
    return it != stats.end() && it->is_number_unsigned() ? std::to_string(it->get<uint64_t>()) : "-";
}

std::string Bytes(const json& stats, const char* key) {
    auto it = stats.find(key);
    return it != stats.end() && it->is_number_unsigned() ? FormatBytes(it->get<uint64_t>()) : "-";
}

json Field(const json& j, const char* key) { return j.is_object() && j.contains(key) ? j[key] : json::object(); }

std::string DeviceText(const json& device) {
    return device.is_number_integer() ? std::to_string(device.get<int>()) : "original";
}

// The suspend half: how long the application was held while its state was captured, and the image.
std::string SuspendLines(const json& stats, const std::string& indent) {
    return fmt::format("{0}application held: max {1}, total {2}\n{0}bytes: {3} (stored {4})\n{0}wall: {5}\n", indent,
                       Ms(stats, "held_max_ms"), Ms(stats, "held_total_ms"), Count(stats, "bytes_raw"),
                       Count(stats, "bytes_stored"), Ms(stats, "wall_ms"));
}

// The resume half: verification, then each API's times, counted from when the agent got the request.
std::string ResumeLines(const json& result, const std::string& indent) {
    const json stats = Field(result, "stats");
    std::string out = fmt::format("{}verify: {}\n", indent, Ms(stats, "verify_ms"));
    const json apis = result.value("apis", json::array());
    for (const json& api : apis) {
        if (!api.is_string()) continue;
        const json s = Field(stats, api.get<std::string>().c_str());
        out += fmt::format(
            "{0}{1}:\n{0}  hand-back: {2}\n{0}  first operation: {3}\n{0}  fully loaded: {4}\n"
            "{0}  waits: {5}, total {6}, max {7}\n{0}  bytes loaded: {8}\n",
            indent, api.get<std::string>(), Ms(s, "handback_ms"), Ms(s, "first_op_ms"), Ms(s, "loaded_ms"),
            Count(s, "waits"), Ms(s, "wait_ms_total"), Ms(s, "wait_ms_max"), Bytes(s, "bytes_loaded"));
    }
    out += fmt::format("{}wall: {}\n", indent, Ms(stats, "wall_ms"));
    return out;
}

// Sends `request` to `pid`'s agent with a progress line; prints the result or one error line.
int Exchange(int pid, const json& request, const std::string& what, const std::string& new_image_dir, bool as_json,
             const std::function<std::string(const json&)>& summary) {
    Result<UniqueFd> fd = client::Connect(pid);
    if (!fd.ok()) return Fail(fd.status());
    Result<json> result = [&] {
        ProgressLine progress;
        return client::Request(fd->get(), request, [&progress](const json& event) { progress.Update(event); });
    }();
    if (!result.ok()) return FailRequest(result.status(), pid, what, new_image_dir);
    std::string out = as_json ? result->dump(2) + "\n" : summary(*result);
    std::fputs(out.c_str(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : Fail("cannot write the output");
}

int RunSuspend(const SuspendOptions& o) {
    if (o.mode == "cow") {
        std::fprintf(stderr, "gpucr: %s\n", kCowRefusal);
        return kExitUsage;
    }
    Result<int> pid = ProcessWithAgent(o.pid);
    if (!pid.ok()) return Fail(pid.status());
    Result<std::string> dir = NewImageDir(o.dir);
    if (!dir.ok()) return Fail(dir.status());
    json request = {{"cmd", "suspend"}, {"dir", *dir}, {"mode", o.mode}, {"backend", o.backend}};
    return Exchange(*pid, request, "suspend", *dir, o.json, [&](const json& r) { return SuspendSummary(r, *pid); });
}

int RunResume(const ResumeOptions& o) {
    Result<int> pid = ProcessWithAgent(o.pid);
    if (!pid.ok()) return Fail(pid.status());
    json request = {{"cmd", "resume"}, {"eager", o.eager}};
    if (!o.dir.empty()) {
        Result<std::string> dir = AbsoluteDir(o.dir);
        if (!dir.ok()) return Fail(dir.status());
        request["dir"] = *dir;
    }
    if (o.device >= 0) request["device"] = o.device;
    return Exchange(*pid, request, "resume", "", o.json, ResumeSummary);
}

int RunMigrate(const MigrateOptions& o) {
    if (o.mode == "cow") {
        std::fprintf(stderr, "gpucr: %s\n", kCowRefusal);
        return kExitUsage;
    }
    Result<int> pid = ProcessWithAgent(o.pid);
    if (!pid.ok()) return Fail(pid.status());
    json request = {{"cmd", "migrate"}, {"device", o.device}, {"mode", o.mode}, {"eager", o.eager}};
    std::string dir;
    if (!o.dir.empty()) {
        Result<std::string> d = NewImageDir(o.dir);
        if (!d.ok()) return Fail(d.status());
        dir = *d;
        request["dir"] = dir;
    }
    return Exchange(*pid, request, "migration", dir, o.json, MigrateSummary);
}

CLI::Option* AddDevice(CLI::App* cmd, int* device, const char* help) {
    return cmd->add_option("--device", *device, help)->check(CLI::Range(0, 1 << 20));
}

}  // namespace

std::string SuspendSummary(const json& result, int pid) {
    return fmt::format("suspend: {}\n  mode: {}\n{}  the process waits; bring it back with: gpucr resume {}\n",
                       result.value("image", std::string("?")), result.value("mode", std::string("?")),
                       SuspendLines(Field(result, "stats"), "  "), pid);
}

std::string ResumeSummary(const json& result) {
    return fmt::format("resume: {}\n  device: {}\n  loading: {}\n{}", result.value("image", std::string("?")),
                       DeviceText(result.value("device", json())), result.value("eager", false) ? "eager" : "on demand",
                       ResumeLines(result, "  "));
}

std::string MigrateSummary(const json& result) {
    const json stats = Field(result, "stats");
    json resumed = {{"apis", result.value("apis", json::array())}, {"stats", Field(stats, "resume")}};
    return fmt::format(
        "migrate: to device {}\n  image: {}\n  mode: {}\n  loading: {}\n  suspend:\n{}  resume:\n{}"
        "  wall: {}\n",
        DeviceText(result.value("device", json())), result.value("image", std::string("(in memory)")),
        result.value("mode", std::string("?")), result.value("eager", false) ? "eager" : "on demand",
        SuspendLines(Field(stats, "suspend"), "    "), ResumeLines(resumed, "    "), Ms(stats, "wall_ms"));
}

void AddSuspendCommands(CLI::App& app, int* exit_code) {
    const auto modes = CLI::IsMember({"cow", "dirty", "stop"});  // cow: refused with its reason

    auto s = std::make_shared<SuspendOptions>();
    CLI::App* suspend = app.add_subcommand("suspend", "Capture a process's GPU state and release the GPU");
    suspend->add_option("pid", s->pid, "Process id (started with gpucr run)")->required();
    suspend->add_option("-D,--images-dir", s->dir, "Image directory (must not exist or be empty)")->required();
    suspend->add_option("--mode", s->mode, "dirty (default) or stop")->check(modes);
    suspend->add_option("--backend", s->backend, "Which API's state to capture")
        ->check(CLI::IsMember({"auto", "vulkan", "opencl", "cuda"}));
    suspend->add_flag("--json", s->json, "Print the result as JSON");
    suspend->callback([s, exit_code] { *exit_code = RunSuspend(*s); });

    auto r = std::make_shared<ResumeOptions>();
    CLI::App* resume = app.add_subcommand("resume", "Bring a suspended process's GPU state back");
    resume->add_option("pid", r->pid, "Process id")->required();
    resume->add_option("-D,--images-dir", r->dir, "Image to resume from (default: the one it was suspended into)");
    AddDevice(resume, &r->device, "Device index to resume on (default: the original device)");
    resume->add_flag("--eager", r->eager, "Load all memory before handing back (default: on demand)");
    resume->add_flag("--json", r->json, "Print the result as JSON");
    resume->callback([r, exit_code] { *exit_code = RunResume(*r); });

    auto m = std::make_shared<MigrateOptions>();
    CLI::App* migrate = app.add_subcommand("migrate", "Move a running process to another device");
    migrate->add_option("pid", m->pid, "Process id (started with gpucr run)")->required();
    AddDevice(migrate, &m->device, "Device index to move to")->required();
    migrate->add_option("-D,--images-dir", m->dir, "Keep the image here (default: a temporary one in memory)");
    migrate->add_option("--mode", m->mode, "dirty (default) or stop")->check(modes);
    migrate->add_flag("--eager", m->eager, "Load all memory before handing back (default: on demand)");
    migrate->add_flag("--json", m->json, "Print the result as JSON");
    migrate->callback([m, exit_code] { *exit_code = RunMigrate(*m); });
}

}  // namespace gpucr::cli
