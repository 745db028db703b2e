// vk_serving — inference-serving access pattern (DESIGN.md §7, examples/README.md).
//
// Memory objects (creation order): weights (mib MiB, read-only, uploaded once), activations
// (64 KiB), input (4 KiB, host-visible, persistently mapped, written by the host before each
// request: data words, then header word 0 = request + 1), meta (4 KiB). Request s computes
// act[j] = f(act[j], input[1 + j % 1023], 4 reads of W) and writes meta[0] = s + 1. The CPU
// reference is WriteServingInput() + ServingStep() in examples/reference.cpp.
//
//   vk_serving --mib 32 --steps 200 --step-ms 5 --ready-file /tmp/ready
#include <cstdint>
#include <cstdio>

#include "examples/vulkan/common.h"
#include "examples/vulkan/serving_spv.h"

namespace gpucr::examples {
namespace {

constexpr uint32_t kDefaultMib = 64;

struct ServingPush {
    uint32_t n_weights;
    uint32_t n_act;
    uint32_t n_input;
    uint32_t step;
};

// Keeps the input buffer mapped during the steps; unmapped before the read-back.
class InputMapping {
public:
    InputMapping(VkDevice device, const Buffer& buffer) : device_(device), memory_(buffer.memory) {}
    ~InputMapping() { Unmap(); }
    Status Map(size_t words) {
        void* p = nullptr;
        GPUCR_VK_RETURN_IF_ERROR(vkMapMemory(device_, memory_, 0, VK_WHOLE_SIZE, 0, &p));
        words_ = std::span<uint32_t>(static_cast<uint32_t*>(p), words);
        return Status::Ok();
    }
    void Unmap() {
        if (!words_.empty()) vkUnmapMemory(device_, memory_);
        words_ = {};
    }
    std::span<uint32_t> words() const { return words_; }

private:
    VkDevice device_;
    VkDeviceMemory memory_;
    std::span<uint32_t> words_;
};

Status RunServing(const Options& options) {
    const WorkloadParams params{.kind = ExampleKind::kServing, .mib = options.mib};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(options));
    BufferSet buffers(*ctx);
    GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
    GPUCR_RETURN_IF_ERROR(ctx->Initialize(buffers.buffers(), specs, options.staging));
    ReportSetup("vk_serving", options, *ctx, buffers.buffers());

    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<ComputeKernel> kernel,
                           ComputeKernel::Create(ctx->device(), kServingSpv, 4, sizeof(ServingPush), 1));
    std::vector<VkBuffer> handles;
    for (const Buffer& b : buffers.buffers()) handles.push_back(b.buffer);
    GPUCR_ASSIGN_OR_RETURN(VkDescriptorSet set, kernel->AllocateSet(handles));
    GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Frame> frame, Frame::Create(*ctx));
    InputMapping input(ctx->device(), buffers[2]);
    GPUCR_RETURN_IF_ERROR(input.Map(specs[2].size / 4));
    ServingPush push{static_cast<uint32_t>(specs[0].size / 4), static_cast<uint32_t>(specs[1].size / 4),
                     static_cast<uint32_t>(specs[2].size / 4 - 1), 0};

    StepRecorder recorder("vk_serving", options);
    GPUCR_RETURN_IF_ERROR(recorder.Start());
    for (uint32_t s = 0; s < options.steps; ++s) {
        WriteServingInput(s, input.words());  // host write to mapped memory, header last
        GPUCR_ASSIGN_OR_RETURN(VkCommandBuffer cmd, frame->Begin());
        push.step = s;
        ComputeBarrier(cmd);
        kernel->Dispatch(cmd, set, &push, push.n_act);
        GPUCR_RETURN_IF_ERROR(frame->Submit());
        GPUCR_ASSIGN_OR_RETURN(double ms, frame->Wait());
        recorder.Record(s, ms);
        if (s + 1 < options.steps) PauseBetweenSteps(options);
    }
    GPUCR_RETURN_IF_ERROR(recorder.Finish());
    input.Unmap();
    GPUCR_ASSIGN_OR_RETURN(uint64_t checksum, ctx->Checksum(buffers.buffers(), options.staging));
    std::printf("%s\n", ChecksumLine(checksum).c_str());
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples

int main(int argc, char** argv) {
    using namespace gpucr::examples;
    return RunExample({"vk_serving", ExampleApi::kVulkan, kDefaultMib, /*has_buffers=*/false}, argc, argv, RunServing);
}
