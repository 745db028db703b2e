// test_exports.cpp — test-only exports of the test build of the shim (libgpucr_opencl_test.so): let
// the tests look into the object tables from the application's side of the ICD loader.
#include <cstring>
#include <string>

#include "backends/opencl/cl_dag.h"
#include "layers/opencl/describe.h"
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
