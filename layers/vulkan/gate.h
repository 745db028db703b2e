// gate.h — the Vulkan layer's suspend gate (dag/gate.h, the Vulkan instance): every entry point that
// reaches a driver object enters it first; suspend closes it, resume opens it.
//
//   VkResult vkQueueSubmit(...) { GateScope gate; ... }              // application threads
//   { GateOwner owner; if (!VulkanGate().Close(10s)) fail; ... }     // suspend
#pragma once

#include "dag/gate.h"

namespace gpucr::vk {

inline gate::Gate& VulkanGate() noexcept { return gate::ForApi(gate::Api::kVulkan); }

// Around one call into the driver (the generated entry points, hooks_wait.cpp's slices).
class GateScope : public gate::Scope {
public:
    GateScope() noexcept : gate::Scope(VulkanGate()) {}
};

// Marks the calling thread as the one suspending or resuming: its calls pass every gate.
using GateOwner = gate::Owner;

}  // namespace gpucr::vk
