// command_log_test.cpp — the replayable command log (command_log.h) on lavapipe: a command buffer
// recorded by the application is recorded again into a fresh driver command buffer (what resume does
// after re-creating the device) and gives bit-exact the same results; unreplayable commands are named;
// a buffer that references a destroyed object is reported invalid.
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <cstring>
#include <string>
#include <vector>

#include "add_spv.h"
#include "layer_fixture.h"

namespace {

using gpucr_test::LayerTest;

constexpr uint32_t kN = 256;
constexpr VkBufferUsageFlags kUsage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

class CommandLogTest : public LayerTest {
protected:
    CommandLogTest() { device_extensions_ = {"VK_KHR_push_descriptor"}; }

    void SetUp() override {
        LayerTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_NE(api_.replay, nullptr);
        VkCommandPoolCreateInfo cpci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        cpci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        cpci.queueFamilyIndex = family_;
        ASSERT_EQ(vkCreateCommandPool(device_, &cpci, nullptr, &cmd_pool_), VK_SUCCESS);
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        ASSERT_EQ(vkCreateFence(device_, &fci, nullptr, &fence_), VK_SUCCESS);
    }

    void TearDown() override {
        if (device_ != VK_NULL_HANDLE) {
            vkDestroyFence(device_, fence_, nullptr);
            vkDestroyCommandPool(device_, cmd_pool_, nullptr);
            DestroyCompute();
        }
        LayerTest::TearDown();
    }

    VkCommandBuffer Allocate(VkCommandBufferLevel level = VK_COMMAND_BUFFER_LEVEL_PRIMARY) {
        VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        info.commandPool = cmd_pool_;
        info.level = level;
        info.commandBufferCount = 1;
        VkCommandBuffer cb = VK_NULL_HANDLE;
        EXPECT_EQ(vkAllocateCommandBuffers(device_, &info, &cb), VK_SUCCESS);
        return cb;
    }

    void Begin(VkCommandBuffer cb) {
        VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        ASSERT_EQ(vkBeginCommandBuffer(cb, &begin), VK_SUCCESS);
    }

    void Submit(VkCommandBuffer cb) {
        VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        submit.commandBufferCount = 1;
        submit.pCommandBuffers = &cb;
        ASSERT_EQ(vkResetFences(device_, 1, &fence_), VK_SUCCESS);
        ASSERT_EQ(vkQueueSubmit(queue_, 1, &submit, fence_), VK_SUCCESS);
        ASSERT_EQ(vkWaitForFences(device_, 1, &fence_, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    }

    // add.comp's pipeline; push: its set layout is a push-descriptor one.
    void MakeCompute(bool push) {
        VkDescriptorSetLayoutBinding bindings[3];
        for (uint32_t i = 0; i < 3; ++i) {
            bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
        }
        VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
        dslci.flags = push ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0;
        dslci.bindingCount = 3;
        dslci.pBindings = bindings;
        ASSERT_EQ(vkCreateDescriptorSetLayout(device_, &dslci, nullptr, &dsl_), VK_SUCCESS);
        VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, 4};
        VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
        plci.setLayoutCount = 1;
        plci.pSetLayouts = &dsl_;
        plci.pushConstantRangeCount = 1;
        plci.pPushConstantRanges = &range;
        ASSERT_EQ(vkCreatePipelineLayout(device_, &plci, nullptr, &layout_), VK_SUCCESS);
        VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
        smci.codeSize = sizeof(kAddShaderSpv);
        smci.pCode = kAddShaderSpv;
        ASSERT_EQ(vkCreateShaderModule(device_, &smci, nullptr, &module_), VK_SUCCESS);
        VkComputePipelineCreateInfo cpci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
        cpci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
        cpci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        cpci.stage.module = module_;
        cpci.stage.pName = "main";
        cpci.layout = layout_;
        ASSERT_EQ(vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cpci, nullptr, &pipeline_), VK_SUCCESS);
    }

