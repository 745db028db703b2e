// gate_test.cpp — the suspend gate (gate.h) around the layer's entry points, on lavapipe: with the gate
// closed, application calls wait until it opens; host waits (vkWaitForFences, vkWaitSemaphores) run in
// slices and never hold a closing gate for more than one slice; their timeouts are the application's.
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "layer_fixture.h"

namespace {

using Clock = std::chrono::steady_clock;
using gpucr_test::LayerTest;
using std::chrono::milliseconds;

int64_t MsSince(Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

class GateTest : public LayerTest {
protected:
    GateTest() {
        features12_.timelineSemaphore = VK_TRUE;
        device_next_ = &features12_;
    }

    void SetUp() override {
        LayerTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_NE(api_.gate_close, nullptr);
    }

    void TearDown() override {
        api_.gate_open();  // never leave it closed for the next test
        LayerTest::TearDown();
    }

    // Closes the gate as suspend does, from this (non-owner) thread; fails the test if it cannot.
    void Close() { ASSERT_EQ(api_.gate_close(2000), 1); }

    // Waits until `n` threads wait at the gate (or a second passes).
    bool WaitForWaiters(int64_t n) {
        const auto start = Clock::now();
        while (api_.gate_waiting() < n) {
            if (MsSince(start) > 1000) return false;
            std::this_thread::sleep_for(milliseconds(1));
        }
        return true;
    }

    VkFence MakeFence(bool signaled) {
        VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        fci.flags = signaled ? VK_FENCE_CREATE_SIGNALED_BIT : 0;
        VkFence fence = VK_NULL_HANDLE;
        EXPECT_EQ(vkCreateFence(device_, &fci, nullptr, &fence), VK_SUCCESS);
        return fence;
    }

    VkSemaphore MakeTimeline() {
        VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
        type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
        VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type};
        VkSemaphore sem = VK_NULL_HANDLE;
        EXPECT_EQ(vkCreateSemaphore(device_, &sci, nullptr, &sem), VK_SUCCESS);
        return sem;
    }

    VkPhysicalDeviceVulkan12Features features12_{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
};

TEST_F(GateTest, QueueCallWaitsUntilOpen) {
    Close();
    std::atomic<bool> done{false};
    std::thread app([&] {
        EXPECT_EQ(vkQueueWaitIdle(queue_), VK_SUCCESS);
        done = true;
    });
    EXPECT_TRUE(WaitForWaiters(1));
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_FALSE(done.load());
    api_.gate_open();
    app.join();
    EXPECT_TRUE(done.load());
    EXPECT_EQ(api_.gate_waiting(), 0);
}

TEST_F(GateTest, CommandWaitsUntilOpen) {
    VkCommandPoolCreateInfo cpci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    cpci.queueFamilyIndex = family_;
    VkCommandPool pool;
    ASSERT_EQ(vkCreateCommandPool(device_, &cpci, nullptr, &pool), VK_SUCCESS);
    VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool,
                                     VK_COMMAND_BUFFER_LEVEL_PRIMARY, 1};
    VkCommandBuffer cb;
    ASSERT_EQ(vkAllocateCommandBuffers(device_, &info, &cb), VK_SUCCESS);
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    ASSERT_EQ(vkBeginCommandBuffer(cb, &begin), VK_SUCCESS);
    HostBuffer buf = MakeBuffer(256, false, VK_BUFFER_USAGE_TRANSFER_DST_BIT);

    Close();
    std::atomic<bool> done{false};
    std::thread app([&] {
        vkCmdFillBuffer(cb, buf.buffer, 0, VK_WHOLE_SIZE, 7);
        done = true;
    });
    EXPECT_TRUE(WaitForWaiters(1));
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_FALSE(done.load());
    api_.gate_open();
    app.join();
    EXPECT_TRUE(done.load());
    EXPECT_EQ(vkEndCommandBuffer(cb), VK_SUCCESS);
    vkDestroyCommandPool(device_, pool, nullptr);
    FreeBuffer(buf);
}

// A thread waiting on a fence nobody signals yet leaves the gate at the end of its slice.
TEST_F(GateTest, SlicedFenceWaitDoesNotHoldClose) {
    VkFence fence = MakeFence(false);
    std::atomic<VkResult> result{VK_NOT_READY};
    std::thread app([&] { result = vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX); });
    std::this_thread::sleep_for(milliseconds(50));  // inside its wait
    const auto start = Clock::now();
    Close();
    const int64_t took = MsSince(start);
    EXPECT_LT(took, 100) << "a 20 ms slice held Close() for " << took << " ms";
    EXPECT_TRUE(WaitForWaiters(1));  // its next slice waits at the gate
    EXPECT_EQ(result.load(), VK_NOT_READY);
    api_.gate_open();
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_EQ(result.load(), VK_NOT_READY);  // still waiting for its fence
    ASSERT_EQ(vkQueueSubmit(queue_, 0, nullptr, fence), VK_SUCCESS);
    app.join();
    EXPECT_EQ(result.load(), VK_SUCCESS);
    vkDestroyFence(device_, fence, nullptr);
}

