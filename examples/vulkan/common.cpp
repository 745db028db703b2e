#include "examples/vulkan/common.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace gpucr::examples {
namespace {

constexpr uint32_t kMaxGroups = 65535;  // guaranteed maxComputeWorkGroupCount[0]

bool HasFlags(VkMemoryPropertyFlags flags, VkMemoryPropertyFlags wanted) { return (flags & wanted) == wanted; }

constexpr VkMemoryPropertyFlags kHostCoherent =
    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

}  // namespace

const char* VkResultName(VkResult result) {
    switch (result) {
        case VK_SUCCESS: return "VK_SUCCESS";
        case VK_NOT_READY: return "VK_NOT_READY";
        case VK_TIMEOUT: return "VK_TIMEOUT";
        case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
        case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
        case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
        case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
        case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
        case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
        case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
        case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
        case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
        case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
        case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
        case VK_ERROR_UNKNOWN: return "VK_ERROR_UNKNOWN";
        default: return "VkResult(unknown)";
    }
}

Status VkError(const char* what, VkResult result) {
    std::string call(what);
    const size_t paren = call.find('(');
    if (paren != std::string::npos) call.resize(paren);
    return Internal(call + " failed: " + VkResultName(result) + " (" + std::to_string(result) + ")");
}

// ---------------------------------------------------------------------------------------------
// Context

Result<std::unique_ptr<Context>> Context::Create(const Options& options) {
    std::unique_ptr<Context> ctx(new Context());
    GPUCR_RETURN_IF_ERROR(ctx->Init(options));
    if (options.render_pass) {
        // An object outside what gpucr captures (tests check that a dump refuses cleanly).
        VkSubpassDescription subpass{0, VK_PIPELINE_BIND_POINT_GRAPHICS};
        VkRenderPassCreateInfo rpci{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
        rpci.subpassCount = 1;
        rpci.pSubpasses = &subpass;
        GPUCR_VK_RETURN_IF_ERROR(vkCreateRenderPass(ctx->device_, &rpci, nullptr, &ctx->render_pass_));
    }
    return ctx;
}

Status Context::Init(const Options& options) {
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "gpucr-example";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ici.pApplicationInfo = &app;
    VkResult r = vkCreateInstance(&ici, nullptr, &instance_);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        return Unavailable("vkCreateInstance failed: VK_ERROR_INCOMPATIBLE_DRIVER (no Vulkan 1.1 driver available)");
    }
    if (r != VK_SUCCESS) return VkError("vkCreateInstance", r);

    uint32_t count = 0;
    GPUCR_VK_RETURN_IF_ERROR(vkEnumeratePhysicalDevices(instance_, &count, nullptr));
    if (count == 0) return Unavailable("no Vulkan physical device found");
    std::vector<VkPhysicalDevice> physicals(count);
    GPUCR_VK_RETURN_IF_ERROR(vkEnumeratePhysicalDevices(instance_, &count, physicals.data()));
    if (options.device >= count) {
        return InvalidArgument("--device " + std::to_string(options.device) + ": only " + std::to_string(count) +
                               " Vulkan device(s)");
    }
    physical_ = physicals[options.device];
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(physical_, &props);
    device_name_ = props.deviceName;
    if (props.apiVersion < VK_API_VERSION_1_1) return Unsupported(device_name_ + " does not support Vulkan 1.1");
    vkGetPhysicalDeviceMemoryProperties(physical_, &memory_props_);

    uint32_t families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &families, nullptr);
    std::vector<VkQueueFamilyProperties> family_props(families);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &families, family_props.data());
    auto it = std::find_if(family_props.begin(), family_props.end(),
                           [](const VkQueueFamilyProperties& f) { return f.queueFlags & VK_QUEUE_COMPUTE_BIT; });
    if (it == family_props.end()) return Unsupported(device_name_ + " has no compute queue");
    queue_family_ = static_cast<uint32_t>(it - family_props.begin());

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queue_family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    GPUCR_VK_RETURN_IF_ERROR(vkCreateDevice(physical_, &dci, nullptr, &device_));
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = queue_family_;
    GPUCR_VK_RETURN_IF_ERROR(vkCreateCommandPool(device_, &pci, nullptr, &pool_));
    return Status::Ok();
}

Context::~Context() {
    if (device_ != VK_NULL_HANDLE) {
        vkDeviceWaitIdle(device_);
        if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_, pool_, nullptr);
        if (render_pass_ != VK_NULL_HANDLE) vkDestroyRenderPass(device_, render_pass_, nullptr);
        vkDestroyDevice(device_, nullptr);
    }
    if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
}

