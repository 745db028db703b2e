// cu_manybuf — many small buffers, several submissions in flight (DESIGN.md §7, examples/README.md);
// the CUDA counterpart of vk_manybuf and cl_manybuf, with the same memory objects, steps and checksum.
//
// Memory objects (creation order, one cudaMalloc each): buf0 .. buf<N-1> (N = --buffers, each
// floor(mib MiB / N) rounded down to 4 KiB), meta (4 KiB), and with --idle-mib M an "idle" object
// of M MiB that no step touches (pseudo-random contents, checked unchanged at the end: "idle: ok").
// Submission s launches, in ascending b, an update of every buffer b with (b + s) % 4 == 0 from
// itself and buffer (b + 1) % N (the stream runs each kernel after the previous one, as
// vk_manybuf's barriers and cl_manybuf's in-order queue do), then a one-thread kernel writing
// meta[0] = s + 1, then records an event that marks the submission's completion. Up to 3
// submissions are in flight (a ring of 3 events: submission s waits for submission s - 3). The CPU
// reference is ManybufStep() in examples/reference.cpp.
//
//   cu_manybuf --mib 16 --buffers 128 --steps 300
#include <array>
#include <cstdint>
#include <cstdio>

#include "examples/cuda/common.h"

namespace gpucr::examples::cu {
namespace {

constexpr uint32_t kDefaultMib = 32;
constexpr size_t kRing = 3;

// Update of one buffer, out[i] = rotl(out[i], 7) ^ (other[(5i + step) % n] + salt); 32-bit unsigned
// (wrapping) arithmetic. Same computation as opencl/kernels/manybuf.cl and
// vulkan/shaders/manybuf.comp; must match ManybufStep() in examples/reference.cpp.
__global__ void ManybufKernel(uint32_t* out_words, const uint32_t* other, uint32_t n, uint32_t step) {
    const uint32_t first = blockIdx.x * blockDim.x + threadIdx.x;
    const uint32_t stride = gridDim.x * blockDim.x;
    const uint32_t salt = step * 0x85EBCA6Bu;
    for (uint32_t i = first; i < n; i += stride) {
        const uint32_t x = out_words[i];
        out_words[i] = ((x << 7) | (x >> 25)) ^ (other[(i * 5u + step) % n] + salt);
    }
}

// The last command of a submission: records the completed step count (value = step + 1).
__global__ void MetaKernel(uint32_t* meta_words, uint32_t value) {
    if (blockIdx.x * blockDim.x + threadIdx.x == 0u) meta_words[0] = value;
}

// Launches submission s's kernels on the stream (not its event).
Status LaunchSubmission(cudaStream_t stream, const BufferSet& buffers, uint32_t count, uint32_t words, uint32_t s) {
    const uint32_t grid = GridFor(words);
    for (uint32_t b = 0; b < count; ++b) {
        if ((b + s) % 4 != 0) continue;
        auto* out = static_cast<uint32_t*>(buffers[b].ptr);
        auto* other = static_cast<const uint32_t*>(buffers[(b + 1) % count].ptr);
        ManybufKernel<<<grid, kWorkgroupSize, 0, stream>>>(out, other, words, s);
        GPUCR_RETURN_IF_ERROR(CheckLaunch("ManybufKernel"));
    }
    MetaKernel<<<GridFor(1), kWorkgroupSize, 0, stream>>>(static_cast<uint32_t*>(buffers[count].ptr), s + 1);
    return CheckLaunch("MetaKernel");
}

Status RunManybuf(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kManybuf, .mib = options.mib, .buffers = options.buffers};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers;
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
    ReportSetup("cu_manybuf", options, *ctx, buffers.buffers(), "cudaMemcpy upload and read-back");
    const uint32_t count = options.buffers;
    const uint32_t words = static_cast<uint32_t>(specs[0].size / 4);
    // The idle object: created after all others, so it does not change their order.
    BufferSet idle;
    std::vector<BufferSpec> idle_spec;
    uint64_t idle_checksum = 0;
    if (options.idle_mib > 0) {
        idle_spec.push_back({"idle", uint64_t{options.idle_mib} << 20, InitKind::kPrng, 0x1d1e, false});
        GPUCR_RETURN_IF_ERROR(idle.Create(idle_spec));
        GPUCR_RETURN_IF_ERROR(ctx->Initialize(idle.buffers(), idle_spec));
        GPUCR_ASSIGN_OR_RETURN(idle_checksum, ctx->Checksum(idle.buffers()));
    }
    const cudaStream_t stream = ctx->stream();
    std::array<std::unique_ptr<Submission>, kRing> ring;
    for (auto& submission : ring) {
        GPUCR_ASSIGN_OR_RETURN(submission, Submission::Create(stream));
    }

    StepRecorder recorder("cu_manybuf", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    uint32_t completed = 0;  // submissions complete in order on the stream
    for (uint32_t s = 0; s < options.steps; ++s) {
        Submission& submission = *ring[s % kRing];
        if (submission.in_flight()) {  // submission s - 3
            GPUCR_ASSIGN_OR_RETURN(double ms, submission.Wait());
            recorder.Record(completed++, ms);
        }
        GPUCR_RETURN_IF_ERROR(submission.Begin());
        GPUCR_RETURN_IF_ERROR(LaunchSubmission(stream, buffers, count, words, s));
        GPUCR_RETURN_IF_ERROR(submission.Submit());
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    while (completed < options.steps) {
        GPUCR_ASSIGN_OR_RETURN(double ms, ring[completed % kRing]->Wait());
        recorder.Record(completed++, ms);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers()));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    if (options.idle_mib > 0) {
        GPUCR_ASSIGN_OR_RETURN(uint64_t now, ctx->Checksum(idle.buffers()));
        if (now != idle_checksum) return Internal("the idle memory object changed");
        std::printf("idle: ok\n");
    }
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples::cu

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"cu_manybuf", ExampleApi::kCuda, cu::kDefaultMib, /*has_buffers=*/true}, argc, argv,
                      cu::RunManybuf);
}
