// vk_staging.h — reading device memory that has no host view, through a copy on the device.
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

Status ReadDeviceMemory(DeviceData& device, Queue& queue, DeviceMemory& memory, uint64_t offset, uint64_t size,
                        void* dst);
// Before the memory is freed: drops its alias buffer.
void ForgetDeviceMemory(DeviceData& device, uint64_t memory_id);
// Before the device is destroyed: frees the staging objects.
void ForgetDeviceReader(DeviceData& device);

}  // namespace gpucr::vk
