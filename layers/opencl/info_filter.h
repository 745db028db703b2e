// info_filter.h — extension lists as the application sees them through the shim: without the
// extensions whose entry points the shim does not wrap (rules.json "hidden_extensions", e.g.
// cl_khr_command_buffer, whose handles gpucr has no wrapper for), so that an application never finds
// an advertised extension whose functions it cannot get.
//
//   if (IsFilteredExtensionQuery(param_name)) return FilteredInfo(query, param_name, size, value, size_ret);
#pragma once

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "layers/opencl/cl_api.h"

namespace gpucr::cl {

extern const char* const kHiddenExtensions[];  // generated from rules.json
extern const size_t kHiddenExtensionCount;

bool IsHiddenExtension(const char* name, size_t len);
// CL_PLATFORM_EXTENSIONS[_WITH_VERSION], CL_DEVICE_EXTENSIONS[_WITH_VERSION].
bool IsFilteredExtensionQuery(cl_uint param_name);
std::string FilterExtensionString(const std::string& list);

// Runs `query(size, value, size_ret)` (the real clGet*Info for param_name) into a buffer of its own,
// filters it and answers with the usual size rules.
cl_int FilteredInfo(const std::function<cl_int(size_t, void*, size_t*)>& query, cl_uint param_name,
                    size_t param_value_size, void* param_value, size_t* param_value_size_ret);

}  // namespace gpucr::cl
