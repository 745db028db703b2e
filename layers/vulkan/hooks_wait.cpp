// hooks_wait.cpp — host waits in slices, so that a waiting thread never holds the suspend gate open.
//
// A thread blocked in vkWaitForFences / vkWaitSemaphores inside the gate would stop a suspend forever:
// it may wait for a semaphore that another application thread signals from the host, and that thread
// waits at the closed gate. These overrides wait at most kSlice at a time, each slice inside the gate
// (handles are unwrapped again for each one: the driver objects may have been re-created in between),
// until the wait succeeds, fails, or the application's own timeout expires.
#include <algorithm>
#include <chrono>

#include "layers/vulkan/gate.h"
#include "layers/vulkan/wrap.h"
#include "vk_hooks.h"
#include "vk_unwrap.h"

namespace gpucr::vk::hooks {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kSliceNs = 20'000'000;  // 20 ms

// Calls wait(slice_ns) until it returns anything but VK_TIMEOUT or `timeout_ns` has passed.
// timeout 0 polls once; UINT64_MAX never times out.
template <typename Wait>
VkResult WaitInSlices(uint64_t timeout_ns, Wait wait) {
    const Clock::time_point start = Clock::now();
    for (;;) {
        uint64_t slice = kSliceNs;
        if (timeout_ns != UINT64_MAX) {
            const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
            const uint64_t done = static_cast<uint64_t>(std::max<int64_t>(elapsed, 0));
            const uint64_t left = done >= timeout_ns ? 0 : timeout_ns - done;
            slice = std::min(slice, left);
        }
        VkResult r;
        {
            GateScope gate;
            r = wait(slice);
        }
        if (r != VK_TIMEOUT) return r;
        if (slice == 0) return VK_TIMEOUT;  // polled with the application's time used up
    }
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL Override_vkWaitForFences(VkDevice device, uint32_t fenceCount, const VkFence* pFences,
                                                        VkBool32 waitAll, uint64_t timeout) {
    return WaitInSlices(timeout, [&](uint64_t slice) {
        DeviceData* d = DeviceDataOf(device);
        Arena a;
        return d->dispatch.WaitForFences(Unwrap(device), fenceCount, UnwrapArray(a, pFences, fenceCount), waitAll,
                                         slice);
    });
}

// Also vkWaitSemaphoresKHR (hooks on a command apply to its aliases).
VKAPI_ATTR VkResult VKAPI_CALL Override_vkWaitSemaphores(VkDevice device, const VkSemaphoreWaitInfo* pWaitInfo,
                                                         uint64_t timeout) {
    return WaitInSlices(timeout, [&](uint64_t slice) {
        DeviceData* d = DeviceDataOf(device);
        auto wait = d->dispatch.WaitSemaphores != nullptr ? d->dispatch.WaitSemaphores : d->dispatch.WaitSemaphoresKHR;
        Arena a;
        return wait(Unwrap(device), UnwrapCopy(a, pWaitInfo, 1), slice);
    });
}

}  // namespace gpucr::vk::hooks
