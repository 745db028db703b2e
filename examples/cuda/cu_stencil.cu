// cu_stencil — ping-pong integer stencil over two buffers (DESIGN.md §7, examples/README.md); the
// CUDA counterpart of vk_stencil and cl_stencil, with the same memory objects, steps and checksum.
//
// Memory objects (creation order, one cudaMalloc each): A (mib/2 MiB), B (mib/2 MiB), meta
// (4 KiB). Step s launches two passes on the stream, B <- f(A, 2s) then A <- f(B, 2s + 1), so
// every buffer is written every step; the last pass also writes meta[0] = s + 1. The CPU
// reference is StencilStep() in examples/reference.cpp. Built twice from this file: cu_stencil
// (static CUDA runtime, nvcc's default) and cu_stencil_shared (libcudart.so).
//
//   cu_stencil --mib 8 --steps 20 --stats /tmp/stencil.json
#include <cstdint>
#include <cstdio>

#include "examples/cuda/common.h"

namespace gpucr::examples::cu {
namespace {

constexpr uint32_t kDefaultMib = 8;

// One pass of the integer 1-D stencil, dst <- f(src), wrap-around neighbours; 32-bit unsigned
// (wrapping) arithmetic. Same computation as opencl/kernels/stencil.cl and
// vulkan/shaders/stencil.comp; must match StencilPass() in examples/reference.cpp.
__global__ void StencilKernel(const uint32_t* src, uint32_t* dst, uint32_t* meta,
                              uint64_t n,           // words per buffer (2^32 at 32 GiB of state)
                              uint32_t pass_index,  // t = 2 * step (+1 for the second pass)
                              uint32_t write_meta,  // last pass of the step writes meta[0]
                              uint32_t meta_value)  // step + 1
{
    const uint64_t first = uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
    const uint64_t stride = uint64_t{gridDim.x} * blockDim.x;
    for (uint64_t i = first; i < n; i += stride) {
        const uint32_t left = src[i == 0u ? n - 1u : i - 1u];
        const uint32_t mid = src[i];
        const uint32_t right = src[i + 1u == n ? 0u : i + 1u];
        dst[i] = left * 3u + mid * 5u + (right ^ (mid >> 3)) + pass_index * 0x9E3779B9u;
    }
    if (write_meta != 0u && first == 0u) meta[0] = meta_value;
}

Status RunStencil(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kStencil, .mib = options.mib};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers;
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
    ReportSetup("cu_stencil", options, *ctx, buffers.buffers(), "cudaMemcpy upload and read-back");

    auto* a = static_cast<uint32_t*>(buffers[0].ptr);
    auto* b = static_cast<uint32_t*>(buffers[1].ptr);
    auto* meta = static_cast<uint32_t*>(buffers[2].ptr);
    const uint64_t n = specs[0].size / 4;
    const uint32_t grid = GridFor(n);
    const cudaStream_t stream = ctx->stream();
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Submission> submission, Submission::Create(stream));

    StepRecorder recorder("cu_stencil", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    for (uint32_t s = 0; s < options.steps; ++s) {
        GPUCR_RETURN_IF_ERROR(submission->Begin());
        StencilKernel<<<grid, kWorkgroupSize, 0, stream>>>(a, b, meta, n, 2 * s, 0u, 0u);
        GPUCR_RETURN_IF_ERROR(CheckLaunch("StencilKernel"));
        StencilKernel<<<grid, kWorkgroupSize, 0, stream>>>(b, a, meta, n, 2 * s + 1, 1u, s + 1);
        GPUCR_RETURN_IF_ERROR(CheckLaunch("StencilKernel"));
        GPUCR_RETURN_IF_ERROR(submission->Submit());
        GPUCR_ASSIGN_OR_RETURN(double ms, submission->Wait());
        recorder.Record(s, ms);
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers()));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples::cu

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"cu_stencil", ExampleApi::kCuda, cu::kDefaultMib, /*has_buffers=*/false}, argc, argv,
                      cu::RunStencil);
}
