// cmd_run.h — `gpucr run [--api vulkan,opencl,cuda] -- PROG ARGS`: exec PROG with gpucr's
// front-ends enabled (loader variables / preload), keeping gpucr's pid for PROG.
//
//   int exit_code = 0;
//   AddRunCommand(app, &exit_code);
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "dag/status.h"

namespace gpucr::cli {

void AddRunCommand(CLI::App& app, int* exit_code);

// The directory holding VkLayer_gpucr.json: the build tree's layers/vulkan when gpucr runs from
// a build directory, else the installed explicit_layer.d.
std::string VulkanLayerDir();

// The directory holding only gpucr.icd (the OpenCL shim's vendor file): the build tree's
// layers/opencl/vendors when gpucr runs from a build directory, else <datadir>/gpucr/opencl/vendors.
std::string OpenClVendorDir();

// libgpucr_cuda.so (the CUDA interposer, preloaded): the build tree's layers/cuda when gpucr runs
// from a build directory, else <libdir>/gpucr.
std::string CudaInterposerPath();

// Sets the environment so that a program exec'd next loads the front-end of `api`.
Status EnableFrontEnd(const std::string& api);

}  // namespace gpucr::cli