    void DestroyCompute() {
        vkDestroyDescriptorPool(device_, descriptor_pool_, nullptr);
        vkDestroyPipeline(device_, pipeline_, nullptr);
        vkDestroyShaderModule(device_, module_, nullptr);
        vkDestroyPipelineLayout(device_, layout_, nullptr);
        vkDestroyDescriptorSetLayout(device_, dsl_, nullptr);
    }

    VkDescriptorSet MakeSet(const HostBuffer* bufs) {
        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 3};
        VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        dpci.maxSets = 1;
        dpci.poolSizeCount = 1;
        dpci.pPoolSizes = &size;
        EXPECT_EQ(vkCreateDescriptorPool(device_, &dpci, nullptr, &descriptor_pool_), VK_SUCCESS);
        VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        dsai.descriptorPool = descriptor_pool_;
        dsai.descriptorSetCount = 1;
        dsai.pSetLayouts = &dsl_;
        VkDescriptorSet set = VK_NULL_HANDLE;
        EXPECT_EQ(vkAllocateDescriptorSets(device_, &dsai, &set), VK_SUCCESS);
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
        }
        vkUpdateDescriptorSets(device_, 3, writes, 0, nullptr);
        return set;
    }

    std::vector<uint32_t> Contents(const HostBuffer& b) { return std::vector<uint32_t>(b.data, b.data + kN); }

    struct Check {
        bool ok = false;
        bool invalid = false;
        std::string reason;
    };
    Check CheckReplayable(VkCommandBuffer cb) {
        Check c;
        int invalid = 0;
        char reason[256];
        c.ok = api_.check_replayable(device_, cb, &invalid, reason, sizeof(reason)) == 1;
        c.invalid = invalid == 1;
        c.reason = reason;
        return c;
    }
    size_t Logged(VkCommandBuffer cb) {
        size_t logged = 0, recorded = 0;
        api_.cb_commands(cb, &logged, &recorded);
        return logged;
    }
    size_t Recorded(VkCommandBuffer cb) {
        size_t logged = 0, recorded = 0;
        api_.cb_commands(cb, &logged, &recorded);
        return recorded;
    }

    VkCommandPool cmd_pool_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout dsl_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkShaderModule module_ = VK_NULL_HANDLE;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
};

