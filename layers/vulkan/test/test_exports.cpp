// test_exports.cpp — test-only exports of the test build of the layer (libVkLayer_gpucr_test.so):
// lets the layer tests look into the layer's object tables and hook counters, drive the suspend gate,
// and replay command buffers from their logs.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <cstring>
#include <string>

#include "layers/vulkan/command_log.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/gate.h"
#include "layers/vulkan/layer_internal.h"
#include "layers/vulkan/wrap.h"
#include "backends/vulkan/vk_checkpoint.h"
#include "vk_hooks.h"

#define GPUCR_TEST_EXPORT extern "C" __attribute__((visibility("default")))


namespace {

gpucr::vk::DeviceData* Find(VkDevice device) {
    return gpucr::vk::layer::Disabled() ? nullptr : gpucr::vk::FindDeviceDataByKey(device);
}

}  // namespace

GPUCR_TEST_EXPORT int gpucr_vk_test_disabled() { return gpucr::vk::layer::Disabled() ? 1 : 0; }

// Live wrappers of the device, or -1 when the device is not the layer's.
GPUCR_TEST_EXPORT int64_t gpucr_vk_test_object_count(VkDevice device) {
    auto* d = Find(device);
    return d == nullptr ? -1 : static_cast<int64_t>(d->objects.size());
}

// 1 when `handle` is a live wrapper in the device's table.
GPUCR_TEST_EXPORT int gpucr_vk_test_is_wrapper(VkDevice device, uint64_t handle) {
    auto* d = Find(device);
    if (d == nullptr) return 0;
    bool found = false;
    d->objects.ForEach([&](const gpucr::vk::ObjectRef& r) { found |= reinterpret_cast<uint64_t>(r.ptr) == handle; });
    return found ? 1 : 0;
}

// What the hooks recorded: the buffer's size (vkCreateBuffer override) and the kernel DAG's op count
// (vkQueueSubmit hooks).
GPUCR_TEST_EXPORT void gpucr_vk_test_hook_counts(VkBuffer buffer, uint64_t* buffer_size, uint64_t* dag_ops) {
    *buffer_size = buffer == VK_NULL_HANDLE ? 0 : gpucr::vk::Get(buffer)->size;
    *dag_ops = gpucr::vk::VulkanCheckpoint::Get().dag().op_count();
}

// UnsupportedObjects() joined with ", " into buf; returns the full length.
GPUCR_TEST_EXPORT size_t gpucr_vk_test_unsupported(VkDevice device, char* buf, size_t size) {
    auto* d = Find(device);
    std::string all;
    if (d != nullptr) {
        for (const std::string& s : gpucr::vk::UnsupportedObjects(*d)) all += (all.empty() ? "" : ", ") + s;
    }
    if (size > 0) {
        std::strncpy(buf, all.c_str(), size - 1);
        buf[size - 1] = '\0';
    }
    return all.size();
}

// Marks an object (by application handle) unsupported, as a hook would for a graphics pipeline.
GPUCR_TEST_EXPORT void gpucr_vk_test_mark_unsupported(VkDevice device, uint64_t handle, int unsupported) {
    auto* d = Find(device);
    if (d == nullptr || handle == 0) return;
    gpucr::vk::MarkUnsupported(*d, reinterpret_cast<gpucr::vk::Object*>(handle)->id, unsupported != 0);
}

// ---- the suspend gate ----

GPUCR_TEST_EXPORT int gpucr_vk_test_gate_close(int timeout_ms) {
    return gpucr::vk::VulkanGate().Close(std::chrono::milliseconds(timeout_ms)) ? 1 : 0;
}

GPUCR_TEST_EXPORT void gpucr_vk_test_gate_open() { gpucr::vk::VulkanGate().Open(); }

GPUCR_TEST_EXPORT int64_t gpucr_vk_test_gate_waiting() { return gpucr::vk::VulkanGate().waiting(); }

// ---- the command log ----

// 0 initial, 1 recording, 2 executable.
GPUCR_TEST_EXPORT int gpucr_vk_test_cb_state(VkCommandBuffer command_buffer) {
    return static_cast<int>(gpucr::vk::StateOf(*gpucr::vk::Get(command_buffer)));
}

// Commands in the log, and RecordedCommands the hooks keep (what a replay must rebuild).
GPUCR_TEST_EXPORT int gpucr_vk_test_cb_commands(VkCommandBuffer command_buffer, size_t* logged, size_t* recorded) {
    auto* cb = gpucr::vk::Get(command_buffer);
    *logged = cb->log == nullptr ? 0 : cb->log->commands().size();
    *recorded = cb->commands.size();
    return 1;
}

// CheckReplayable: returns ok, sets *invalid and the reason.
GPUCR_TEST_EXPORT int gpucr_vk_test_check_replayable(VkDevice device, VkCommandBuffer command_buffer, int* invalid,
                                                     char* reason, size_t size) {
    auto* d = Find(device);
    if (d == nullptr) return 0;
    gpucr::vk::ReplayCheck check = gpucr::vk::CheckReplayable(*gpucr::vk::Get(command_buffer), d->objects);
    *invalid = check.invalid ? 1 : 0;
    if (size > 0) {
        std::strncpy(reason, check.reason.c_str(), size - 1);
        reason[size - 1] = '\0';
    }
    return check.ok ? 1 : 0;
}

// What resume does for one command buffer: a new driver command buffer from the same driver pool,
// the wrapper re-pointed at it, the log replayed by a gate owner; the old driver buffer is freed.
// Returns the VkResult.
GPUCR_TEST_EXPORT int gpucr_vk_test_replay(VkDevice device, VkCommandBuffer command_buffer) {
    using namespace gpucr::vk;
    DeviceData* d = Find(device);
    if (d == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
    CommandBuffer* cb = Get(command_buffer);
    std::optional<ObjectRef> pool_ref = d->objects.Find(cb->parent_id);
    if (!pool_ref || pool_ref->object() == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
    auto pool = reinterpret_cast<VkCommandPool>(pool_ref->object()->driver);
    VkCommandBufferAllocateInfo info{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr, pool, cb->level, 1};
    VkCommandBuffer fresh = VK_NULL_HANDLE;
    VkResult r = d->dispatch.AllocateCommandBuffers(d->driver, &info, &fresh);
    if (r != VK_SUCCESS) return r;
    if (d->set_loader_data != nullptr) d->set_loader_data(d->driver, fresh);
    auto old = static_cast<VkCommandBuffer>(cb->driver);
    cb->driver = fresh;
    {
        GateOwner owner;
        r = ReplayCommandBuffer(*cb);
    }
    d->dispatch.FreeCommandBuffers(d->driver, pool, 1, &old);
    return r;
}