Result<uint32_t> Context::FindMemoryType(uint32_t type_bits, MemoryUse use) const {
    VkMemoryPropertyFlags required = 0;
    VkMemoryPropertyFlags preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    if (use != MemoryUse::kDeviceState) {
        required = kHostCoherent;
        preferred = use == MemoryUse::kStaging ? kHostCoherent | VK_MEMORY_PROPERTY_HOST_CACHED_BIT : kHostCoherent;
    }
    for (VkMemoryPropertyFlags wanted : {preferred, required}) {
        for (uint32_t i = 0; i < memory_props_.memoryTypeCount; ++i) {
            if ((type_bits & (1u << i)) && HasFlags(memory_props_.memoryTypes[i].propertyFlags, wanted)) return i;
        }
    }
    return Unsupported("no suitable Vulkan memory type on " + device_name_);
}

Result<Buffer> Context::CreateBuffer(VkDeviceSize size, MemoryUse use) {
    Buffer buffer;
    buffer.size = size;
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    GPUCR_VK_RETURN_IF_ERROR(vkCreateBuffer(device_, &bci, nullptr, &buffer.buffer));
    VkMemoryRequirements reqs;
    vkGetBufferMemoryRequirements(device_, buffer.buffer, &reqs);
    if (reqs.size != size) {
        std::fprintf(stderr, "warning: buffer of %llu bytes needs an allocation of %llu bytes\n",
                     static_cast<unsigned long long>(size), static_cast<unsigned long long>(reqs.size));
    }
    Result<uint32_t> type = FindMemoryType(reqs.memoryTypeBits, use);
    if (!type.ok()) {
        DestroyBuffer(buffer);
        return type.status();
    }
    buffer.mappable = HasFlags(memory_props_.memoryTypes[*type].propertyFlags, kHostCoherent);
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = reqs.size;
    mai.memoryTypeIndex = *type;
    VkResult r = vkAllocateMemory(device_, &mai, nullptr, &buffer.memory);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(device_, buffer.buffer, buffer.memory, 0);
    if (r != VK_SUCCESS) {
        DestroyBuffer(buffer);
        return VkError("vkAllocateMemory/vkBindBufferMemory", r);
    }
    return buffer;
}

void Context::DestroyBuffer(Buffer& buffer) {
    if (buffer.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device_, buffer.buffer, nullptr);
    if (buffer.memory != VK_NULL_HANDLE) vkFreeMemory(device_, buffer.memory, nullptr);
    buffer = Buffer{};
}

Status Context::RunOnce(const std::function<void(VkCommandBuffer)>& record) {
    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cai.commandPool = pool_;
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    GPUCR_VK_RETURN_IF_ERROR(vkAllocateCommandBuffers(device_, &cai, &cmd));
    VkFence fence = VK_NULL_HANDLE;
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkResult r = vkCreateFence(device_, &fci, nullptr, &fence);
    if (r == VK_SUCCESS) {
        VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        r = vkBeginCommandBuffer(cmd, &bi);
    }
    if (r == VK_SUCCESS) {
        record(cmd);
        r = vkEndCommandBuffer(cmd);
    }
    if (r == VK_SUCCESS) {
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.commandBufferCount = 1;
        si.pCommandBuffers = &cmd;
        r = vkQueueSubmit(queue_, 1, &si, fence);
    }
    if (r == VK_SUCCESS) r = vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX);
    if (fence != VK_NULL_HANDLE) vkDestroyFence(device_, fence, nullptr);
    vkFreeCommandBuffers(device_, pool_, 1, &cmd);
    return r == VK_SUCCESS ? Status::Ok() : VkError("one-time submission", r);
}

// Visits each buffer's words through one staging buffer (created here, freed before return):
// upload: visit fills the staging words, then they are copied into the buffer; read-back: the
// buffer is copied into staging, then visit reads the words.
Status Context::CopyThroughStaging(std::span<const Buffer> buffers, bool upload,
                                   const std::function<void(size_t, std::span<uint32_t>)>& visit) {
    VkDeviceSize max_size = 0;
    for (const Buffer& b : buffers) max_size = std::max(max_size, b.size);
    if (max_size == 0) return Status::Ok();
    GPUCR_ASSIGN_OR_RETURN(Buffer staging, CreateBuffer(max_size, MemoryUse::kStaging));
    void* mapped = nullptr;
    Status status = Status::Ok();
    VkResult r = vkMapMemory(device_, staging.memory, 0, VK_WHOLE_SIZE, 0, &mapped);
    if (r != VK_SUCCESS) status = VkError("vkMapMemory", r);
    for (size_t i = 0; status.ok() && i < buffers.size(); ++i) {
        std::span<uint32_t> words(static_cast<uint32_t*>(mapped), buffers[i].size / 4);
        if (upload) visit(i, words);
        const VkBufferCopy region{0, 0, buffers[i].size};
        VkBuffer src = upload ? staging.buffer : buffers[i].buffer;
        VkBuffer dst = upload ? buffers[i].buffer : staging.buffer;
        status = RunOnce([&](VkCommandBuffer cmd) { vkCmdCopyBuffer(cmd, src, dst, 1, &region); });
        if (status.ok() && !upload) visit(i, words);
    }
    if (mapped != nullptr) vkUnmapMemory(device_, staging.memory);
    DestroyBuffer(staging);
    return status;
}

