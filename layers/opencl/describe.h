// describe.h — the OpenCL object tables as JSON (for `gpucr ps`, tests and, later, the image
// manifest) and the shim's agent provider.
//
//   nlohmann::json j = Describe(*Lookup(app_buffer));  // {"type":"cl_mem","id":12,"kind":"buffer",...}
//   nlohmann::json all = DescribeProcess();            // {"devices":[...],"objects":N,...}
#pragma once

#include <nlohmann/json.hpp>

#include "layers/opencl/objects.h"

namespace gpucr::cl {

// Everything recorded about one object: common fields (type, id, created_by, refs, platform,
// context, unsupported) and its creation parameters.
nlohmann::json Describe(const Object& o);
// The process's OpenCL state in the shape of agent::Provider::describe, plus "not_capturable".
nlohmann::json DescribeProcess();
// Registers the "opencl" provider with the agent (starts it): describe, dump, suspend, resume
// (backends/opencl/cl_checkpoint.h).
void RegisterAgentProvider();

}  // namespace gpucr::cl