// Fill, update, barriers, bind, push constants, dispatch and copy; replayed into a new driver command
// buffer, the results are bit-exact those of the recording. The application's argument arrays are
// overwritten after recording: the log holds its own copies.
TEST_F(CommandLogTest, ReplayGivesTheSameResults) {
    MakeCompute(false);
    HostBuffer bufs[4] = {MakeBuffer(kN * 4, false, kUsage), MakeBuffer(kN * 4, false, kUsage),
                          MakeBuffer(kN * 4, false, kUsage), MakeBuffer(kN * 4, false, kUsage)};
    auto init = [&] {
        for (uint32_t i = 0; i < kN; ++i) {
            bufs[0].data[i] = i * 7;
            bufs[1].data[i] = 0xdead;
            bufs[2].data[i] = 0xbeef;
            bufs[3].data[i] = 0;
        }
    };
    VkDescriptorSet set = MakeSet(bufs);
    VkCommandBuffer cb = Allocate();
    EXPECT_EQ(api_.cb_state(cb), 0);

    Begin(cb);
    EXPECT_EQ(api_.cb_state(cb), 1);
    vkCmdFillBuffer(cb, bufs[1].buffer, 0, VK_WHOLE_SIZE, 5);
    uint32_t update[64];
    for (uint32_t i = 0; i < 64; ++i) update[i] = 1000 + i;
    vkCmdUpdateBuffer(cb, bufs[0].buffer, 0, sizeof(update), update);
    VkMemoryBarrier memory{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT,
                           VK_ACCESS_SHADER_READ_BIT};
    VkBufferMemoryBarrier buffer{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    buffer.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    buffer.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
    buffer.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    buffer.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    buffer.buffer = bufs[0].buffer;
    buffer.size = VK_WHOLE_SIZE;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &memory, 1,
                         &buffer, 0, nullptr);
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set, 0, nullptr);
    uint32_t n = kN - 3;  // the last three outputs stay as they were
    vkCmdPushConstants(cb, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &n);
    vkCmdDispatch(cb, (kN + 63) / 64, 1, 1);
    VkMemoryBarrier to_copy{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                            VK_ACCESS_TRANSFER_READ_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &to_copy, 0,
                         nullptr, 0, nullptr);
    VkBufferCopy regions[2] = {{0, 0, 64 * 4}, {128 * 4, 64 * 4, 64 * 4}};
    vkCmdCopyBuffer(cb, bufs[2].buffer, bufs[3].buffer, 2, regions);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    EXPECT_EQ(api_.cb_state(cb), 2);
    EXPECT_EQ(Logged(cb), 9u);
    const size_t recorded = Recorded(cb);
    EXPECT_GE(recorded, 4u);  // fill, update, dispatch, copy (barriers and binds are state)

    // Whatever the application does with its arrays now, the log has its own copies.
    std::memset(update, 0xff, sizeof(update));
    std::memset(regions, 0, sizeof(regions));
    std::memset(&memory, 0, sizeof(memory));
    std::memset(&buffer, 0, sizeof(buffer));
    n = 0;

    init();
    Submit(cb);
    std::vector<uint32_t> expected[4];
    for (int i = 0; i < 4; ++i) expected[i] = Contents(bufs[i]);
    for (uint32_t i = 0; i < kN; ++i) {
        const uint32_t a = i < 64 ? 1000 + i : i * 7;
        ASSERT_EQ(expected[0][i], a) << i;
        ASSERT_EQ(expected[1][i], 5u) << i;
        ASSERT_EQ(expected[2][i], i < kN - 3 ? a + 15 + i : 0xbeef) << i;
    }
    EXPECT_EQ(expected[3][0], expected[2][0]);
    EXPECT_EQ(expected[3][64], expected[2][128]);
    EXPECT_EQ(expected[3][200], 0u);

    Check check = CheckReplayable(cb);
    EXPECT_TRUE(check.ok) << check.reason;
    init();
    ASSERT_EQ(api_.replay(device_, cb), VK_SUCCESS);
    EXPECT_EQ(api_.cb_state(cb), 2);
    EXPECT_EQ(Logged(cb), 9u);          // nothing appended while replaying
    EXPECT_EQ(Recorded(cb), recorded);  // the hooks rebuilt what the DAG needs
    Submit(cb);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Contents(bufs[i]), expected[i]) << "buffer " << i;

    // Again: a replayed buffer replays.
    init();
    ASSERT_EQ(api_.replay(device_, cb), VK_SUCCESS);
    Submit(cb);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Contents(bufs[i]), expected[i]) << "buffer " << i;
    for (auto& b : bufs) FreeBuffer(b);
}

// vkCmdPushDescriptorSetKHR: an array of VkWriteDescriptorSet with pointers inside, one of them
// garbage (ignored for the descriptor type) that the copy must not read.
TEST_F(CommandLogTest, PushDescriptorsReplay) {
    auto push =
        reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
    ASSERT_NE(push, nullptr);
    MakeCompute(true);
    HostBuffer bufs[3] = {MakeBuffer(kN * 4, false, kUsage), MakeBuffer(kN * 4, false, kUsage),
                          MakeBuffer(kN * 4, false, kUsage)};
    auto init = [&] {
        for (uint32_t i = 0; i < kN; ++i) {
            bufs[0].data[i] = i;
            bufs[1].data[i] = 2 * i;
            bufs[2].data[i] = 0;
        }
    };
    VkCommandBuffer cb = Allocate();
    Begin(cb);
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
    VkDescriptorBufferInfo infos[3];
    VkWriteDescriptorSet writes[3];
    for (uint32_t i = 0; i < 3; ++i) {
        infos[i] = {bufs[i].buffer, 0, VK_WHOLE_SIZE};
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        writes[i].pImageInfo = reinterpret_cast<const VkDescriptorImageInfo*>(0x1);  // ignored: must not be read
    }
    push(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 3, writes);
    uint32_t n = kN;
    vkCmdPushConstants(cb, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &n);
    vkCmdDispatch(cb, kN / 64, 1, 1);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    std::memset(infos, 0, sizeof(infos));
    std::memset(writes, 0, sizeof(writes));

    init();
    Submit(cb);
    const std::vector<uint32_t> expected = Contents(bufs[2]);
    EXPECT_EQ(expected[10], 10u + 60u + 10u);
    EXPECT_TRUE(CheckReplayable(cb).ok);
    init();
    ASSERT_EQ(api_.replay(device_, cb), VK_SUCCESS);
    Submit(cb);
    EXPECT_EQ(Contents(bufs[2]), expected);
    for (auto& b : bufs) FreeBuffer(b);
}

