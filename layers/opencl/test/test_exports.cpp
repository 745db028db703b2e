// test_exports.cpp — test-only exports of the test build of the shim (libgpucr_opencl_test.so): let
// the tests look into the object tables from the application's side of the ICD loader.
#include <chrono>
#include <cstring>
#include <string>

#include "backends/opencl/cl_dag.h"
#include "backends/opencl/cl_recreate.h"
#include "layers/opencl/describe.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/icd.h"
#include "layers/opencl/object_table.h"
#include "layers/opencl/wrap.h"

#define GPUCR_TEST_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// Copies s (with its terminator) into buf when it fits; returns the length without terminator.
size_t Out(const std::string& s, char* buf, size_t size) {
    if (buf != nullptr && size > s.size()) std::memcpy(buf, s.c_str(), s.size() + 1);
    return s.size();
}

}  // namespace

GPUCR_TEST_EXPORT int gpucr_cl_test_disabled() { return gpucr::cl::Disabled() ? 1 : 0; }

// 1 when `handle` is a live wrapper of the shim.
GPUCR_TEST_EXPORT int gpucr_cl_test_is_wrapper(const void* handle) {
    return gpucr::cl::Lookup(handle) != nullptr ? 1 : 0;
}

// The real ICD's handle behind a wrapper, or nullptr.
GPUCR_TEST_EXPORT void* gpucr_cl_test_real(const void* handle) {
    gpucr::cl::Object* o = gpucr::cl::Lookup(handle);
    return o != nullptr ? o->real : nullptr;
}

// Live wrappers (every type).
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_live_count() {
    return static_cast<int64_t>(gpucr::cl::ObjectTable::Get().size());
}

// Describe(wrapper) as JSON into buf; -1 when `handle` is no live wrapper, else the full length.
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_describe(const void* handle, char* buf, size_t size) {
    gpucr::cl::Object* o = gpucr::cl::Lookup(handle);
    if (o == nullptr) return -1;
    return static_cast<int64_t>(Out(gpucr::cl::Describe(*o).dump(), buf, size));
}

// NotCapturableReasons() as a JSON array into buf; returns the full length.
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_not_capturable(char* buf, size_t size) {
    nlohmann::json j = gpucr::cl::NotCapturableReasons();
    return static_cast<int64_t>(Out(j.dump(), buf, size));
}

// DescribeProcess() as JSON into buf; returns the full length.
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_describe_process(char* buf, size_t size) {
    return static_cast<int64_t>(Out(gpucr::cl::DescribeProcess().dump(), buf, size));
}

// OpenClDag::Get().ToJson() into buf; returns the full length.
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_dag(char* buf, size_t size) {
    return static_cast<int64_t>(Out(gpucr::cl::OpenClDag::Get().ToJson().dump(), buf, size));
}

// Forgets a kernel's recorded argument info, as if clGetKernelArgInfo had not answered; -1 when
// `handle` is no live kernel.
GPUCR_TEST_EXPORT int gpucr_cl_test_forget_arg_info(const void* handle) {
    gpucr::cl::Kernel* k = gpucr::cl::Get(static_cast<cl_kernel>(const_cast<void*>(handle)));
    if (k == nullptr) return -1;
    std::lock_guard lock(k->mu);
    k->arg_info.clear();
    return 0;
}

// ---- the suspend gate ----

// Closes the OpenCL gate as a suspend does; 1 when no thread was left inside after timeout_ms.
GPUCR_TEST_EXPORT int gpucr_cl_test_gate_close(int timeout_ms) {
    return gpucr::cl::OpenClGate().Close(std::chrono::milliseconds(timeout_ms)) ? 1 : 0;
}

GPUCR_TEST_EXPORT void gpucr_cl_test_gate_open() { gpucr::cl::OpenClGate().Open(); }

GPUCR_TEST_EXPORT int64_t gpucr_cl_test_gate_waiting() { return gpucr::cl::OpenClGate().waiting(); }

