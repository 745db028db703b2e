// dispatch.h — the shim's cl_icd_dispatch (the first word of every wrapper) and its table of entry
// points by name, both filled from generated code (cl_dispatch.cpp).
//
//   wrapper->dispatch = ShimDispatch();
//   void* fn = FindEntryPoint("clCreateBuffer");
#pragma once

#include <cstddef>

#include "layers/opencl/cl_api.h"

namespace gpucr::cl {

struct EntryPoint {
    const char* name;
    void* fn;
    bool in_dispatch;  // a member of cl_icd_dispatch (else an extension function)
};
extern const EntryPoint kEntryPoints[];
extern const size_t kEntryPointCount;

void FillDispatch(cl_icd_dispatch* d);  // generated
const cl_icd_dispatch* ShimDispatch();  // filled once
const EntryPoint* FindEntryPoint(const char* name);

}  // namespace gpucr::cl
