#include "examples/common_cli.h"

#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace gpucr::examples {
namespace {

Status WriteTextAtomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (!f) return IoError("cannot create " + tmp);
        f << text;
        f.close();
        if (!f) return IoError("cannot write " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return IoError("cannot rename " + tmp + " to " + path + ": " + ec.message());
    return Status::Ok();
}

}  // namespace

double MillisecondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

void PrintSetup(const char* name, const Options& options, const std::string& device, size_t objects, uint64_t bytes,
                const char* access) {
    if (options.quiet) return;
    std::fprintf(stderr, "%s: %s, %zu memory objects, %.2f MiB, %s, %u steps\n", name, device.c_str(), objects,
                 static_cast<double>(bytes) / kMiB, access, options.steps);
}

void PauseBetweenSteps(const Options& options) {
    if (options.step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.step_ms));
}

StepRecorder::StepRecorder(std::string name, const Options& options) : name_(std::move(name)), options_(options) {
    step_ms_.reserve(options.steps);
    end_unix_ns_.reserve(options.steps);
}

Status StepRecorder::Start() {
    start_ = std::chrono::steady_clock::now();
    if (options_.ready_file.empty()) return Status::Ok();
    return WriteTextAtomically(options_.ready_file, std::to_string(getpid()) + "\n");
}

void StepRecorder::Record(uint32_t step, double ms) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    end_unix_ns_.push_back(static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec);
    step_ms_.push_back(ms);
    const uint32_t every = std::max<uint32_t>(1, options_.steps / 10);
    if (!options_.quiet && ((step + 1) % every == 0 || step + 1 == options_.steps)) {
        std::fprintf(stderr, "%s: step %u/%u (%.2f ms)\n", name_.c_str(), step + 1, options_.steps, ms);
    }
}

Status StepRecorder::Finish() {
    total_ms_ = MillisecondsSince(start_);
    if (options_.stats.empty()) return Status::Ok();
    std::vector<double> sorted = step_ms_;
    std::sort(sorted.begin(), sorted.end());
    double median = 0;
    if (!sorted.empty()) {
        const size_t n = sorted.size();
        median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
    nlohmann::json j = {
        {"example", name_},
        {"steps", step_ms_.size()},
        {"mib", options_.mib},
        {"step_sleep_ms", options_.step_ms},
        {"step_ms", step_ms_},
        {"median_ms", median},
        {"max_ms", sorted.empty() ? 0.0 : sorted.back()},
        {"total_ms", total_ms_},
        {"end_unix_ns", end_unix_ns_},
    };
    return WriteTextAtomically(options_.stats, j.dump() + "\n");
}

int RunExample(const ExampleInfo& info, int argc, char** argv, const std::function<Status(const Options&)>& body) {
    const bool vulkan = info.api == ExampleApi::kVulkan;
    const bool opencl = info.api == ExampleApi::kOpenCL;
    const char* api_name = vulkan ? "Vulkan" : opencl ? "OpenCL" : "CUDA";
    Options options;
    options.mib = info.default_mib;
    CLI::App app{std::string(info.name) + ": deterministic " + api_name + " compute workload (gpucr example)"};
    app.add_option("--mib", options.mib, "state size in MiB")->capture_default_str();
    app.add_option("--steps", options.steps, "number of steps")->capture_default_str();
    app.add_option("--step-ms", options.step_ms, "sleep between steps, ms")->capture_default_str();
    if (opencl) {
        app.add_option("--platform", options.platform,
                       "OpenCL platform index (default: the first platform that has a device)");
    }
    const char* device_help = vulkan   ? "Vulkan physical device index"
                              : opencl ? "OpenCL device index within the platform"
                                       : "CUDA device ordinal";
    app.add_option("--device", options.device, device_help)->capture_default_str();
    if (info.has_buffers) app.add_option("--buffers", options.buffers, "number of buffers")->capture_default_str();
    if (info.has_buffers) {
        app.add_option("--idle-mib", options.idle_mib,
                       "one more memory object of this many MiB, created last, never used by the steps and "
                       "checked unchanged at the end");
    }
    app.add_option("--stats", options.stats, "write per-step latencies (JSON) to this file");
    app.add_option("--ready-file", options.ready_file, "create this file when the steps start");
    app.add_flag("--quiet", options.quiet, "no progress on stderr");
    if (vulkan) {
        app.add_flag("--render-pass", options.render_pass, "also create a VkRenderPass (a graphics object)");
        app.add_flag("--staging", options.staging, "upload and read back through staging buffers even if mappable");
    } else if (opencl) {
        app.add_flag("--image", options.image,
                     "also create a small 2D image holding a pattern, checked at the end (the steps never use it)");
        app.add_flag("--svm", options.svm, "also allocate shared virtual memory (clSVMAlloc), never used");
        app.add_flag("--hold-map", options.hold_map, "also create a 4 KiB buffer and keep it mapped for the whole run");
        app.add_flag("--use-host-ptr", options.use_host_ptr,
                     "create every buffer over the application's own memory (CL_MEM_USE_HOST_PTR)");
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    // The Vulkan and OpenCL kernels index words with 32 bits: 16 GiB of state at most there.
    if (info.api != ExampleApi::kCuda && options.mib > kMaxMib32) {
        std::fprintf(stderr, "%s: error: --mib must be at most %u for this example (32-bit word indices)\n", info.name,
                     kMaxMib32);
        return 2;
    }
    Status status = body(options);
    if (!status.ok()) {
        std::fflush(stdout);
        std::fprintf(stderr, "%s: error: %s\n", info.name, status.message().c_str());
        return status.code() == Code::kInvalidArgument ? 2 : 1;
    }
    return 0;
}

}  // namespace gpucr::examples
