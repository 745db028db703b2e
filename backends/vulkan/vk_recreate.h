// vk_recreate.h — destroying every driver object of a device and creating it all again.
//
// The application's handles are the layer's wrappers; each keeps what is needed to create its
// driver object again (object_types.h). Teardown() destroys the driver objects (the wrappers
// stay, pointing at nothing) and releases the contents of memory the application does not
// hold mapped. Recreate() makes a new driver device on a physical device (the same or another
// one), creates every object again in dependency order, re-records command buffers and
// reports which memory objects need their contents loaded. CheckRecreatable() refuses, before
// anything is destroyed, what cannot be brought back.
//
//   GPUCR_RETURN_IF_ERROR(CheckRecreatable(device));
//   TeardownResult t = Teardown(device);
//   GPUCR_ASSIGN_OR_RETURN(RecreateResult r, Recreate(device, target_pd, t.released));
#pragma once

#include <set>
#include <string>
#include <vector>

#include "dag/status.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/object_types.h"

namespace gpucr::vk {

// Whether every live object of the device can be destroyed and created again.
Status CheckRecreatable(DeviceData& device);

struct TeardownResult {
    std::set<uint64_t> released;   // memory ids whose contents must be loaded again
    size_t objects = 0;            // driver objects destroyed
};
// Waits for the device to be idle, saves the state of synchronisation objects and destroys
// every driver object and the driver device (the anchor stays, empty). The caller holds the
// gate closed.
TeardownResult Teardown(DeviceData& device);

struct RecreateResult {
    size_t objects = 0;
    size_t command_buffers_rerecorded = 0;
    std::vector<std::string> notes;  // things the application should know (query results lost ...)
};
// Creates a driver device on `target` (a physical-device wrapper of the device's instance) and
// every object again. On failure everything created is destroyed again and the device stays
// torn down.
Result<RecreateResult> Recreate(DeviceData& device, DispatchableObject* target);

// Whether the device's objects can be created on `target`: the application's extensions,
// features, queues and memory properties all exist there. Checked before anything is destroyed.
Status CheckTarget(DeviceData& device, DispatchableObject* target);

// The physical device wrappers of the device's instance, in enumeration order.
Result<std::vector<DispatchableObject*>> PhysicalDevicesOf(DeviceData& device);

}  // namespace gpucr::vk
