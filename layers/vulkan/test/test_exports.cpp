// test_exports.cpp — test-only exports of the test build of the layer (libVkLayer_gpucr_test.so):
// lets layer_test.cpp look into the layer's object tables and hook counters.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include "layers/vulkan/device_data.h"
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
