// cl_serving — inference-serving access pattern (DESIGN.md §7, examples/README.md); the OpenCL
// counterpart of vk_serving, with the same memory objects, requests and checksum.
//
// Memory objects (creation order): weights (mib MiB, read-only, uploaded once), activations
// (64 KiB), input (4 KiB, CL_MEM_ALLOC_HOST_PTR, written by the host before each request through a
// mapping: data words, then header word 0 = request + 1), meta (4 KiB). Request s computes
// act[j] = f(act[j], input[1 + j % 1023], 4 reads of W) and writes meta[0] = s + 1. The CPU
// reference is WriteServingInput() + ServingStep() in examples/reference.cpp.
//
// The input buffer: vk_serving keeps host-coherent memory mapped for the whole run. OpenCL 1.2
// makes a write through a mapping visible to the device only once the region is unmapped, and
// leaves undefined what a kernel sees of a buffer that is mapped while it runs, so cl_serving maps
// the input buffer (CL_MAP_WRITE_INVALIDATE_REGION) before each request, writes the whole request
// in place, and unmaps it before the request's kernel is enqueued.
//
//   cl_serving --mib 32 --steps 200 --step-ms 5 --ready-file /tmp/ready
#include <cstdint>
#include <cstdio>

#include "examples/opencl/common.h"
#include "examples/opencl/serving_cl.h"

namespace gpucr::examples::opencl {
namespace {

constexpr uint32_t kDefaultMib = 64;

// Maps the input buffer, writes request `request` into it (header last) and unmaps it; the unmap
// is ordered before later commands of the in-order queue.
Status WriteRequest(cl_command_queue queue, const Buffer& input, uint32_t request) {
    cl_int error = CL_SUCCESS;
    void* p = clEnqueueMapBuffer(queue, input.mem, CL_TRUE, CL_MAP_WRITE_INVALIDATE_REGION, 0, input.size, 0, nullptr,
                                 nullptr, &error);
    if (error != CL_SUCCESS) return ClError("clEnqueueMapBuffer", error);
    WriteServingInput(request, std::span<uint32_t>(static_cast<uint32_t*>(p), input.size / 4));
    GPUCR_CL_RETURN_IF_ERROR(clEnqueueUnmapMemObject(queue, input.mem, p, 0, nullptr, nullptr));
    return Status::Ok();
}

Status RunServing(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kServing, .mib = options.mib};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers(*ctx);
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
    ReportSetup("cl_serving", options, *ctx, buffers.buffers());

    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Program> program, Program::Create(*ctx, kServingCl));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, Kernel::Create(*ctx, *program, "serving"));
    const uint32_t n_weights = static_cast<uint32_t>(specs[0].size / 4);
    const uint32_t n_act = static_cast<uint32_t>(specs[1].size / 4);
    const uint32_t n_input = static_cast<uint32_t>(specs[2].size / 4 - 1);
    GPUCR_RETURN_IF_ERROR(
        kernel->SetArgs(0, buffers[0].mem, buffers[1].mem, buffers[2].mem, buffers[3].mem, n_weights, n_act, n_input));
    Submission submission(ctx->queue());

    StepRecorder recorder("cl_serving", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    for (uint32_t s = 0; s < options.steps; ++s) {
        GPUCR_RETURN_IF_ERROR(WriteRequest(ctx->queue(), buffers[2], s));
        GPUCR_RETURN_IF_ERROR(submission.Begin());
        GPUCR_RETURN_IF_ERROR(kernel->SetArgs(7, s));
        cl_event done = nullptr;
        GPUCR_RETURN_IF_ERROR(kernel->Enqueue(ctx->queue(), n_act, &done));
        GPUCR_RETURN_IF_ERROR(submission.Submit(done));
        GPUCR_ASSIGN_OR_RETURN(double ms, submission.Wait());
        recorder.Record(s, ms);
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers()));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples::opencl

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"cl_serving", ExampleApi::kOpenCL, opencl::kDefaultMib, /*has_buffers=*/false}, argc, argv,
                      opencl::RunServing);
}
