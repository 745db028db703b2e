// layer_test.cpp — VK_LAYER_GPUCR_checkpoint on lavapipe, enabled through the environment (meson test
// sets VK_ADD_LAYER_PATH / VK_LOADER_LAYERS_ENABLE before the loader starts). The test build of the layer
// exports gpucr_vk_test_* functions, found with dlopen(RTLD_NOLOAD) once the loader has loaded it.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "add_spv.h"
#include "layer_fixture.h"

using gpucr_test::Bits;
using gpucr_test::LayerTest;

void LayerTest::RunCompute(bool dedicated) {
    constexpr uint32_t kN = 1000;
    HostBuffer bufs[3] = {MakeBuffer(kN * 4, dedicated), MakeBuffer(kN * 4, dedicated), MakeBuffer(kN * 4, dedicated)};
    for (uint32_t i = 0; i < kN; ++i) {
        bufs[0].data[i] = i * 7;
        bufs[1].data[i] = 1000 + i;
        bufs[2].data[i] = 0xdeadbeef;
    }

    VkDescriptorSetLayoutBinding bindings[3];
    for (uint32_t i = 0; i < 3; ++i) {
        bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    }
    VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dslci.bindingCount = 3;
    dslci.pBindings = bindings;
    VkDescriptorSetLayout dsl;
    ASSERT_EQ(vkCreateDescriptorSetLayout(device_, &dslci, nullptr, &dsl), VK_SUCCESS);

    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 4};
    VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    plci.setLayoutCount = 1;
    plci.pSetLayouts = &dsl;
    plci.pushConstantRangeCount = 1;
    plci.pPushConstantRanges = &range;
    VkPipelineLayout layout;
    ASSERT_EQ(vkCreatePipelineLayout(device_, &plci, nullptr, &layout), VK_SUCCESS);

    VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    smci.codeSize = sizeof(kAddShaderSpv);
    smci.pCode = kAddShaderSpv;
    VkShaderModule module;
    ASSERT_EQ(vkCreateShaderModule(device_, &smci, nullptr, &module), VK_SUCCESS);
    VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    cpci.stage.module = module;
    cpci.stage.pName = "main";
    cpci.layout = layout;
    VkPipeline pipeline;
    ASSERT_EQ(vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cpci, nullptr, &pipeline), VK_SUCCESS);

    VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 3};
    VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpci.maxSets = 1;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &pool_size;
    VkDescriptorPool pool;
    ASSERT_EQ(vkCreateDescriptorPool(device_, &dpci, nullptr, &pool), VK_SUCCESS);
    VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    dsai.descriptorPool = pool;
    dsai.descriptorSetCount = 1;
    dsai.pSetLayouts = &dsl;
    VkDescriptorSet set;
    ASSERT_EQ(vkAllocateDescriptorSets(device_, &dsai, &set), VK_SUCCESS);
    VkDescriptorBufferInfo infos[3];
    VkWriteDescriptorSet writes[3];
    for (uint32_t i = 0; i < 3; ++i) {
        infos[i] = {bufs[i].buffer, 0, VK_WHOLE_SIZE};
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        writes[i].pImageInfo = reinterpret_cast<const VkDescriptorImageInfo*>(0x1);  // ignored: must not be read
    }
    vkUpdateDescriptorSets(device_, 3, writes, 0, nullptr);

    VkCommandPoolCreateInfo cpoolci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    cpoolci.queueFamilyIndex = family_;
    VkCommandPool cmd_pool;
    ASSERT_EQ(vkCreateCommandPool(device_, &cpoolci, nullptr, &cmd_pool), VK_SUCCESS);
    VkCommandBufferAllocateInfo cbai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cbai.commandPool = cmd_pool;
    cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cbai.commandBufferCount = 1;
    VkCommandBuffer cmd;
    ASSERT_EQ(vkAllocateCommandBuffers(device_, &cbai, &cmd), VK_SUCCESS);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    ASSERT_EQ(vkBeginCommandBuffer(cmd, &begin), VK_SUCCESS);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, nullptr);
    uint32_t n = kN;
    vkCmdPushConstants(cmd, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &n);
    vkCmdDispatch(cmd, (kN + 63) / 64, 1, 1);
    ASSERT_EQ(vkEndCommandBuffer(cmd), VK_SUCCESS);

    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    ASSERT_EQ(vkCreateFence(device_, &fci, nullptr, &fence), VK_SUCCESS);
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd;
    ASSERT_EQ(vkQueueSubmit(queue_, 1, &submit, fence), VK_SUCCESS);
    ASSERT_EQ(vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    for (uint32_t i = 0; i < kN; ++i) ASSERT_EQ(bufs[2].data[i], i * 7 + (1000 + i) * 3 + i) << "at " << i;

    if (!api_.disabled()) {
        for (uint64_t h : {Bits(dsl), Bits(layout), Bits(module), Bits(pipeline), Bits(pool), Bits(set),
                           Bits(cmd_pool), Bits(cmd), Bits(fence), Bits(bufs[0].buffer), Bits(bufs[0].memory),
                           Bits(queue_)}) {
            EXPECT_TRUE(Wrapped(h)) << std::hex << h;
        }
    }
    vkDestroyFence(device_, fence, nullptr);
    vkDestroyCommandPool(device_, cmd_pool, nullptr);  // frees cmd implicitly
    vkDestroyDescriptorPool(device_, pool, nullptr);     // frees set implicitly
    vkDestroyPipeline(device_, pipeline, nullptr);
    vkDestroyShaderModule(device_, module, nullptr);
    vkDestroyPipelineLayout(device_, layout, nullptr);
    vkDestroyDescriptorSetLayout(device_, dsl, nullptr);
    for (auto& b : bufs) FreeBuffer(b);
}

