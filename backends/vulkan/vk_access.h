// vk_access.h — read/write sets of recorded Vulkan commands, for the DAG.
//
// At submit time the recorded commands of each command buffer are resolved into DAG ops whose
// accesses name device memory objects (the resources that hold bytes) with byte ranges.
// Copies, fills and updates are `certain`; dispatches are `speculated` from SPIR-V reflection
// of the bound pipeline and the descriptors bound at record time (resolved at submit).
// Where the layer cannot know (buffer device addresses, descriptor updates it cannot follow,
// commands outside the modelled set), the op conservatively writes every memory object of the
// device, so a checkpoint copies too much rather than too little.
//
//   auto ops = OpsOfCommandBuffers(device, cbs, queue_id, seq);
//   for (auto& op : ops) writes.insert(writes.end(), op.writes.begin(), op.writes.end());
#pragma once

#include <vector>

#include "dag/dag.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/object_types.h"

namespace gpucr::vk {

std::vector<dag::Op> OpsOfCommandBuffers(DeviceData& device, const std::vector<CommandBuffer*>& cbs,
                                         dag::QueueId queue, uint64_t seq);

// Typed lookup of a live object of `device` by id; nullptr when gone or of another type.
template <typename W>
W* FindObject(DeviceData& device, uint64_t id, VkObjectType type) {
    if (id == 0) return nullptr;
    auto ref = device.objects.Find(id);
    if (!ref || ref->type != type || ref->dispatchable) return nullptr;
    return static_cast<W*>(ref->object());
}

}  // namespace gpucr::vk
