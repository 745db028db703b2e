// cl_api.h — the one include of the OpenCL headers for the shim: OpenCL 3.0 with every deprecated
// entry point declared (an ICD serves them all) and the cl_khr_icd dispatch table.
//
//   #include "layers/opencl/cl_api.h"
//   const cl_icd_dispatch* next = *reinterpret_cast<cl_icd_dispatch* const*>(real_handle);
#pragma once

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#define CL_USE_DEPRECATED_OPENCL_1_0_APIS
#define CL_USE_DEPRECATED_OPENCL_1_1_APIS
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#define CL_USE_DEPRECATED_OPENCL_2_0_APIS
#define CL_USE_DEPRECATED_OPENCL_2_1_APIS
#define CL_USE_DEPRECATED_OPENCL_2_2_APIS

#include <CL/cl_icd.h>