namespace {

TEST_F(LayerTest, HandlesAreWrappers) {
    ASSERT_EQ(api_.disabled(), 0);
    int64_t before = api_.object_count(device_);
    ASSERT_GE(before, 1);  // the queue
    EXPECT_TRUE(Wrapped(Bits(queue_)));
    VkQueue again = VK_NULL_HANDLE;
    vkGetDeviceQueue(device_, family_, 0, &again);
    EXPECT_EQ(again, queue_);  // retrieved handles keep one wrapper

    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = 256;
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBuffer buffer;
    ASSERT_EQ(vkCreateBuffer(device_, &bci, nullptr, &buffer), VK_SUCCESS);
    uint64_t recorded_size = 0, ops = 0;
    api_.hook_counts(buffer, &recorded_size, &ops);
    EXPECT_EQ(recorded_size, 256u);  // the checkpoint hooks saw the creation
    EXPECT_TRUE(Wrapped(Bits(buffer)));
    EXPECT_EQ(api_.object_count(device_), before + 1);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device_, buffer, &req);  // the driver must get its own handle
    EXPECT_GE(req.size, 256u);
    vkDestroyBuffer(device_, buffer, nullptr);
    EXPECT_FALSE(Wrapped(Bits(buffer)));
    EXPECT_EQ(api_.object_count(device_), before);
}

TEST_F(LayerTest, ComputeEndToEnd) {
    int64_t before = api_.object_count(device_);
    RunCompute(false);
    EXPECT_EQ(api_.object_count(device_), before);  // every wrapper released, implicit frees included
}

TEST_F(LayerTest, DedicatedAllocationChainIsUnwrapped) {
    int64_t before = api_.object_count(device_);
    RunCompute(true);
    EXPECT_EQ(api_.object_count(device_), before);
}

TEST_F(LayerTest, ResetPoolFreesSets) {
    VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT,
                                         nullptr};
    VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dslci.bindingCount = 1;
    dslci.pBindings = &binding;
    VkDescriptorSetLayout dsl;
    ASSERT_EQ(vkCreateDescriptorSetLayout(device_, &dslci, nullptr, &dsl), VK_SUCCESS);
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 8};
    VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    dpci.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
    dpci.maxSets = 8;
    dpci.poolSizeCount = 1;
    dpci.pPoolSizes = &size;
    VkDescriptorPool pool;
    ASSERT_EQ(vkCreateDescriptorPool(device_, &dpci, nullptr, &pool), VK_SUCCESS);
    int64_t base = api_.object_count(device_);
    std::vector<VkDescriptorSetLayout> layouts(4, dsl);
    VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    dsai.descriptorPool = pool;
    dsai.descriptorSetCount = 4;
    dsai.pSetLayouts = layouts.data();
    std::vector<VkDescriptorSet> sets(4);
    ASSERT_EQ(vkAllocateDescriptorSets(device_, &dsai, sets.data()), VK_SUCCESS);
    EXPECT_EQ(api_.object_count(device_), base + 4);
    ASSERT_EQ(vkFreeDescriptorSets(device_, pool, 1, &sets[0]), VK_SUCCESS);
    EXPECT_EQ(api_.object_count(device_), base + 3);
    ASSERT_EQ(vkResetDescriptorPool(device_, pool, 0), VK_SUCCESS);
    EXPECT_EQ(api_.object_count(device_), base);
    ASSERT_EQ(vkAllocateDescriptorSets(device_, &dsai, sets.data()), VK_SUCCESS);
    EXPECT_EQ(api_.object_count(device_), base + 4);
    vkDestroyDescriptorPool(device_, pool, nullptr);
    EXPECT_EQ(api_.object_count(device_), base - 1);
    vkDestroyDescriptorSetLayout(device_, dsl, nullptr);
}

