// common_cli.h — the API-neutral plumbing of the example workloads (vk_*, cl_*, cu_*): the common
// command line, step timing and progress, --ready-file, --stats and the one-line setup report.
//
// No GPU API here; examples/vulkan/common.h, examples/opencl/common.h and examples/cuda/common.h
// build on it.
//
//   int main(int argc, char** argv) {
//       return RunExample({"cl_stencil", ExampleApi::kOpenCL, /*default_mib=*/8, /*has_buffers=*/false}, argc, argv,
//                         [](const Options& o) -> Status {
//                             StepRecorder recorder("cl_stencil", o);
//                             GPUCR_RETURN_IF_ERROR(recorder.Start());
//                             ...  // per step: recorder.Record(s, ms); PauseBetweenSteps(o);
//                             GPUCR_RETURN_IF_ERROR(recorder.Finish());
//                             std::printf("%s\n", ChecksumLine(checksum).c_str());
//                             return Status::Ok();
//                         });
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dag/status.h"
#include "examples/reference.h"

namespace gpucr::examples {

enum class ExampleApi { kVulkan, kOpenCL, kCuda };

struct Options {
    uint32_t mib = 0;  // 0: the example's default
    uint32_t steps = 100;
    uint32_t step_ms = 0;
    uint32_t device = 0;  // Vulkan: physical device index; OpenCL: device index within the platform; CUDA: ordinal
    uint32_t buffers = kDefaultManybufBuffers;
    std::string stats;
    std::string ready_file;
    bool quiet = false;
    uint32_t idle_mib = 0;  // manybuf: one more memory object the steps never touch (0: none)
    // Vulkan only.
    bool staging = false;      // upload and read back through staging buffers even when memory is mappable
    bool render_pass = false;  // also create a VkRenderPass, kept for the whole run
    // OpenCL only.
    std::optional<uint32_t> platform;  // platform index; none: the first platform that has a device
    bool image = false;                // also create a small 2D image, kept for the whole run
    bool svm = false;                  // also allocate shared virtual memory (clSVMAlloc), kept for the run
    bool hold_map = false;             // also create a small buffer and keep it mapped for the whole run
    bool use_host_ptr = false;         // buffers over the application's own memory (CL_MEM_USE_HOST_PTR)
};

struct ExampleInfo {
    const char* name;  // "vk_stencil", "cl_manybuf", "cu_serving", ...
    ExampleApi api;
    uint32_t default_mib;
    bool has_buffers;  // manybuf: --buffers and --idle-mib
};

// Parses the options of `info.api`, runs `body`, prints "<name>: error: ..." and returns 1 on
// failure (2 on usage errors). The body prints the checksum line itself.
int RunExample(const ExampleInfo& info, int argc, char** argv, const std::function<Status(const Options&)>& body);

// Step latencies, progress on stderr, --ready-file and --stats.
class StepRecorder {
public:
    StepRecorder(std::string name, const Options& options);
    // Creates --ready-file (once initialisation is done, just before the first step).
    [[nodiscard]] Status Start();
    // Records a step's latency and the wall-clock time it ended.
    void Record(uint32_t step, double ms);
    // Writes --stats: step_ms, and end_unix_ns (each step's end, CLOCK_REALTIME ns); `total_ms` is
    // the wall time from Start() to now.
    [[nodiscard]] Status Finish();

private:
    std::string name_;
    const Options& options_;
    std::vector<double> step_ms_;
    // CLOCK_REALTIME at the end of each step (ns since the epoch): comparable across a process
    // restore (CRIU may restore into a time namespace, so steady_clock is not).
    std::vector<int64_t> end_unix_ns_;
    std::chrono::steady_clock::time_point start_;
    double total_ms_ = 0;
};

// One line on stderr (unless --quiet): "<name>: <device>, <n> memory objects, <MiB> MiB, <access>, <steps> steps".
void PrintSetup(const char* name, const Options& options, const std::string& device, size_t objects, uint64_t bytes,
                const char* access);

// Sleeps --step-ms (nothing when 0).
void PauseBetweenSteps(const Options& options);

double MillisecondsSince(std::chrono::steady_clock::time_point t);

}  // namespace gpucr::examples
