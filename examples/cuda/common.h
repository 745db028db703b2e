// common.h — shared plumbing of the CUDA example workloads (cu_stencil, cu_serving, cu_manybuf).
//
// Plain CUDA runtime API (static libcudart by default, libcudart.so for cu_stencil_shared), no
// knowledge of gpucr: a device chosen by --device (its ordinal), one non-blocking stream, one
// cudaMalloc per BufferSpec of Layout() (in order, nothing else on the device), initial upload and
// final read-back with cudaMemcpy, and submissions (the commands of one step) whose completion is
// an event recorded after their last command, timed from their first command to the return of
// cudaEventSynchronize. The command line, step timing and stats are shared with the Vulkan and
// OpenCL examples (examples/common_cli.h). The kernels live in each example's .cu file.
//
//   Status RunStencil(const Options& o) {
//       GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(o));
//       BufferSet buffers;
//       GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
//       GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
//       GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Submission> step, Submission::Create(ctx->stream()));
//       GPUCR_RETURN_IF_ERROR(step->Begin());
//       Kernel<<<GridFor(n), kWorkgroupSize, 0, ctx->stream()>>>(...);
//       GPUCR_RETURN_IF_ERROR(CheckLaunch("Kernel"));
//       GPUCR_RETURN_IF_ERROR(step->Submit());
//       GPUCR_ASSIGN_OR_RETURN(double ms, step->Wait());
//   }
#pragma once

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dag/status.h"
#include "examples/common_cli.h"
#include "examples/reference.h"

namespace gpucr::examples::cu {

// "<what>: <cudaGetErrorString(error)>" (kUnavailable for a missing device or driver, else kInternal).
Status CudaError(const std::string& what, cudaError_t error);

#define GPUCR_CUDA_RETURN_IF_ERROR(call)                                                                         \
    do {                                                                                                         \
        cudaError_t gpucr_cuda_error_ = (call);                                                                  \
        if (gpucr_cuda_error_ != cudaSuccess) return ::gpucr::examples::cu::CudaError(#call, gpucr_cuda_error_); \
    } while (0)

// After a kernel<<<...>>> launch: the launch's own error (bad configuration, no kernel image for
// the device), as "<kernel> launch: <error>". Errors while it runs surface at the event wait.
Status CheckLaunch(const char* kernel);

// Blocks of kWorkgroupSize threads for `items` work items, between 1 and 65535 (as the Vulkan and
// OpenCL examples); every kernel loops over its items with a grid stride.
uint32_t GridFor(uint64_t items);

// One buffer of Layout(), its own cudaMalloc.
struct Buffer {
    void* ptr = nullptr;
    uint64_t size = 0;
    std::string role;
};

// The device (--device: its ordinal) and the example's one stream (cudaStreamNonBlocking).
class Context {
public:
    // No device (cudaGetDeviceCount fails or returns 0): kUnavailable "no CUDA device (...)";
    // --device past the last one: kInvalidArgument.
    static Result<std::unique_ptr<Context>> Create(const Options& options);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    int device() const { return device_; }
    cudaStream_t stream() const { return stream_; }
    const std::string& device_name() const { return device_name_; }  // "<name> (CUDA device N, sm_XY)"

    // Writes the initial contents (FillInitial) of each buffer with cudaMemcpy, then waits for the
    // device: the copies run on the legacy default stream, which the non-blocking stream does not
    // wait for.
    [[nodiscard]] Status Initialize(std::span<const Buffer> buffers, std::span<const BufferSpec> specs);
    // XXH64 of all buffers' contents in order (StateHasher), read back with cudaMemcpy after the
    // stream has drained.
    [[nodiscard]] Result<uint64_t> Checksum(std::span<const Buffer> buffers);

private:
    Context() = default;
    Status Init(const Options& options);

    int device_ = 0;
    cudaStream_t stream_ = nullptr;
    std::string device_name_;
};

// The buffers of an example in creation order (Layout()), freed in reverse order. The Context
// must outlive it.
class BufferSet {
public:
    BufferSet() = default;
    ~BufferSet();
    BufferSet(const BufferSet&) = delete;
    BufferSet& operator=(const BufferSet&) = delete;

    // One cudaMalloc per spec, in order.
    [[nodiscard]] Status Create(std::span<const BufferSpec> specs);
    const std::vector<Buffer>& buffers() const { return buffers_; }
    const Buffer& operator[](size_t i) const { return buffers_[i]; }

private:
    std::vector<Buffer> buffers_;
};

// The commands of one step on the stream (the counterpart of a Vulkan command buffer and its
// fence, of an OpenCL submission and its last event). Latency is measured from Begin() (just
// before the first command) to the return of cudaEventSynchronize on the event recorded after
// the last command.
class Submission {
public:
    static Result<std::unique_ptr<Submission>> Create(cudaStream_t stream);
    ~Submission();
    Submission(const Submission&) = delete;
    Submission& operator=(const Submission&) = delete;

    // Notes the submission time (the submission must not be in flight).
    [[nodiscard]] Status Begin();
    // Records the event after the commands enqueued since Begin().
    [[nodiscard]] Status Submit();
    // Waits for the event; returns the latency in ms.
    [[nodiscard]] Result<double> Wait();
    bool in_flight() const { return in_flight_; }

private:
    explicit Submission(cudaStream_t stream) : stream_(stream) {}
    cudaStream_t stream_;
    cudaEvent_t done_ = nullptr;
    bool in_flight_ = false;
    std::chrono::steady_clock::time_point submitted_;
};

// One line on stderr (unless --quiet): device, memory objects and how the host reaches them.
void ReportSetup(const char* name, const Options& options, const Context& ctx, std::span<const Buffer> buffers,
                 const char* access);

}  // namespace gpucr::examples::cu