// Secondary buffers are replayed first (with their inheritance info); the primary's
// vkCmdExecuteCommands then reaches their new driver buffers.
TEST_F(CommandLogTest, SecondaryThenPrimary) {
    HostBuffer buf = MakeBuffer(kN * 4, false, kUsage);
    VkCommandBuffer secondary = Allocate(VK_COMMAND_BUFFER_LEVEL_SECONDARY);
    VkCommandBufferInheritanceInfo inheritance{VK_STRUCTURE_TYPE_COMMAND_BUFFER_INHERITANCE_INFO};
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.pInheritanceInfo = &inheritance;
    ASSERT_EQ(vkBeginCommandBuffer(secondary, &begin), VK_SUCCESS);
    vkCmdFillBuffer(secondary, buf.buffer, 0, 128 * 4, 0x11111111);
    vkCmdFillBuffer(secondary, buf.buffer, 128 * 4, 128 * 4, 0x22222222);
    ASSERT_EQ(vkEndCommandBuffer(secondary), VK_SUCCESS);
    VkCommandBuffer primary = Allocate();
    Begin(primary);
    vkCmdExecuteCommands(primary, 1, &secondary);
    ASSERT_EQ(vkEndCommandBuffer(primary), VK_SUCCESS);

    std::memset(buf.data, 0, kN * 4);
    Submit(primary);
    const std::vector<uint32_t> expected = Contents(buf);
    EXPECT_EQ(expected[0], 0x11111111u);
    EXPECT_EQ(expected[200], 0x22222222u);
    EXPECT_TRUE(CheckReplayable(secondary).ok);
    EXPECT_TRUE(CheckReplayable(primary).ok);
    std::memset(buf.data, 0, kN * 4);
    ASSERT_EQ(api_.replay(device_, secondary), VK_SUCCESS);
    ASSERT_EQ(api_.replay(device_, primary), VK_SUCCESS);
    Submit(primary);
    EXPECT_EQ(Contents(buf), expected);
    FreeBuffer(buf);
}

// A command gpucr cannot copy (the template defines pData's layout) is named; replay refuses.
TEST_F(CommandLogTest, UnreplayableCommandIsNamed) {
    auto push = reinterpret_cast<PFN_vkCmdPushDescriptorSetWithTemplateKHR>(
        vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetWithTemplateKHR"));
    ASSERT_NE(push, nullptr);
    MakeCompute(true);
    HostBuffer bufs[3] = {MakeBuffer(kN * 4, false, kUsage), MakeBuffer(kN * 4, false, kUsage),
                          MakeBuffer(kN * 4, false, kUsage)};
    VkDescriptorUpdateTemplateEntry entries[3];
    for (uint32_t i = 0; i < 3; ++i) {
        const size_t stride = sizeof(VkDescriptorBufferInfo);
        entries[i] = {i, 0, 1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, i * stride, stride};
    }
    VkDescriptorUpdateTemplateCreateInfo tci{VK_STRUCTURE_TYPE_DESCRIPTOR_UPDATE_TEMPLATE_CREATE_INFO};
    tci.descriptorUpdateEntryCount = 3;
    tci.pDescriptorUpdateEntries = entries;
    tci.templateType = VK_DESCRIPTOR_UPDATE_TEMPLATE_TYPE_PUSH_DESCRIPTORS_KHR;
    tci.descriptorSetLayout = dsl_;
    tci.pipelineBindPoint = VK_PIPELINE_BIND_POINT_COMPUTE;
    tci.pipelineLayout = layout_;
    tci.set = 0;
    VkDescriptorUpdateTemplate tmpl;
    ASSERT_EQ(vkCreateDescriptorUpdateTemplate(device_, &tci, nullptr, &tmpl), VK_SUCCESS);

    VkCommandBuffer cb = Allocate();
    Begin(cb);
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
    VkDescriptorBufferInfo data[3];
    for (uint32_t i = 0; i < 3; ++i) data[i] = {bufs[i].buffer, 0, VK_WHOLE_SIZE};
    push(cb, tmpl, layout_, 0, data);
    vkCmdDispatch(cb, 1, 1, 1);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);

    Check check = CheckReplayable(cb);
    EXPECT_FALSE(check.ok);
    EXPECT_FALSE(check.invalid);
    EXPECT_NE(check.reason.find("holds vkCmdPushDescriptorSetWithTemplateKHR, which gpucr cannot record again"),
              std::string::npos)
        << check.reason;
    EXPECT_EQ(api_.replay(device_, cb), VK_ERROR_FEATURE_NOT_PRESENT);
    vkDestroyDescriptorUpdateTemplate(device_, tmpl, nullptr);
    for (auto& b : bufs) FreeBuffer(b);
}

