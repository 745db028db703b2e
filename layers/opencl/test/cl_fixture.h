// cl_fixture.h — helpers of the OpenCL shim tests: the platform through the shim and PoCL's own,
// side by side in one process (both through the real ocl-icd loader), the test shim's exports, and
// small OpenCL set-ups.
//
// main() (cl_fixture.cpp) points OCL_ICD_VENDORS, before the first OpenCL call, at a fresh directory
// holding gpucr.icd (the test build of the shim) and copies of the system's .icd files, so the loader
// offers every real platform twice: directly and wrapped. With GPUCR_DISABLE=1 the directory holds
// gpucr.icd alone. With GPUCR_TEST_KEEP_VENDORS=1 the environment's OCL_ICD_VENDORS is kept.
//
//   ClSetup shim(ShimPlatform()), direct(DirectPlatform());
//   EXPECT_EQ(RunVectorAdd(shim), RunVectorAdd(direct));
#pragma once

#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gpucr::cl::test {

// The test shim's exports (test_exports.cpp), found once the loader has loaded it.
struct ShimExports {
    int (*disabled)() = nullptr;
    int (*is_wrapper)(const void*) = nullptr;
    void* (*real)(const void*) = nullptr;
    int64_t (*live_count)() = nullptr;
    int64_t (*describe)(const void*, char*, size_t) = nullptr;
    int64_t (*not_capturable)(char*, size_t) = nullptr;
    int64_t (*describe_process)(char*, size_t) = nullptr;
    int (*gate_close)(int timeout_ms) = nullptr;  // the OpenCL suspend gate: 1 when closed
    void (*gate_open)() = nullptr;
    int64_t (*gate_waiting)() = nullptr;  // threads waiting at it
};
const ShimExports& Shim();  // null members when the test shim is not loaded
bool IsWrapper(const void* handle);
nlohmann::json Describe(const void* handle);  // null when not a wrapper
std::vector<std::string> NotCapturable();

// The platform through the shim, and the same ICD's platform without it (nullptr when absent).
cl_platform_id ShimPlatform();
cl_platform_id DirectPlatform();
std::vector<cl_platform_id> AllPlatforms();

// One device, a context and an in-order queue on a platform; released on destruction.
struct ClSetup {
    explicit ClSetup(cl_platform_id p);
    ~ClSetup();
    ClSetup(const ClSetup&) = delete;
    ClSetup& operator=(const ClSetup&) = delete;
    cl_platform_id platform = nullptr;
    cl_device_id device = nullptr;
    cl_context context = nullptr;
    cl_command_queue queue = nullptr;
};

// Builds `source` (options may be null); returns the program, or nullptr with *err set.
cl_program Build(const ClSetup& s, const char* source, const char* options, cl_int* err);

// Runs the integer vector add (kVectorAdd) on n elements and returns c; empty on any error.
std::vector<int32_t> RunVectorAdd(const ClSetup& s, size_t n);
std::vector<int32_t> VectorAddReference(size_t n);

extern const char* const kVectorAdd;  // __kernel vadd(a, b, c, k): c[i] = a[i] * k + (b[i] ^ i)
extern const char* const kArgKinds;   // __kernel kinds(global int*, local int*, int, sampler_t, image2d_t)

std::string DeviceString(cl_device_id d, cl_device_info what);
std::string PlatformString(cl_platform_id p, cl_platform_info what);

}  // namespace gpucr::cl::test
