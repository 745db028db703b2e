// gate_test.cpp — the suspend gate (gate.h) without a driver: closing waits for threads inside,
// holds new ones until Open(), gives up after its timeout; nested entries count once per gate; an
// owner passes; the gates of two APIs are independent.
#include "dag/gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace gpucr::gate {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t MsSince(Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// Waits until `n` threads wait at `gate` (or a second passes).
bool WaitForWaiters(const Gate& gate, int64_t n) {
    const auto start = Clock::now();
    while (gate.waiting() < n) {
        if (MsSince(start) > 1000) return false;
        std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
}

// A thread inside `gate` until release() is called.
class Inside {
public:
    explicit Inside(Gate& gate)
        : thread_([this, &gate] {
              Scope in(gate);
              entered_ = true;
              while (!released_) std::this_thread::sleep_for(milliseconds(1));
          }) {
        while (!entered_) std::this_thread::sleep_for(milliseconds(1));
    }
    ~Inside() { release(); }
    void release() {
        released_ = true;
        if (thread_.joinable()) thread_.join();
    }

private:
    std::atomic<bool> entered_{false};
    std::atomic<bool> released_{false};
    std::thread thread_;
};

TEST(Gate, CloseWaitsForTheThreadInside) {
    Gate gate;
    Inside app(gate);
    std::thread releaser([&] {
        std::this_thread::sleep_for(milliseconds(50));
        app.release();
    });
    const auto start = Clock::now();
    EXPECT_TRUE(gate.Close(milliseconds(2000)));
    EXPECT_GE(MsSince(start), 40);
    EXPECT_TRUE(gate.closed());
    releaser.join();
    gate.Open();
}

TEST(Gate, CloseGivesUpAfterItsTimeoutAndOpensAgain) {
    Gate gate;
    Inside app(gate);
    const auto start = Clock::now();
    EXPECT_FALSE(gate.Close(milliseconds(50)));
    EXPECT_GE(MsSince(start), 50);
    EXPECT_FALSE(gate.closed());
    std::atomic<bool> passed{false};
    std::thread other([&] {
        Scope in(gate);
        passed = true;
    });
    other.join();
    EXPECT_TRUE(passed.load());
}

TEST(Gate, ClosedGateHoldsNewEntriesUntilOpen) {
    Gate gate;
    ASSERT_TRUE(gate.Close(milliseconds(100)));
    std::atomic<int> passed{0};
    std::thread a([&] {
        Scope in(gate);
        ++passed;
    });
    std::thread b([&] {
        Scope in(gate);
        ++passed;
    });
    EXPECT_TRUE(WaitForWaiters(gate, 2));
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_EQ(passed.load(), 0);
    gate.Open();
    a.join();
    b.join();
    EXPECT_EQ(passed.load(), 2);
    EXPECT_EQ(gate.waiting(), 0);
}

TEST(Gate, NestedEntriesCountOnce) {
    Gate gate;
    std::atomic<int> step{0};
    std::thread app([&] {
        Scope outer(gate);
        {
            Scope inner(gate);  // a driver call made from inside another one
            step = 1;
            while (step == 1) std::this_thread::sleep_for(milliseconds(1));
        }
        step = 3;
        while (step == 3) std::this_thread::sleep_for(milliseconds(1));
    });
    while (step != 1) std::this_thread::sleep_for(milliseconds(1));
    step = 2;
    while (step != 3) std::this_thread::sleep_for(milliseconds(1));
    EXPECT_FALSE(gate.Close(milliseconds(30)));  // left the inner scope only: still inside
    step = 4;
    app.join();
    EXPECT_TRUE(gate.Close(milliseconds(100)));
    gate.Open();
}

TEST(Gate, TheClosingThreadMayBeInside) {
    Gate gate;
    Scope outer(gate);
    Scope inner(gate);
    EXPECT_TRUE(gate.Close(milliseconds(100)));
    {
        Scope again(gate);  // already inside: passes the closed gate
    }
    gate.Open();
}

TEST(Gate, AnOwnerPassesEveryClosedGate) {
    Gate& vulkan = ForApi(Api::kVulkan);
    Gate& opencl = ForApi(Api::kOpenCl);
    ASSERT_TRUE(vulkan.Close(milliseconds(100)));
    ASSERT_TRUE(opencl.Close(milliseconds(100)));
    std::atomic<bool> passed{false};
    std::thread resume([&] {
        Owner owner;
        EXPECT_TRUE(Owner::IsOwner());
        Scope a(vulkan);
        Scope b(opencl);
        passed = true;
    });
    resume.join();
    EXPECT_TRUE(passed.load());
    EXPECT_FALSE(Owner::IsOwner());
    EXPECT_EQ(vulkan.waiting(), 0);
    vulkan.Open();
    opencl.Open();
}

TEST(Gate, EachApiHasItsOwnGate) {
    EXPECT_EQ(&ForApi(Api::kOpenCl), &ForApi(Api::kOpenCl));
    EXPECT_NE(&ForApi(Api::kOpenCl), &ForApi(Api::kVulkan));
    Gate& opencl = ForApi(Api::kOpenCl);
    Gate& vulkan = ForApi(Api::kVulkan);
    ASSERT_TRUE(opencl.Close(milliseconds(100)));
    std::atomic<bool> passed{false};
    std::thread app([&] {
        Scope in(vulkan);  // a suspend of OpenCL does not hold Vulkan calls
        passed = true;
    });
    app.join();
    EXPECT_TRUE(passed.load());
    EXPECT_TRUE(vulkan.Close(milliseconds(100)));
    vulkan.Open();
    opencl.Open();
}

// Inside one gate, a thread still waits at another one that is closed, and closing the other one
// waits for it.
TEST(Gate, NestingCountsPerGate) {
    Gate outer_gate, inner_gate;
    ASSERT_TRUE(inner_gate.Close(milliseconds(100)));
    std::atomic<bool> passed{false};
    std::thread app([&] {
        Scope outer(outer_gate);
        Scope inner(inner_gate);
        passed = true;
    });
    EXPECT_TRUE(WaitForWaiters(inner_gate, 1));
    EXPECT_FALSE(passed.load());
    EXPECT_FALSE(outer_gate.Close(milliseconds(30)));  // it is inside the outer gate meanwhile
    inner_gate.Open();
    app.join();
    EXPECT_TRUE(passed.load());
    Inside held(inner_gate);
    EXPECT_FALSE(inner_gate.Close(milliseconds(30)));
}

}  // namespace
}  // namespace gpucr::gate