Status Context::Initialize(std::span<Buffer> buffers, std::span<const BufferSpec> specs, bool force_staging) {
    std::vector<Buffer> staged;
    std::vector<size_t> staged_index;
    for (size_t i = 0; i < buffers.size(); ++i) {
        if (!buffers[i].mappable || force_staging) {
            staged.push_back(buffers[i]);
            staged_index.push_back(i);
            continue;
        }
        void* mapped = nullptr;
        GPUCR_VK_RETURN_IF_ERROR(vkMapMemory(device_, buffers[i].memory, 0, VK_WHOLE_SIZE, 0, &mapped));
        FillInitial(specs[i], std::span<uint32_t>(static_cast<uint32_t*>(mapped), buffers[i].size / 4));
        vkUnmapMemory(device_, buffers[i].memory);
    }
    return CopyThroughStaging(staged, /*upload=*/true, [&](size_t i, std::span<uint32_t> words) {
        FillInitial(specs[staged_index[i]], words);
    });
}

Result<uint64_t> Context::Checksum(std::span<const Buffer> buffers, bool force_staging) {
    StateHasher hasher;
    for (const Buffer& buffer : buffers) {
        if (buffer.mappable && !force_staging) {
            void* mapped = nullptr;
            GPUCR_VK_RETURN_IF_ERROR(vkMapMemory(device_, buffer.memory, 0, VK_WHOLE_SIZE, 0, &mapped));
            hasher.Update(mapped, buffer.size);
            vkUnmapMemory(device_, buffer.memory);
            continue;
        }
        GPUCR_RETURN_IF_ERROR(CopyThroughStaging(std::span<const Buffer>(&buffer, 1), /*upload=*/false,
                                                 [&](size_t, std::span<uint32_t> words) {
                                                     hasher.Update(words.data(), words.size_bytes());
                                                 }));
    }
    return hasher.Digest();
}

// ---------------------------------------------------------------------------------------------
// BufferSet

BufferSet::~BufferSet() {
    for (auto it = buffers_.rbegin(); it != buffers_.rend(); ++it) ctx_.DestroyBuffer(*it);
}

Status BufferSet::Create(std::span<const BufferSpec> specs) {
    for (const BufferSpec& spec : specs) {
        GPUCR_ASSIGN_OR_RETURN(Buffer b,
                               ctx_.CreateBuffer(spec.size, spec.host_written ? MemoryUse::kHostInput
                                                                              : MemoryUse::kDeviceState));
        buffers_.push_back(b);
    }
    return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// ComputeKernel

Result<std::unique_ptr<ComputeKernel>> ComputeKernel::Create(VkDevice device, std::span<const uint32_t> spirv,
                                                             uint32_t bindings, uint32_t push_bytes,
                                                             uint32_t max_sets) {
    std::unique_ptr<ComputeKernel> k(new ComputeKernel());
    k->device_ = device;
    k->bindings_ = bindings;
    k->push_bytes_ = push_bytes;
    std::vector<VkDescriptorSetLayoutBinding> layout_bindings(bindings);
    for (uint32_t i = 0; i < bindings; ++i) {
        layout_bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    }
    VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dslci.bindingCount = bindings;
    dslci.pBindings = layout_bindings.data();
    GPUCR_VK_RETURN_IF_ERROR(vkCreateDescriptorSetLayout(device, &dslci, nullptr, &k->set_layout_));

    const VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &k->set_layout_;
    plci.pushConstantRangeCount = push_bytes > 0 ? 1 : 0;
    plci.pPushConstantRanges = &push;
    GPUCR_VK_RETURN_IF_ERROR(vkCreatePipelineLayout(device, &plci, nullptr, &k->layout_));

    VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smci.codeSize = spirv.size_bytes();
    smci.pCode = spirv.data();
    VkShaderModule module = VK_NULL_HANDLE;
    GPUCR_VK_RETURN_IF_ERROR(vkCreateShaderModule(device, &smci, nullptr, &module));
    VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = module;
    cpci.stage.pName = "main";
    cpci.layout = k->layout_;
    VkResult r = vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &cpci, nullptr, &k->pipeline_);
    vkDestroyShaderModule(device, module, nullptr);
    if (r != VK_SUCCESS) return VkError("vkCreateComputePipelines", r);

    const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, bindings * max_sets};
    VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpci.maxSets = max_sets;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &size;
    GPUCR_VK_RETURN_IF_ERROR(vkCreateDescriptorPool(device, &dpci, nullptr, &k->pool_));
    return k;
}

