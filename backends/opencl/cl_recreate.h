// cl_recreate.h — releasing every real OpenCL object behind the application's handles and creating
// it again, on the same device or on another one (another vendor's platform too), for suspend,
// resume and migration. The shim's wrappers (the application's handles) stay valid throughout: each
// is pointed at its new real object. Memory contents are not part of this: the caller saves them
// before Teardown and writes them back after Recreate (RealHandlesOf).
//
// What comes back: contexts (same properties and notify callback), command queues (same
// properties), buffers (same flags and size; CL_MEM_USE_HOST_PTR with the same host memory),
// sub-buffers, images (format and descriptor; from a buffer or image too), samplers, programs
// (source or IL rebuilt with the options recorded for the device; binaries and built-in kernels only
// on their own device), kernels (every recorded argument set again), events (a user event of the
// new context with the old status), and the application's destructor / release callbacks, which run
// once, when the application lets go. Platforms and root devices stay; the application's device
// handle of a moved device answers about its new device from then on.
//
//   std::vector<TargetDevice> devices = AllDevices();        // `gpucr resume --device N` indexes these
//   GPUCR_ASSIGN_OR_RETURN(RecreateTarget target, TargetForDevice(n));
//   std::vector<std::string> why = CheckRecreatable(target);  // refuse with these when not empty
//   GPUCR_RETURN_IF_ERROR(Teardown());                        // queues drained, application held
//   Status s = Recreate(target);
//   if (!s.ok()) s = Recreate({});                            // fall back: every object on its own device
//   GPUCR_ASSIGN_OR_RETURN(RealMemHandles h, RealHandlesOf(mem_id));  // write contents back through h
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dag/status.h"
#include "layers/opencl/cl_api.h"
#include "layers/opencl/object_types.h"

namespace gpucr::cl {

// One root device of one platform the shim loaded.
struct TargetDevice {
    cl_platform_id platform_real = nullptr;
    cl_device_id device_real = nullptr;
    const cl_icd_dispatch* dispatch = nullptr;  // its ICD's table (the first word of device_real)
    std::string platform_name, device_name;
    Platform* platform_wrapper = nullptr;
    cl_device_type device_type = 0;
};
// Every root device of every platform, in platform order, then clGetDeviceIDs(CL_DEVICE_TYPE_ALL)
// order: index N is `gpucr resume --device N`.
std::vector<TargetDevice> AllDevices();

// Where each of the application's devices goes: device wrapper id -> AllDevices() index. A device
// not in the map stays on its own (current) device; the empty map moves nothing.
struct RecreateTarget {
    std::map<uint64_t, size_t> devices;
};

// Every device the application's contexts use, on device `index`. Sub-devices of that device stay
// as they are. Errors: index out of range (kInvalidArgument), a context with several devices, which
// would collapse onto one (kUnsupported).
Result<RecreateTarget> TargetForDevice(size_t index);

// Why the application's objects could not be created again on `target`, one line per object
// ("cl_program 7: created from a binary only; it can come back only on the device it was built
// for"), including NotCapturableReasons(). Empty: all can. Before Teardown it judges the live
// objects, afterwards the torn-down ones.
std::vector<std::string> CheckRecreatable(const RecreateTarget& target);

// Releases every real object behind the application's live wrappers (and those they depend on:
// the program of a kernel, the parent of a sub-buffer, contexts), in reverse dependency order,
// keeping every wrapper valid. The caller has drained the queues and holds the application's calls.
// Refuses, releasing nothing, when CheckRecreatable({}) has reasons (kUnsupported), when already
// torn down or an event's command has not completed (kFailedPrecondition). A user event the
// application has not set yet (and put no callback on) is completed before its release (NVIDIA's
// clReleaseContext hangs otherwise) and comes back unset.
Status Teardown();

// Creates every torn-down object again on `target`, in dependency order, and points each wrapper
// at its new real object (real, next, platform, the table's index); moves the device wrappers the
// target moves. On failure (naming the object) nothing is changed: every new real object is
// released again and another Recreate can be tried, e.g. Recreate({}) on the original devices.
Status Recreate(const RecreateTarget& target);

// Between a successful Teardown and a successful Recreate.
bool TornDown();

// The real handles to write a memory object's contents back through, after Recreate.
struct RealMemHandles {
    cl_mem mem = nullptr;
    cl_context context = nullptr;
    cl_device_id device = nullptr;           // the context's first device
    cl_command_queue queue = nullptr;        // an application queue of that context (in-order when
                                             // there is one), or nullptr when it has none
    const cl_icd_dispatch* dispatch = nullptr;  // the ICD to call them with
};
Result<RealMemHandles> RealHandlesOf(uint64_t mem_id);

}  // namespace gpucr::cl
