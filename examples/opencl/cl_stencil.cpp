// cl_stencil — ping-pong integer stencil over two buffers (DESIGN.md §7, examples/README.md); the
// OpenCL counterpart of vk_stencil, with the same memory objects, steps and checksum.
//
// Memory objects (creation order): A (mib/2 MiB), B (mib/2 MiB), meta (4 KiB). Step s enqueues
// two passes on the in-order queue, B <- f(A, 2s) then A <- f(B, 2s + 1), so every buffer is
// written every step; the last pass also writes meta[0] = s + 1. The CPU reference is
// StencilStep() in examples/reference.cpp.
//
//   cl_stencil --mib 8 --steps 20 --stats /tmp/stencil.json
#include <cstdint>
#include <cstdio>

#include "examples/opencl/common.h"
#include "examples/opencl/stencil_cl.h"

namespace gpucr::examples::opencl {
namespace {

constexpr uint32_t kDefaultMib = 8;

Status RunStencil(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kStencil, .mib = options.mib};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers(*ctx);
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs));
    ReportSetup("cl_stencil", options, *ctx, buffers.buffers());

    // One kernel object per direction, its buffers bound once (as vk_stencil's two descriptor sets).
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Program> program, Program::Create(*ctx, kStencilCl));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> a_to_b, Kernel::Create(*ctx, *program, "stencil"));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> b_to_a, Kernel::Create(*ctx, *program, "stencil"));
    const cl_mem a = buffers[0].mem, b = buffers[1].mem, meta = buffers[2].mem;
    GPUCR_RETURN_IF_ERROR(a_to_b->SetArgs(0, a, b, meta));
    GPUCR_RETURN_IF_ERROR(b_to_a->SetArgs(0, b, a, meta));
    Submission submission(ctx->queue());
    const uint32_t n = static_cast<uint32_t>(specs[0].size / 4);

    StepRecorder recorder("cl_stencil", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    for (uint32_t s = 0; s < options.steps; ++s) {
        GPUCR_RETURN_IF_ERROR(submission.Begin());
        // n, pass_index, write_meta, meta_value
        GPUCR_RETURN_IF_ERROR(a_to_b->SetArgs(3, n, 2 * s, 0u, 0u));
        GPUCR_RETURN_IF_ERROR(a_to_b->Enqueue(ctx->queue(), n));
        GPUCR_RETURN_IF_ERROR(b_to_a->SetArgs(3, n, 2 * s + 1, 1u, s + 1));
        cl_event done = nullptr;
        GPUCR_RETURN_IF_ERROR(b_to_a->Enqueue(ctx->queue(), n, &done));
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
    return RunExample({"cl_stencil", ExampleApi::kOpenCL, opencl::kDefaultMib, /*has_buffers=*/false}, argc, argv,
                      opencl::RunStencil);
}