// The host signal another thread sends while the gate is closed: the waiter gets it after Open().
TEST_F(GateTest, SemaphoreSignalledFromTheHostAcrossAClosedGate) {
    VkSemaphore sem = MakeTimeline();
    const uint64_t one = 1;
    VkSemaphoreWaitInfo wait{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &sem, &one};
    std::atomic<VkResult> waited{VK_NOT_READY};
    std::thread waiter([&] { waited = vkWaitSemaphores(device_, &wait, UINT64_MAX); });
    std::this_thread::sleep_for(milliseconds(30));
    Close();
    std::atomic<bool> signalled{false};
    std::thread signaller([&] {
        VkSemaphoreSignalInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, sem, 1};
        EXPECT_EQ(vkSignalSemaphore(device_, &signal), VK_SUCCESS);
        signalled = true;
    });
    EXPECT_TRUE(WaitForWaiters(2));  // the waiter between slices and the signaller
    EXPECT_FALSE(signalled.load());
    EXPECT_EQ(waited.load(), VK_NOT_READY);
    api_.gate_open();
    signaller.join();
    waiter.join();
    EXPECT_TRUE(signalled.load());
    EXPECT_EQ(waited.load(), VK_SUCCESS);
    vkDestroySemaphore(device_, sem, nullptr);
}

TEST_F(GateTest, WaitTimeoutsAreTheApplications) {
    VkFence unsignalled = MakeFence(false);
    VkFence signalled = MakeFence(true);
    auto start = Clock::now();
    EXPECT_EQ(vkWaitForFences(device_, 1, &unsignalled, VK_TRUE, 0), VK_TIMEOUT);
    EXPECT_LT(MsSince(start), 15);
    EXPECT_EQ(vkWaitForFences(device_, 1, &signalled, VK_TRUE, 0), VK_SUCCESS);
    start = Clock::now();
    EXPECT_EQ(vkWaitForFences(device_, 1, &unsignalled, VK_TRUE, 50'000'000), VK_TIMEOUT);
    int64_t took = MsSince(start);
    EXPECT_GE(took, 50);
    EXPECT_LT(took, 150);
    VkFence both[2] = {unsignalled, signalled};
    EXPECT_EQ(vkWaitForFences(device_, 2, both, VK_FALSE, UINT64_MAX), VK_SUCCESS);  // any of them

    VkSemaphore sem = MakeTimeline();
    const uint64_t one = 1;
    VkSemaphoreWaitInfo wait{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &sem, &one};
    start = Clock::now();
    EXPECT_EQ(vkWaitSemaphores(device_, &wait, 0), VK_TIMEOUT);
    EXPECT_LT(MsSince(start), 15);
    start = Clock::now();
    EXPECT_EQ(vkWaitSemaphores(device_, &wait, 30'000'000), VK_TIMEOUT);
    took = MsSince(start);
    EXPECT_GE(took, 30);
    EXPECT_LT(took, 130);
    VkSemaphoreSignalInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, sem, 1};
    ASSERT_EQ(vkSignalSemaphore(device_, &signal), VK_SUCCESS);
    EXPECT_EQ(vkWaitSemaphores(device_, &wait, 0), VK_SUCCESS);
    vkDestroySemaphore(device_, sem, nullptr);
    vkDestroyFence(device_, unsignalled, nullptr);
    vkDestroyFence(device_, signalled, nullptr);
}

}  // namespace