TEST_F(LayerTest, UnsupportedObjectsAreCounted) {
    char buf[256];
    api_.unsupported(device_, buf, sizeof(buf));
    EXPECT_STREQ(buf, "");
    VkAttachmentDescription att{};
    att.format = VK_FORMAT_R8G8B8A8_UNORM;
    att.samples = VK_SAMPLE_COUNT_1_BIT;
    att.finalLayout = VK_IMAGE_LAYOUT_GENERAL;
    VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_GENERAL};
    VkSubpassDescription sub{};
    sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
    sub.colorAttachmentCount = 1;
    sub.pColorAttachments = &ref;
    VkRenderPassCreateInfo rpci{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
    rpci.attachmentCount = 1;
    rpci.pAttachments = &att;
    rpci.subpassCount = 1;
    rpci.pSubpasses = &sub;
    VkRenderPass rp;
    ASSERT_EQ(vkCreateRenderPass(device_, &rpci, nullptr, &rp), VK_SUCCESS);
    api_.unsupported(device_, buf, sizeof(buf));
    EXPECT_STREQ(buf, "VkRenderPass x1");

    VkEventCreateInfo eci{VK_STRUCTURE_TYPE_EVENT_CREATE_INFO};
    VkEvent event;
    ASSERT_EQ(vkCreateEvent(device_, &eci, nullptr, &event), VK_SUCCESS);
    api_.mark_unsupported(device_, Bits(event), 1);
    api_.unsupported(device_, buf, sizeof(buf));
    EXPECT_STREQ(buf, "VkEvent x1, VkRenderPass x1");
    vkDestroyRenderPass(device_, rp, nullptr);
    vkDestroyEvent(device_, event, nullptr);
    api_.unsupported(device_, buf, sizeof(buf));
    EXPECT_STREQ(buf, "");
}

TEST_F(LayerTest, ProcAddrCoversOnlyWrappedCommands) {
    EXPECT_NE(vkGetDeviceProcAddr(device_, "vkCreateBuffer"), nullptr);
    EXPECT_NE(vkGetDeviceProcAddr(device_, "vkCmdDispatch"), nullptr);
    // Platform commands are not generated: the layer must not hand out the driver's pointer.
    EXPECT_EQ(vkGetInstanceProcAddr(instance_, "vkCreateXlibSurfaceKHR"), nullptr);
    // Extensions the device reports are all covered ones.
    uint32_t count = 0;
    ASSERT_EQ(vkEnumerateDeviceExtensionProperties(pd_, nullptr, &count, nullptr), VK_SUCCESS);
    std::vector<VkExtensionProperties> exts(count);
    ASSERT_EQ(vkEnumerateDeviceExtensionProperties(pd_, nullptr, &count, exts.data()), VK_SUCCESS);
    for (const auto& e : exts) EXPECT_EQ(std::strstr(e.extensionName, "_video_"), nullptr) << e.extensionName;
}

// Run with GPUCR_DISABLE=1 (meson test vk_layer_disabled): pure pass-through, nothing wrapped.
TEST_F(LayerTest, DisabledPassThrough) {
    ASSERT_EQ(api_.disabled(), 1) << "run with GPUCR_DISABLE=1";
    EXPECT_EQ(api_.object_count(device_), -1);
    RunCompute(true);
}

}  // namespace