// ---- tearing the real objects down and creating them again (backends/opencl/cl_recreate.h) ----

namespace {

int StatusOut(const gpucr::Status& s, char* msg, size_t size) {
    Out(s.message(), msg, size);
    return s.ok() ? 0 : -1;
}

// Every device the live contexts use, mapped to `index` (no range check).
gpucr::cl::RecreateTarget AllTo(size_t index) {
    gpucr::cl::RecreateTarget t;
    gpucr::cl::ObjectTable::Get().ForEach([&](const gpucr::cl::Object& o) {
        if (o.type != gpucr::cl::ObjectType::kContext) return;
        std::lock_guard lock(o.mu);
        for (uint64_t d : static_cast<const gpucr::cl::Context&>(o).devices) t.devices[d] = index;
    });
    return t;
}

}  // namespace

// Teardown(): 0, or -1 with the message in msg.
GPUCR_TEST_EXPORT int gpucr_cl_test_teardown(char* msg, size_t size) {
    return StatusOut(gpucr::cl::Teardown(), msg, size);
}

// Recreate() on every object's own device (device_index < 0) or on TargetForDevice(device_index):
// 0, or -1 with the message in msg.
GPUCR_TEST_EXPORT int gpucr_cl_test_recreate(int device_index, char* msg, size_t size) {
    if (device_index < 0) return StatusOut(gpucr::cl::Recreate({}), msg, size);
    gpucr::Result<gpucr::cl::RecreateTarget> t = gpucr::cl::TargetForDevice(static_cast<size_t>(device_index));
    if (!t.ok()) return StatusOut(t.status(), msg, size);
    return StatusOut(gpucr::cl::Recreate(*t), msg, size);
}

// CheckRecreatable() as a JSON array, for every object on its own device (device_index < 0) or
// every device the contexts use mapped to device_index (unchecked); returns the full length.
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_check_recreatable(int device_index, char* buf, size_t size) {
    gpucr::cl::RecreateTarget t = device_index < 0 ? gpucr::cl::RecreateTarget{} : AllTo(static_cast<size_t>(device_index));
    nlohmann::json j = gpucr::cl::CheckRecreatable(t);
    return static_cast<int64_t>(Out(j.dump(), buf, size));
}

// AllDevices() as JSON [{"platform": name, "device": name}]; returns the full length.
GPUCR_TEST_EXPORT int64_t gpucr_cl_test_all_devices(char* buf, size_t size) {
    nlohmann::json j = nlohmann::json::array();
    for (const gpucr::cl::TargetDevice& d : gpucr::cl::AllDevices()) {
        j.push_back({{"platform", d.platform_name}, {"device", d.device_name}});
    }
    return static_cast<int64_t>(Out(j.dump(), buf, size));
}

// RealHandlesOf(the memory object `handle`): its real cl_mem, context and queue into out[3]; 0, or
// -1 with the message in msg.
GPUCR_TEST_EXPORT int gpucr_cl_test_real_mem_handles(const void* handle, void** out, char* msg, size_t size) {
    gpucr::Result<gpucr::cl::RealMemHandles> h = gpucr::cl::RealHandlesOf(gpucr::cl::IdOf(handle));
    if (!h.ok()) return StatusOut(h.status(), msg, size);
    out[0] = h->mem;
    out[1] = h->context;
    out[2] = h->queue;
    return 0;
}

// Replaces a kernel's recorded name (what Recreate creates it by again), to make a Recreate fail; -1
// when `handle` is no live kernel.
GPUCR_TEST_EXPORT int gpucr_cl_test_set_kernel_name(const void* handle, const char* name) {
    gpucr::cl::Kernel* k = gpucr::cl::Get(static_cast<cl_kernel>(const_cast<void*>(handle)));
    if (k == nullptr || name == nullptr) return -1;
    std::lock_guard lock(k->mu);
    k->name = name;
    return 0;
}
