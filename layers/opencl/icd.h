// icd.h — the real OpenCL ICDs behind the shim and their platforms.
//
// Which libraries: GPUCR_OPENCL_ICD (one library path, or several separated by ':'), else the .icd
// files of GPUCR_OPENCL_VENDORS (set by `gpucr run` to the application's own OCL_ICD_VENDORS; a
// directory, an .icd file or a library, as ocl-icd reads OCL_ICD_VENDORS), else of
// $OPENCL_VENDOR_PATH or /etc/OpenCL/vendors. The shim itself (and any other gpucr shim) is skipped.
// OCL_ICD_VENDORS is never read: it is how the loader found the shim.
//
//   const std::vector<Platform*>& platforms = Platforms();   // loads on first call
//   if (Disabled()) ...                                      // GPUCR_DISABLE=1: pure pass-through
#pragma once

#include <string>
#include <vector>

#include "layers/opencl/cl_api.h"
#include "layers/opencl/object_types.h"

namespace gpucr::cl {

struct Icd {
    std::string path;                                                   // as named by the .icd file or GPUCR_OPENCL_ICD
    void* handle = nullptr;                                             // dlopen handle
    void*(CL_API_CALL* get_extension_function)(const char*) = nullptr;  // its clGetExtensionFunctionAddress
    clIcdGetPlatformIDsKHR_fn get_platform_ids = nullptr;
    std::vector<cl_platform_id> real_platforms;
};

// GPUCR_DISABLE=1: the shim hands out the real platforms, so the loader calls the real ICD directly.
bool Disabled();

// The loaded ICDs and the wrapped platforms (empty when none was found). Thread-safe; the first
// call loads the ICDs and, unless disabled, registers the agent's provider.
const std::vector<Icd*>& Icds();
const std::vector<Platform*>& Platforms();

// Library paths the shim would load (for tests and logs), without loading them.
std::vector<std::string> VendorLibraries();

}  // namespace gpucr::cl
