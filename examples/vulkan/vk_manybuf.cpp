// vk_manybuf — many small buffers, several submissions in flight (DESIGN.md §7, examples/README.md).
//
// Memory objects (creation order): buf0 .. buf<N-1> (N = --buffers, each floor(mib MiB / N)
// rounded down to 4 KiB), meta (4 KiB), and with --idle-mib M an "idle" object of M MiB that no
// step touches (pseudo-random contents, checked unchanged at the end: "idle: ok").
// Submission s updates, in ascending b, every buffer b with
// (b + s) % 4 == 0 from itself and buffer (b + 1) % N, with a barrier before each dispatch; its
// last dispatch writes meta[0] = s + 1. Up to 3 submissions are in flight (a ring of command
// buffers and fences). The CPU reference is ManybufStep() in examples/reference.cpp.
//
//   vk_manybuf --mib 16 --buffers 128 --steps 300
#include <array>
#include <cstdint>
#include <cstdio>

#include "examples/vulkan/common.h"
#include "examples/vulkan/manybuf_spv.h"
#include "examples/vulkan/meta_spv.h"

namespace gpucr::examples {
namespace {

constexpr uint32_t kDefaultMib = 32;
constexpr size_t kRing = 3;

struct ManybufPush {
    uint32_t n;
    uint32_t step;
};

struct Kernels {
    std::unique_ptr<ComputeKernel> update;
    std::unique_ptr<ComputeKernel> meta;
    std::vector<VkDescriptorSet> update_sets;  // per buffer b: (b, (b + 1) % N)
    VkDescriptorSet meta_set = VK_NULL_HANDLE;
};

Result<Kernels> CreateKernels(Context& ctx, BufferSet& buffers, uint32_t count) {
    Kernels k;
    GPUCR_ASSIGN_OR_RETURN(k.update, ComputeKernel::Create(ctx.device(), kManybufSpv, 2, sizeof(ManybufPush), count));
    GPUCR_ASSIGN_OR_RETURN(k.meta, ComputeKernel::Create(ctx.device(), kMetaSpv, 1, sizeof(uint32_t), 1));
    for (uint32_t b = 0; b < count; ++b) {
        GPUCR_ASSIGN_OR_RETURN(VkDescriptorSet set, k.update->AllocateSet(std::vector<VkBuffer>{
                                                        buffers[b].buffer, buffers[(b + 1) % count].buffer}));
        k.update_sets.push_back(set);
    }
    GPUCR_ASSIGN_OR_RETURN(k.meta_set, k.meta->AllocateSet(std::vector<VkBuffer>{buffers[count].buffer}));
    return k;
}

void RecordSubmission(VkCommandBuffer cmd, const Kernels& k, uint32_t count, uint32_t words, uint32_t s) {
    const ManybufPush push{words, s};
    for (uint32_t b = 0; b < count; ++b) {
        if ((b + s) % 4 != 0) continue;
        ComputeBarrier(cmd);  // orders after earlier dispatches, in this and earlier submissions
        k.update->Dispatch(cmd, k.update_sets[b], &push, words);
    }
    const uint32_t meta_value = s + 1;
    ComputeBarrier(cmd);
    k.meta->Dispatch(cmd, k.meta_set, &meta_value, 1);
}

Status RunManybuf(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kManybuf, .mib = options.mib, .buffers = options.buffers};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers(*ctx);
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs, options.staging));
    ReportSetup("vk_manybuf", options, *ctx, buffers.buffers());
    const uint32_t count = options.buffers;
    const uint32_t words = static_cast<uint32_t>(specs[0].size / 4);
    GPUCR_ASSIGN_OR_RETURN(Kernels kernels, CreateKernels(*ctx, buffers, count));
    // The idle object: created after all others, so it does not change their order.
    BufferSet idle(*ctx);
    std::vector<BufferSpec> idle_spec;
    uint64_t idle_checksum = 0;
    if (options.idle_mib > 0) {
        idle_spec.push_back({"idle", uint64_t{options.idle_mib} << 20, InitKind::kPrng, 0x1d1e, false});
        GPUCR_RETURN_IF_ERROR(idle.Create(idle_spec));
        GPUCR_RETURN_IF_ERROR(ctx->Initialize(idle.buffers(), idle_spec, options.staging));
        GPUCR_ASSIGN_OR_RETURN(idle_checksum, ctx->Checksum(idle.buffers(), options.staging));
    }
    std::array<std::unique_ptr<Frame>, kRing> ring;
    for (auto& f : ring) {
        GPUCR_ASSIGN_OR_RETURN(f, Frame::Create(*ctx));
    }

    StepRecorder recorder("vk_manybuf", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    uint32_t completed = 0;  // submissions complete in order on the single queue
    for (uint32_t s = 0; s < options.steps; ++s) {
        Frame& frame = *ring[s % kRing];
        if (frame.in_flight()) {
            GPUCR_ASSIGN_OR_RETURN(double ms, frame.Wait());
            recorder.Record(completed++, ms);
        }
        GPUCR_ASSIGN_OR_RETURN(VkCommandBuffer cmd, frame.Begin());
        RecordSubmission(cmd, kernels, count, words, s);
        GPUCR_RETURN_IF_ERROR(frame.Submit());
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    while (completed < options.steps) {
        GPUCR_ASSIGN_OR_RETURN(double ms, ring[completed % kRing]->Wait());
        recorder.Record(completed++, ms);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers(), options.staging));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    if (options.idle_mib > 0) {
        GPUCR_ASSIGN_OR_RETURN(uint64_t now, ctx->Checksum(idle.buffers(), options.staging));
        if (now != idle_checksum) return Internal("the idle memory object changed");
        std::printf("idle: ok\n");
    }
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"vk_manybuf", ExampleApi::kVulkan, kDefaultMib, /*has_buffers=*/true}, argc, argv, RunManybuf);
}