// A destroyed buffer makes the command buffer invalid (per the spec): reported, not recorded again.
TEST_F(CommandLogTest, DestroyedObjectMakesTheBufferInvalid) {
    HostBuffer keep = MakeBuffer(kN * 4, false, kUsage);
    HostBuffer gone = MakeBuffer(kN * 4, false, kUsage);
    VkCommandBuffer cb = Allocate();
    Begin(cb);
    vkCmdFillBuffer(cb, keep.buffer, 0, VK_WHOLE_SIZE, 1);
    vkCmdFillBuffer(cb, gone.buffer, 0, VK_WHOLE_SIZE, 2);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    EXPECT_TRUE(CheckReplayable(cb).ok);
    FreeBuffer(gone);
    Check check = CheckReplayable(cb);
    EXPECT_FALSE(check.ok);
    EXPECT_TRUE(check.invalid);
    EXPECT_NE(check.reason.find("destroyed"), std::string::npos) << check.reason;
    FreeBuffer(keep);
}

// Begin clears (also an implicit reset), end makes executable, both resets go back to initial.
TEST_F(CommandLogTest, LogFollowsTheBufferLifecycle) {
    HostBuffer buf = MakeBuffer(kN * 4, false, kUsage);
    VkCommandBuffer cb = Allocate();
    Begin(cb);
    vkCmdFillBuffer(cb, buf.buffer, 0, VK_WHOLE_SIZE, 1);
    vkCmdFillBuffer(cb, buf.buffer, 0, VK_WHOLE_SIZE, 2);
    EXPECT_EQ(Logged(cb), 2u);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    EXPECT_EQ(api_.cb_state(cb), 2);
    Begin(cb);  // implicit reset
    EXPECT_EQ(api_.cb_state(cb), 1);
    EXPECT_EQ(Logged(cb), 0u);
    vkCmdFillBuffer(cb, buf.buffer, 0, VK_WHOLE_SIZE, 3);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    EXPECT_EQ(Logged(cb), 1u);
    ASSERT_EQ(vkResetCommandBuffer(cb, 0), VK_SUCCESS);
    EXPECT_EQ(api_.cb_state(cb), 0);
    EXPECT_EQ(Logged(cb), 0u);
    EXPECT_TRUE(CheckReplayable(cb).ok);
    EXPECT_EQ(api_.replay(device_, cb), VK_SUCCESS);  // initial: nothing to do
    Begin(cb);
    vkCmdFillBuffer(cb, buf.buffer, 0, VK_WHOLE_SIZE, 4);
    ASSERT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    ASSERT_EQ(vkResetCommandPool(device_, cmd_pool_, 0), VK_SUCCESS);
    EXPECT_EQ(api_.cb_state(cb), 0);
    EXPECT_EQ(Logged(cb), 0u);
    FreeBuffer(buf);
}

}  // namespace
