// vk_staging.h — reading (capture) and writing (restore) device memory that has no host view, through
// a copy on the device.
//
// Device-local memory of a discrete GPU cannot be read by the CPU. To capture it, the layer
// binds a transfer-source buffer over the whole allocation (an alias) and copies ranges into
// a host-visible staging buffer on one of the application's queues, then into the snapshot.
// The application's submissions to that queue are serialised with these copies through the
// queue's submit lock (the layer's vkQueueSubmit/vkQueueWaitIdle take it).
//
//   GPUCR_RETURN_IF_ERROR(ReadDeviceMemory(device, queue, memory, offset, size, dst));
#pragma once

#include <cstdint>

#include "dag/status.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/object_types.h"

namespace gpucr::vk {

// GPUCR_VK_CAPTURE=copy: capture (and restore) every memory object the application has not
// mapped through copies on the device, as device-local memory always is (where the host view
// would do too), so that this path runs where all memory is host-visible (lavapipe, CI).
bool ForceDeviceCopy();

Status ReadDeviceMemory(DeviceData& device, Queue& queue, DeviceMemory& memory, uint64_t offset, uint64_t size,
                        void* dst);
// The reverse, to load restored contents into memory without a host view.
Status WriteDeviceMemory(DeviceData& device, Queue& queue, DeviceMemory& memory, uint64_t offset, uint64_t size,
                         const void* src);
// Before the memory is freed: drops its alias buffer.
void ForgetDeviceMemory(DeviceData& device, uint64_t memory_id);
// Before the device is destroyed: frees the staging objects.
void ForgetDeviceReader(DeviceData& device);

}  // namespace gpucr::vk
