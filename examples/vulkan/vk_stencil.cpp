// vk_stencil — ping-pong integer stencil over two storage buffers (DESIGN.md §7, examples/README.md).
//
// Memory objects (creation order): A (mib/2 MiB), B (mib/2 MiB), meta (4 KiB). Step s runs two
// passes, B <- f(A, 2s) then A <- f(B, 2s + 1), so every buffer is written every step; the last
// pass also writes meta[0] = s + 1. The CPU reference is StencilStep() in examples/reference.cpp.
//
//   vk_stencil --mib 8 --steps 20 --stats /tmp/stencil.json
#include <cstdint>
#include <cstdio>

#include "examples/vulkan/common.h"
#include "examples/vulkan/stencil_spv.h"

namespace gpucr::examples {
namespace {

constexpr uint32_t kDefaultMib = 8;

struct StencilPush {
    uint32_t n;
    uint32_t pass_index;
    uint32_t write_meta;
    uint32_t meta_value;
};

Status RunStencil(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kStencil, .mib = options.mib};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers(*ctx);
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs, options.staging));
    ReportSetup("vk_stencil", options, *ctx, buffers.buffers());

    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<ComputeKernel> kernel,
                           ComputeKernel::Create(ctx->device(), kStencilSpv, 3, sizeof(StencilPush), 2));
    const VkBuffer a = buffers[0].buffer, b = buffers[1].buffer, meta = buffers[2].buffer;
    GPUCR_ASSIGN_OR_RETURN(VkDescriptorSet a_to_b, kernel->AllocateSet(std::vector<VkBuffer>{a, b, meta}));
    GPUCR_ASSIGN_OR_RETURN(VkDescriptorSet b_to_a, kernel->AllocateSet(std::vector<VkBuffer>{b, a, meta}));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Frame> frame, Frame::Create(*ctx));
    const uint32_t n = static_cast<uint32_t>(specs[0].size / 4);

    StepRecorder recorder("vk_stencil", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    for (uint32_t s = 0; s < options.steps; ++s) {
        GPUCR_ASSIGN_OR_RETURN(VkCommandBuffer cmd, frame->Begin());
        const StencilPush first{n, 2 * s, 0, 0};
        const StencilPush second{n, 2 * s + 1, 1, s + 1};
        ComputeBarrier(cmd);
        kernel->Dispatch(cmd, a_to_b, &first, n);
        ComputeBarrier(cmd);
        kernel->Dispatch(cmd, b_to_a, &second, n);
        GPUCR_RETURN_IF_ERROR(frame->Submit());
        GPUCR_ASSIGN_OR_RETURN(double ms, frame->Wait());
        recorder.Record(s, ms);
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers(), options.staging));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"vk_stencil", ExampleApi::kVulkan, kDefaultMib, /*has_buffers=*/false}, argc, argv, RunStencil);
}
