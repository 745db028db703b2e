// object_types.h — typed wrappers for the handle types gpucr tracks (fields are added by the checkpoint code).
//
// WrapperOf<VkBuffer>::type is Buffer, so Wrap<VkBuffer> allocates a Buffer and Get<VkBuffer> returns one.
// Non-dispatchable wrappers derive from Object; dispatchable ones from DispatchableObject and must stay
// non-polymorphic (the loader owns their first word).
//
//   Buffer* b = Get(app_buffer);
//   VkBuffer driver = reinterpret_cast<VkBuffer>(b->driver);
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/vulkan/spirv_reflect.h"
#include <vector>

#include "layers/vulkan/command_log.h"
#include "layers/vulkan/objects.h"

namespace gpucr::vk {

// Tracked state, filled by the hooks (layers/vulkan/hooks_*.cpp). Everything needed to
// describe the object in an image and to create it again; references to other objects are
// by stable id, never by handle or pointer (an id may outlive its object).

struct DeviceMemory : Object {
    VkDeviceSize size = 0;              // allocationSize the application asked for
    uint32_t type_index = 0;
    VkMemoryPropertyFlags properties = 0;
    uint8_t* host = nullptr;            // stable host view (layer-owned mapping or persistent driver map)
    uint64_t host_size = 0;             // bytes of the layer-owned mapping (page-rounded), 0 if driver map
    bool imported = false;              // backed by layer-owned memory (VK_EXT_external_memory_host)
    uint64_t dedicated_buffer = 0;      // ids from VkMemoryDedicatedAllocateInfo
    uint64_t dedicated_image = 0;
    std::atomic<int> app_maps{0};       // the application holds a mapping
    VkDeviceSize map_offset = 0;
    VkDeviceSize map_size = 0;
};
struct Buffer : Object {
    VkDeviceSize size = 0;
    VkBufferUsageFlags usage = 0;
    VkBufferCreateFlags flags = 0;
    uint64_t memory = 0;                // bound memory id, 0 until bound
    VkDeviceSize memory_offset = 0;
};
struct BufferView : Object {
    uint64_t buffer = 0;
    VkFormat format = VK_FORMAT_UNDEFINED;
    VkDeviceSize offset = 0;
    VkDeviceSize range = 0;
};
struct Image : Object {
    VkImageCreateInfo info{};           // pNext and queue family pointers cleared
    uint64_t memory = 0;
    VkDeviceSize memory_offset = 0;
    VkDeviceSize memory_size = 0;       // from vkGetImageMemoryRequirements at bind
};
struct ImageView : Object {
    uint64_t image = 0;
    VkImageViewType view_type = VK_IMAGE_VIEW_TYPE_2D;
    VkFormat format = VK_FORMAT_UNDEFINED;
};
struct Sampler : Object {
    VkSamplerCreateInfo info{};
};
struct ShaderModule : Object {
    std::shared_ptr<const std::vector<uint32_t>> code;
    std::vector<ShaderInterface> interfaces;
    bool reflected = false;             // reflection succeeded
};
struct PipelineCache : Object {};
struct PipelineLayout : Object {
    std::vector<uint64_t> set_layouts;
    std::vector<VkPushConstantRange> push_constant_ranges;
};
struct Pipeline : Object {
    VkPipelineBindPoint bind_point = VK_PIPELINE_BIND_POINT_COMPUTE;
    uint64_t module = 0;
    uint64_t layout = 0;
    std::string entry_point;
    std::shared_ptr<const std::vector<uint32_t>> code;
    std::optional<ShaderInterface> interface;  // empty: unknown access (treated as writing everything)
    VkPipelineCreateFlags flags = 0;
    std::vector<uint8_t> specialization_data;
    std::vector<VkSpecializationMapEntry> specialization_map;
};
struct DescriptorSetLayout : Object {
    struct Binding {
        VkDescriptorType type = VK_DESCRIPTOR_TYPE_MAX_ENUM;
        uint32_t count = 0;
        VkShaderStageFlags stages = 0;
    };
    std::map<uint32_t, Binding> bindings;
    VkDescriptorSetLayoutCreateFlags flags = 0;
};
struct DescriptorPool : Object {
    VkDescriptorPoolCreateFlags flags = 0;
    uint32_t max_sets = 0;
    std::vector<VkDescriptorPoolSize> sizes;
};
// What one descriptor points at.
struct Descriptor {
    VkDescriptorType type = VK_DESCRIPTOR_TYPE_MAX_ENUM;
    uint64_t buffer = 0;                // buffer id (buffers and texel buffer views resolve to it)
    VkDeviceSize offset = 0;
    VkDeviceSize range = 0;             // VK_WHOLE_SIZE allowed
    uint64_t image = 0;                 // image id (through the image view)
    uint64_t view = 0;                  // image/buffer view id
    uint64_t sampler = 0;
    VkImageLayout layout = VK_IMAGE_LAYOUT_UNDEFINED;
};
struct DescriptorSet : Object {
    uint64_t layout = 0;
    std::mutex mu;
    std::map<uint32_t, std::vector<Descriptor>> bindings;  // binding -> array elements
    bool opaque = false;                // updated in a way the layer cannot follow
};
struct CommandPool : Object {
    uint32_t queue_family = 0;
    VkCommandPoolCreateFlags flags = 0;
};
struct Fence : Object {
    VkFenceCreateFlags flags = 0;
    bool signaled_at_suspend = false;   // status when the driver fence was destroyed
};
struct Semaphore : Object {
    VkSemaphoreType semaphore_type = VK_SEMAPHORE_TYPE_BINARY;
    uint64_t initial_value = 0;
    uint64_t value_at_suspend = 0;      // timeline value when the driver semaphore was destroyed
};
struct Event : Object {
    bool set_at_suspend = false;
};
struct QueryPool : Object {
    VkQueryType query_type = VK_QUERY_TYPE_OCCLUSION;
    uint32_t query_count = 0;
    VkQueryPipelineStatisticFlags pipeline_statistics = 0;
};

struct Device : DispatchableObject {};
struct Queue : DispatchableObject {
    uint32_t family = 0;
    uint32_t index = 0;
    VkDeviceQueueCreateFlags flags = 0;
    std::atomic<uint64_t> last_submitted{0};  // seq of the last submission handed to the driver
    std::atomic<uint64_t> completed{0};       // a seq known complete (no driver call needed below it)
    uint64_t next_seq = 0;                    // the application synchronises a queue externally
    VkSemaphore timeline = VK_NULL_HANDLE;    // driver timeline semaphore signalled with each seq
    std::mutex submit_mu;                     // the layer's own copies share the queue with the application
};
// One recorded command, as far as the DAG needs it (and to record it again).
struct RecordedCommand {
    enum class Kind { kDispatch, kDispatchIndirect, kCopyBuffer, kFillBuffer, kUpdateBuffer, kCopyToImage,
                      kCopyFromImage, kCopyImage, kClearImage, kExecute, kUnmodeled };
    Kind kind = Kind::kUnmodeled;
    std::string name;                         // the vkCmd* name, for labels
    uint64_t pipeline = 0;
    std::vector<std::pair<uint64_t, std::vector<uint32_t>>> sets;  // bound sets and dynamic offsets, by set index
    uint32_t group_count[3] = {0, 0, 0};
    uint64_t src = 0;                         // buffer/image ids
    uint64_t dst = 0;
    std::vector<std::pair<VkDeviceSize, VkDeviceSize>> src_ranges;  // (offset, size) in the source
    std::vector<std::pair<VkDeviceSize, VkDeviceSize>> dst_ranges;  // (offset, size) in the destination
    std::vector<uint64_t> secondaries;        // kExecute
    std::vector<uint8_t> push_constants;      // dispatches: the push-constant bytes in effect
};
struct CommandBuffer : DispatchableObject {
    VkCommandBufferLevel level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    std::vector<RecordedCommand> commands;
    // Recording state.
    uint64_t bound_compute_pipeline = 0;
    std::vector<std::pair<uint64_t, std::vector<uint32_t>>> bound_compute_sets;
    std::vector<uint8_t> push_constants;
    bool unmodeled = false;                   // recorded something outside the modelled set
    std::unique_ptr<CommandLog> log;          // every command, replayable (command_log.h); null until begun
};

#define GPUCR_VK_WRAPPER(handle, wrapper) \
    template <>                           \
    struct WrapperOf<handle> {            \
        using type = wrapper;             \
    }
GPUCR_VK_WRAPPER(VkDeviceMemory, DeviceMemory);
GPUCR_VK_WRAPPER(VkBuffer, Buffer);
GPUCR_VK_WRAPPER(VkBufferView, BufferView);
GPUCR_VK_WRAPPER(VkImage, Image);
GPUCR_VK_WRAPPER(VkImageView, ImageView);
GPUCR_VK_WRAPPER(VkSampler, Sampler);
GPUCR_VK_WRAPPER(VkShaderModule, ShaderModule);
GPUCR_VK_WRAPPER(VkPipelineCache, PipelineCache);
GPUCR_VK_WRAPPER(VkPipelineLayout, PipelineLayout);
GPUCR_VK_WRAPPER(VkPipeline, Pipeline);
GPUCR_VK_WRAPPER(VkDescriptorSetLayout, DescriptorSetLayout);
GPUCR_VK_WRAPPER(VkDescriptorPool, DescriptorPool);
GPUCR_VK_WRAPPER(VkDescriptorSet, DescriptorSet);
GPUCR_VK_WRAPPER(VkCommandPool, CommandPool);
GPUCR_VK_WRAPPER(VkFence, Fence);
GPUCR_VK_WRAPPER(VkSemaphore, Semaphore);
GPUCR_VK_WRAPPER(VkEvent, Event);
GPUCR_VK_WRAPPER(VkQueryPool, QueryPool);
GPUCR_VK_WRAPPER(VkDevice, Device);
GPUCR_VK_WRAPPER(VkQueue, Queue);
GPUCR_VK_WRAPPER(VkCommandBuffer, CommandBuffer);
#undef GPUCR_VK_WRAPPER

}  // namespace gpucr::vk
