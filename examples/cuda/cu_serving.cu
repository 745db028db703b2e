// cu_serving — inference-serving access pattern (DESIGN.md §7, examples/README.md); the CUDA
// counterpart of vk_serving and cl_serving, with the same memory objects, requests and checksum.
//
// Memory objects (creation order, one cudaMalloc each): weights (mib MiB, read-only, uploaded
// once), activations (64 KiB), input (4 KiB, an ordinary device allocation), meta (4 KiB).
// Request s: the host writes the request into a pinned host buffer (cudaHostAlloc, allocated
// once, after the device buffers: data words, then header word 0 = s + 1, as WriteServingInput
// does), then the stream runs cudaMemcpyAsync of that buffer into `input` and the serving kernel,
// act[j] = f(act[j], input[1 + j % 1023], 4 reads of W), which also writes meta[0] = s + 1; the host
// waits for the event recorded after it before writing the next request. The CPU reference is
// WriteServingInput() + ServingStep() in examples/reference.cpp. No managed or mapped memory.
//
//   cu_serving --mib 32 --steps 200 --step-ms 5 --ready-file /tmp/ready
#include <cstdint>
#include <cstdio>

#include "examples/cuda/common.h"

namespace gpucr::examples::cu {
namespace {

constexpr uint32_t kDefaultMib = 64;

// One request, act[j] = f(act[j], input[1 + j % n_input], a few reads of W); 32-bit unsigned
// (wrapping) arithmetic. Same computation as opencl/kernels/serving.cl and
// vulkan/shaders/serving.comp; must match ServingStep() in examples/reference.cpp.
__global__ void ServingKernel(const uint32_t* weights, uint32_t* act, const uint32_t* input_words, uint32_t* meta,
                              uint64_t n_weights,  // 2^33 at 32 GiB: idx (32 bits) reaches the first 16 GiB
                              uint32_t n_act,
                              uint32_t n_input,  // data words after the header
                              uint32_t step) {
    const uint32_t first = blockIdx.x * blockDim.x + threadIdx.x;
    const uint32_t stride = gridDim.x * blockDim.x;
    for (uint32_t j = first; j < n_act; j += stride) {
        uint32_t a = act[j];
        const uint32_t x = input_words[1u + j % n_input];
        for (uint32_t r = 0u; r < kServingWeightReads; ++r) {
            const uint32_t idx = j * kServingIndexStride + step * kServingRequestStride + r * kServingReadStride;
            a = ((a ^ weights[idx % n_weights]) * 0x01000193u) + (x >> r) + step;
        }
        act[j] = a;
    }
    if (first == 0u) meta[0] = step + 1u;
}

// The pinned (page-locked) host buffer the requests are written into, freed with cudaFreeHost.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    ~PinnedBuffer() {
        if (ptr_ != nullptr) cudaFreeHost(ptr_);
    }
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;

    [[nodiscard]] Status Allocate(uint64_t bytes) {
        GPUCR_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&ptr_, bytes, cudaHostAllocDefault));
        size_ = bytes;
        return Status::Ok();
    }
    std::span<uint32_t> words() const { return {static_cast<uint32_t*>(ptr_), size_ / 4}; }
    void* data() const { return ptr_; }
    uint64_t size() const { return size_; }

private:
    void* ptr_ = nullptr;
    uint64_t size_ = 0;
};

Status RunServing(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kServing, .mib = options.mib};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers;
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
    ReportSetup("cu_serving", options, *ctx, buffers.buffers(),
                "cudaMemcpy upload and read-back, input from pinned memory per request");

    const Buffer& input = buffers[2];
    PinnedBuffer request;
    GPUCR_RETURN_IF_ERROR(request.Allocate(input.size));
    auto* weights = static_cast<const uint32_t*>(buffers[0].ptr);
    auto* act = static_cast<uint32_t*>(buffers[1].ptr);
    auto* input_words = static_cast<const uint32_t*>(input.ptr);
    auto* meta = static_cast<uint32_t*>(buffers[3].ptr);
    const uint64_t n_weights = specs[0].size / 4;
    const uint32_t n_act = static_cast<uint32_t>(specs[1].size / 4);
    const uint32_t n_input = static_cast<uint32_t>(specs[2].size / 4 - 1);
    const uint32_t grid = GridFor(n_act);
    const cudaStream_t stream = ctx->stream();
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Submission> submission, Submission::Create(stream));

    StepRecorder recorder("cu_serving", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    for (uint32_t s = 0; s < options.steps; ++s) {
        // The previous request's copy and kernel have completed (its event was waited for), so the
        // pinned buffer is free to be rewritten.
        WriteServingInput(s, request.words());
        GPUCR_RETURN_IF_ERROR(submission->Begin());
        GPUCR_CUDA_RETURN_IF_ERROR(
            cudaMemcpyAsync(input.ptr, request.data(), request.size(), cudaMemcpyHostToDevice, stream));
        ServingKernel<<<grid, kWorkgroupSize, 0, stream>>>(weights, act, input_words, meta, n_weights, n_act, n_input,
                                                           s);
        GPUCR_RETURN_IF_ERROR(CheckLaunch("ServingKernel"));
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
    return RunExample({"cu_serving", ExampleApi::kCuda, cu::kDefaultMib, /*has_buffers=*/false}, argc, argv,
                      cu::RunServing);
}
