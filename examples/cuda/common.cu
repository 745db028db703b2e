#include "examples/cuda/common.h"

#include <algorithm>
#include <cstdio>

namespace gpucr::examples::cu {
namespace {

constexpr uint32_t kMaxGroups = 65535;          // as the Vulkan and OpenCL examples
constexpr uint64_t kTransferChunk = 16 * kMiB;  // read-back granularity of Checksum()

}  // namespace

Status CudaError(const std::string& what, cudaError_t error) {
    std::string message = what + ": " + cudaGetErrorString(error);
    if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver) return Unavailable(std::move(message));
    return Internal(std::move(message));
}

Status CheckLaunch(const char* kernel) {
    const cudaError_t error = cudaGetLastError();
    if (error != cudaSuccess) return CudaError(std::string(kernel) + " launch", error);
    return Status::Ok();
}

uint32_t GridFor(uint64_t items) {
    return static_cast<uint32_t>(std::clamp<uint64_t>((items + kWorkgroupSize - 1) / kWorkgroupSize, 1, kMaxGroups));
}

// ---------------------------------------------------------------------------------------------
// Context

Result<std::unique_ptr<Context>> Context::Create(const Options& options) {
    std::unique_ptr<Context> ctx(new Context());
    GPUCR_RETURN_IF_ERROR(ctx->Init(options));
    return Result<std::unique_ptr<Context>>(std::move(ctx));  // (nvcc does not move implicitly here)
}

Status Context::Init(const Options& options) {
    int count = 0;
    const cudaError_t error = cudaGetDeviceCount(&count);
    if (error != cudaSuccess) {
        return Unavailable(std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(error) + ")");
    }
    if (count == 0) return Unavailable("no CUDA device (cudaGetDeviceCount returned 0)");
    if (options.device >= static_cast<uint32_t>(count)) {
        return InvalidArgument("--device " + std::to_string(options.device) + ": only " + std::to_string(count) +
                               " CUDA device(s)");
    }
    device_ = static_cast<int>(options.device);
    GPUCR_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    cudaDeviceProp props{};
    GPUCR_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&props, device_));
    device_name_ = std::string(props.name) + " (CUDA device " + std::to_string(device_) + ", sm_" +
                   std::to_string(props.major) + std::to_string(props.minor) + ")";
    GPUCR_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    return Status::Ok();
}

Context::~Context() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

Status Context::Initialize(std::span<const Buffer> buffers, std::span<const BufferSpec> specs) {
    if (buffers.size() != specs.size()) return Internal("Initialize: buffers and specs differ in number");
    std::vector<uint32_t> words;
    for (size_t i = 0; i < buffers.size(); ++i) {
        words.resize(specs[i].size / 4);
        FillInitial(specs[i], words);
        GPUCR_CUDA_RETURN_IF_ERROR(cudaMemcpy(buffers[i].ptr, words.data(), buffers[i].size, cudaMemcpyHostToDevice));
    }
    // A copy from pageable memory may return before it reached the device, and the legacy default
    // stream it ran on does not order the non-blocking stream's kernels after it.
    GPUCR_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
    return Status::Ok();
}

Result<uint64_t> Context::Checksum(std::span<const Buffer> buffers) {
    GPUCR_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    StateHasher hasher;
    uint64_t largest = 0;
    for (const Buffer& b : buffers) largest = std::max(largest, b.size);
    std::vector<uint8_t> chunk(std::min(largest, kTransferChunk));
    for (const Buffer& b : buffers) {
        for (uint64_t offset = 0; offset < b.size; offset += kTransferChunk) {
            const uint64_t bytes = std::min(kTransferChunk, b.size - offset);
            // Device to host: cudaMemcpy returns once the copy is complete.
            GPUCR_CUDA_RETURN_IF_ERROR(
                cudaMemcpy(chunk.data(), static_cast<const uint8_t*>(b.ptr) + offset, bytes, cudaMemcpyDeviceToHost));
            hasher.Update(chunk.data(), bytes);
        }
    }
    return hasher.Digest();
}

// ---------------------------------------------------------------------------------------------
// BufferSet

BufferSet::~BufferSet() {
    for (auto it = buffers_.rbegin(); it != buffers_.rend(); ++it) cudaFree(it->ptr);
}

Status BufferSet::Create(std::span<const BufferSpec> specs) {
    for (const BufferSpec& spec : specs) {
        Buffer b;
        b.size = spec.size;
        b.role = spec.role;
        const cudaError_t error = cudaMalloc(&b.ptr, spec.size);
        if (error != cudaSuccess) {
            return CudaError("cudaMalloc(" + spec.role + ", " + std::to_string(spec.size) + " bytes)", error);
        }
        buffers_.push_back(std::move(b));
    }
    return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Submission

Result<std::unique_ptr<Submission>> Submission::Create(cudaStream_t stream) {
    std::unique_ptr<Submission> s(new Submission(stream));
    GPUCR_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&s->done_, cudaEventDisableTiming));
    return Result<std::unique_ptr<Submission>>(std::move(s));
}

Submission::~Submission() {
    if (done_ == nullptr) return;
    if (in_flight_) cudaEventSynchronize(done_);
    cudaEventDestroy(done_);
}

Status Submission::Begin() {
    if (in_flight_) return Internal("submission re-used while in flight");
    submitted_ = std::chrono::steady_clock::now();
    return Status::Ok();
}

Status Submission::Submit() {
    GPUCR_CUDA_RETURN_IF_ERROR(cudaEventRecord(done_, stream_));
    in_flight_ = true;
    return Status::Ok();
}

Result<double> Submission::Wait() {
    if (!in_flight_) return Internal("waiting for a submission that is not in flight");
    in_flight_ = false;
    GPUCR_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(done_));
    return MillisecondsSince(submitted_);
}

void ReportSetup(const char* name, const Options& options, const Context& ctx, std::span<const Buffer> buffers,
                 const char* access) {
    uint64_t bytes = 0;
    for (const Buffer& b : buffers) bytes += b.size;
    PrintSetup(name, options, ctx.device_name(), buffers.size(), bytes, access);
}

}  // namespace gpucr::examples::cu
