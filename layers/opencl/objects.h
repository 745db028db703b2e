// objects.h — the shim's handle wrappers: every OpenCL handle the application sees is one of these.
//
// A wrapper starts with the shim's dispatch table (cl_khr_icd: the ICD loader calls
// handle->dispatch->clXxx), holds the real ICD's handle and that handle's own dispatch table, a stable
// id (never reused in a process; it names the object in images) and what is needed to create the
// object again (object_types.h). Wrappers are not polymorphic: the first word belongs to the loader's
// protocol. They are deleted through their static type (DeleteWrapper).
//
// Lifetime: `refs` counts the application's references (clRetain/clRelease) plus internal ones (a
// kernel holds its program, a sub-buffer its parent, every object its context, a pending callback
// its object, a memory object the real ICD's destructor callback); the wrapper is freed when it
// reaches zero, i.e. when the real object is gone too.
//
//   cl_mem app = WrapCreated(real_mem, context_wrapper, "clCreateBuffer");
//   Mem* m = Get(app);                      // typed access, nullptr if not a live wrapper
//   cl_mem real = UnwrapAs(app);            // before calling the real ICD
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "layers/opencl/cl_api.h"

namespace gpucr::cl {

inline constexpr uint32_t kObjectMagic = 0x47434c4f;  // "GCLO"

enum class ObjectType : uint8_t {
    kPlatform,
    kDevice,
    kContext,
    kCommandQueue,
    kMem,
    kSampler,
    kProgram,
    kKernel,
    kEvent,
};
inline constexpr int kObjectTypeCount = 9;
const char* TypeName(ObjectType type);  // "cl_mem"

struct Platform;
struct Context;

struct Object {
    const cl_icd_dispatch* dispatch = nullptr;  // first word: the shim's table
    uint32_t magic = kObjectMagic;
    ObjectType type = ObjectType::kPlatform;
    bool permanent = false;  // platforms, root devices, retrieved objects: never freed
    uint64_t id = 0;
    void* real = nullptr;                   // the real ICD's handle
    const cl_icd_dispatch* next = nullptr;  // the real ICD's dispatch table (first word of `real`)
    Platform* platform = nullptr;
    Context* context = nullptr;               // owning context (held); null for platforms, devices, contexts
    std::string created_by;                   // entry point that created it, "clCreateBuffer"
    std::atomic<int64_t> refs{0};             // application + internal references
    std::atomic<int64_t> app_refs{0};         // the application's share (for describe)
    mutable std::mutex mu;                    // guards what follows and the recorded state that changes
    std::vector<Object*> holds;               // internal references this wrapper holds on others
    std::vector<std::shared_ptr<void>> keep;  // callback records the real ICD may still call with
    std::string unsupported;                  // why it cannot be captured; empty: capturable
};

// Handle type -> wrapper type (specialised in object_types.h) and -> ObjectType.
template <typename H>
struct WrapperOf;
template <typename H>
inline constexpr ObjectType kTypeOf = WrapperOf<H>::kType;

// Stable ids, never reused in a process.
uint64_t NextObjectId();

}  // namespace gpucr::cl