ComputeKernel::~ComputeKernel() {
    if (pool_ != VK_NULL_HANDLE) vkDestroyDescriptorPool(device_, pool_, nullptr);
    if (pipeline_ != VK_NULL_HANDLE) vkDestroyPipeline(device_, pipeline_, nullptr);
    if (layout_ != VK_NULL_HANDLE) vkDestroyPipelineLayout(device_, layout_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE) vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
}

Result<VkDescriptorSet> ComputeKernel::AllocateSet(std::span<const VkBuffer> buffers) {
    if (buffers.size() != bindings_) return Internal("descriptor set needs " + std::to_string(bindings_) + " buffers");
    VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    dsai.descriptorPool = pool_;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &set_layout_;
    VkDescriptorSet set = VK_NULL_HANDLE;
    GPUCR_VK_RETURN_IF_ERROR(vkAllocateDescriptorSets(device_, &dsai, &set));
    std::vector<VkDescriptorBufferInfo> infos(bindings_);
    std::vector<VkWriteDescriptorSet> writes(bindings_);
    for (uint32_t i = 0; i < bindings_; ++i) {
        infos[i] = {buffers[i], 0, VK_WHOLE_SIZE};
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(device_, bindings_, writes.data(), 0, nullptr);
    return set;
}

void ComputeKernel::Dispatch(VkCommandBuffer cmd, VkDescriptorSet set, const void* push, uint32_t items) const {
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set, 0, nullptr);
    if (push_bytes_ > 0) vkCmdPushConstants(cmd, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes_, push);
    const uint32_t groups = std::clamp<uint32_t>((items + kWorkgroupSize - 1) / kWorkgroupSize, 1, kMaxGroups);
    vkCmdDispatch(cmd, groups, 1, 1);
}

Result<std::unique_ptr<Frame>> Frame::Create(Context& ctx) {
    std::unique_ptr<Frame> f(new Frame(ctx));
    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cai.commandPool = ctx.command_pool();
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    GPUCR_VK_RETURN_IF_ERROR(vkAllocateCommandBuffers(ctx.device(), &cai, &f->cmd_));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    GPUCR_VK_RETURN_IF_ERROR(vkCreateFence(ctx.device(), &fci, nullptr, &f->fence_));
    return f;
}

Frame::~Frame() {
    if (in_flight_) vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, UINT64_MAX);
    if (fence_ != VK_NULL_HANDLE) vkDestroyFence(ctx_.device(), fence_, nullptr);
    if (cmd_ != VK_NULL_HANDLE) vkFreeCommandBuffers(ctx_.device(), ctx_.command_pool(), 1, &cmd_);
}

Result<VkCommandBuffer> Frame::Begin() {
    if (in_flight_) return Internal("frame re-recorded while in flight");
    GPUCR_VK_RETURN_IF_ERROR(vkResetCommandBuffer(cmd_, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    GPUCR_VK_RETURN_IF_ERROR(vkBeginCommandBuffer(cmd_, &bi));
    return cmd_;
}

Status Frame::Submit() {
    GPUCR_VK_RETURN_IF_ERROR(vkEndCommandBuffer(cmd_));
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    submitted_ = std::chrono::steady_clock::now();
    GPUCR_VK_RETURN_IF_ERROR(vkQueueSubmit(ctx_.queue(), 1, &si, fence_));
    in_flight_ = true;
    return Status::Ok();
}

Result<double> Frame::Wait() {
    if (!in_flight_) return Internal("waiting for a frame that was not submitted");
    GPUCR_VK_RETURN_IF_ERROR(vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, UINT64_MAX));
    const double ms = MillisecondsSince(submitted_);
    in_flight_ = false;
    GPUCR_VK_RETURN_IF_ERROR(vkResetFences(ctx_.device(), 1, &fence_));
    return ms;
}

void ComputeBarrier(VkCommandBuffer cmd) {
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, nullptr, 0, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Setup report

void ReportSetup(const char* name, const Options& options, const Context& ctx, std::span<const Buffer> buffers) {
    uint64_t bytes = 0;
    bool staged = options.staging;
    for (const Buffer& b : buffers) {
        bytes += b.size;
        staged = staged || !b.mappable;
    }
    PrintSetup(name, options, ctx.device_name(), buffers.size(), bytes,
               staged ? "staging copies" : "host-visible memory mapped");
}

}  // namespace gpucr::examples
