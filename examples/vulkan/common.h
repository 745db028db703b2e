// common.h — shared plumbing of the Vulkan example workloads (vk_stencil, vk_serving, vk_manybuf).
//
// Plain Vulkan 1.1 compute, no knowledge of gpucr: a context (instance, device, one compute
// queue), buffers with one VkDeviceMemory each, upload/read-back that map host-visible memory
// directly or go through a temporary staging buffer (NVIDIA device-local memory), compute
// pipelines from embedded SPIR-V. The command line, step timing and stats are API-neutral
// (examples/common_cli.h).
//
//   int main(int argc, char** argv) {
//       return RunExample({"vk_stencil", ExampleApi::kVulkan, 8, /*has_buffers=*/false}, argc, argv,
//                         [](const Options& o) -> Status {
//                             GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(o));
//                             ...
//                         });
//   }
#pragma once

#include <vulkan/vulkan.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dag/status.h"
#include "examples/common_cli.h"
#include "examples/reference.h"

namespace gpucr::examples {

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc.
const char* VkResultName(VkResult result);
Status VkError(const char* what, VkResult result);

#define GPUCR_VK_RETURN_IF_ERROR(call)                                     \
    do {                                                                   \
        VkResult gpucr_vk_result_ = (call);                                \
        if (gpucr_vk_result_ != VK_SUCCESS) return ::gpucr::examples::VkError(#call, gpucr_vk_result_); \
    } while (0)

// A buffer bound to its own VkDeviceMemory.
struct Buffer {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkDeviceSize size = 0;
    bool mappable = false;  // HOST_VISIBLE | HOST_COHERENT
};

enum class MemoryUse {
    kDeviceState,  // prefer DEVICE_LOCAL
    kHostInput,    // HOST_VISIBLE | HOST_COHERENT, persistently mapped by the host
    kStaging,      // HOST_VISIBLE | HOST_COHERENT, prefer HOST_CACHED (read-back)
};

class Context {
public:
    static Result<std::unique_ptr<Context>> Create(const Options& options);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    VkDevice device() const { return device_; }
    VkQueue queue() const { return queue_; }
    VkCommandPool command_pool() const { return pool_; }
    const std::string& device_name() const { return device_name_; }

    // Creates a buffer and allocates + binds one VkDeviceMemory of exactly its size.
    [[nodiscard]] Result<Buffer> CreateBuffer(VkDeviceSize size, MemoryUse use);
    void DestroyBuffer(Buffer& buffer);

    // Writes the initial contents (FillInitial) of each buffer: through a mapping when the memory
    // is mappable and !force_staging, else through one staging buffer that is freed before return.
    [[nodiscard]] Status Initialize(std::span<Buffer> buffers, std::span<const BufferSpec> specs, bool force_staging);
    // XXH64 of all buffers' contents in order (StateHasher), reading back like Initialize writes.
    [[nodiscard]] Result<uint64_t> Checksum(std::span<const Buffer> buffers, bool force_staging);

    // Records with `record` into a one-time command buffer, submits it and waits.
    [[nodiscard]] Status RunOnce(const std::function<void(VkCommandBuffer)>& record);

private:
    Context() = default;
    Status Init(const Options& options);
    Result<uint32_t> FindMemoryType(uint32_t type_bits, MemoryUse use) const;
    Status CopyThroughStaging(std::span<const Buffer> buffers, bool upload,
                              const std::function<void(size_t, std::span<uint32_t>)>& visit);

    VkInstance instance_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkRenderPass render_pass_ = VK_NULL_HANDLE;
    VkPhysicalDeviceMemoryProperties memory_props_{};
    std::string device_name_;
};

// The buffers of an example in creation order (Layout()), destroyed in reverse order.
class BufferSet {
public:
    explicit BufferSet(Context& ctx) : ctx_(ctx) {}
    ~BufferSet();
    BufferSet(const BufferSet&) = delete;
    BufferSet& operator=(const BufferSet&) = delete;

    // Creates one buffer + memory per spec (host_written specs get MemoryUse::kHostInput), in order.
    [[nodiscard]] Status Create(std::span<const BufferSpec> specs);
    std::vector<Buffer>& buffers() { return buffers_; }
    Buffer& operator[](size_t i) { return buffers_[i]; }

private:
    Context& ctx_;
    std::vector<Buffer> buffers_;
};

// Descriptor set layout (N storage buffers, compute stage), pipeline layout with a push-constant
// block, compute pipeline from SPIR-V, descriptor pool and sets. Owns and destroys them all.
class ComputeKernel {
public:
    static Result<std::unique_ptr<ComputeKernel>> Create(VkDevice device, std::span<const uint32_t> spirv,
                                                         uint32_t bindings, uint32_t push_bytes, uint32_t max_sets);
    ~ComputeKernel();
    ComputeKernel(const ComputeKernel&) = delete;
    ComputeKernel& operator=(const ComputeKernel&) = delete;

    // Allocates a set binding `buffers` (whole range) to bindings 0..n-1.
    [[nodiscard]] Result<VkDescriptorSet> AllocateSet(std::span<const VkBuffer> buffers);
    // Binds pipeline and set, pushes `push`, dispatches enough groups for `items` (grid-stride, capped).
    void Dispatch(VkCommandBuffer cmd, VkDescriptorSet set, const void* push, uint32_t items) const;

private:
    ComputeKernel() = default;
    VkDevice device_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
    VkDescriptorPool pool_ = VK_NULL_HANDLE;
    uint32_t bindings_ = 0;
    uint32_t push_bytes_ = 0;
};

// A command buffer and its fence, re-recorded for every step it carries. Submission latency is
// measured from vkQueueSubmit to the return of the fence wait.
class Frame {
public:
    static Result<std::unique_ptr<Frame>> Create(Context& ctx);
    ~Frame();
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;

    // Resets and begins the command buffer (the frame must not be in flight).
    [[nodiscard]] Result<VkCommandBuffer> Begin();
    // Ends the command buffer and submits it with the fence.
    [[nodiscard]] Status Submit();
    // Waits for the submission; returns its latency in ms.
    [[nodiscard]] Result<double> Wait();
    bool in_flight() const { return in_flight_; }

private:
    explicit Frame(Context& ctx) : ctx_(ctx) {}
    Context& ctx_;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    bool in_flight_ = false;
    std::chrono::steady_clock::time_point submitted_;
};

// Shader writes of earlier commands (this or earlier submissions) become visible to later
// shader reads and writes.
void ComputeBarrier(VkCommandBuffer cmd);

// One line on stderr (unless --quiet): device, memory objects, and whether the state memory is
// mapped directly or reached through staging copies.
void ReportSetup(const char* name, const Options& options, const Context& ctx, std::span<const Buffer> buffers);

}  // namespace gpucr::examples
