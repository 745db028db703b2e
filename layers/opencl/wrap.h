// wrap.h — wrapping and unwrapping handles, object lifetime, and the "not capturable" marks; used
// by the generated entry points (cl_entry_*.cpp) and the hand-written hooks (hooks_*.cpp).
//
//   Object* self = Lookup(kernel);                        // the wrapper, nullptr if not one
//   cl_mem real = UnwrapAs(app_mem);                      // real handle (unknown values pass as they are)
//   UnwrappedArray<cl_event> waits(app_waits, n);         // arrays, for the real call
//   cl_mem app = WrapCreated(real_mem, self, "clCreateBuffer");
//   ReleaseApp(self);                                     // after a successful clRelease*
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include "dag/status.h"
#include "layers/opencl/cl_api.h"
#include "layers/opencl/object_table.h"
#include "layers/opencl/object_types.h"

namespace gpucr::cl {

// The live wrapper a handle names, or nullptr (also for NULL).
inline Object* Lookup(const void* handle) { return ObjectTable::Get().FindWrapper(handle); }

// Typed access: nullptr unless `handle` is a live wrapper of H's type.
template <typename H>
typename WrapperOf<H>::type* Get(H handle) {
    Object* o = Lookup(handle);
    return o != nullptr && o->type == kTypeOf<H> ? static_cast<typename WrapperOf<H>::type*>(o) : nullptr;
}

// The real handle behind a wrapper of any type. A value that is no live wrapper passes unchanged,
// so the real ICD judges it as it would without the shim.
template <typename H>
H UnwrapAs(H handle) {
    Object* o = Lookup(handle);
    return o != nullptr ? static_cast<H>(o->real) : handle;
}

// A handle array unwrapped for a real call (nullptr stays nullptr).
template <typename H>
class UnwrappedArray {
public:
    UnwrappedArray(const H* app, cl_uint count) : app_(app) {
        if (app == nullptr) return;
        H* out = count <= small_.size() ? small_.data() : (large_.resize(count), large_.data());
        for (cl_uint i = 0; i < count; ++i) out[i] = UnwrapAs(app[i]);
        data_ = out;
    }
    UnwrappedArray(const UnwrappedArray&) = delete;
    UnwrappedArray& operator=(const UnwrappedArray&) = delete;
    const H* data() const { return data_; }

private:
    const H* app_ = nullptr;
    const H* data_ = nullptr;
    std::array<H, 8> small_{};
    std::vector<H> large_;
};

// A new wrapper for an object the real ICD just created through `creator` (a wrapper of the
// context, queue, program ... it was created from). It holds its context; memory objects also
// stay until the real ICD reports their destruction. Returns the application's handle.
Object* NewWrapper(ObjectType type, void* real, Object* creator, const char* entry);
template <typename H>
H WrapCreated(H real, Object* creator, const char* entry) {
    return reinterpret_cast<H>(NewWrapper(kTypeOf<H>, real, creator, entry));
}
// An event returned by an enqueue through `creator` (a queue: the event holds it).
cl_event WrapEvent(cl_event real, Object* creator, const char* entry);

// The wrapper of a real handle the application gets from a query (or a callback): the existing one,
// else a new permanent one. `from` is the object queried (platform and context come from it).
Object* WrapRetrieved(ObjectType type, void* real, Object* from);
template <typename H>
H WrapRetrievedAs(H real, Object* from) {
    return real == nullptr ? nullptr : reinterpret_cast<H>(WrapRetrieved(kTypeOf<H>, real, from));
}
// Replaces the real handles in a clGet*Info result (bytes long) by the application's.
void WrapInfoHandles(ObjectType type, Object* from, void* values, size_t bytes);

// Reference counting. RetainApp/ReleaseApp follow the application's successful clRetain*/clRelease*
// (no-ops on permanent wrappers); Hold makes `holder` keep `held` alive until holder is freed.
void AddRef(Object* o);
void Unref(Object* o);
void RetainApp(Object* o);
void ReleaseApp(Object* o);
void Hold(Object* holder, Object* held);

// Memory objects: registers the shim's destructor callback on m's real handle (the wrapper then holds
// a reference until the real ICD reports that real object's destruction; Mem::real_watched). Called by
// NewWrapper, and by Recreate (backends/opencl/cl_recreate.h) for a new real handle.
bool WatchRealMem(Object* m);

// Application callbacks on the destruction of o's real object: clSetMemObjectDestructorCallback,
// clSetContextDestructorCallback, clSetProgramReleaseCallback. The callback gets the application's
// handle; `hold`: the wrapper stays until it has run. Returns the real ICD's answer.
using ReleaseFn = void(CL_CALLBACK*)(void*, void*);
cl_int AddReleaseCallbackImpl(Object* o, ReleaseFn fn, void* user_data, bool hold);
template <typename H>
cl_int AddReleaseCallback(Object* o, void(CL_CALLBACK* fn)(H, void*), void* user_data, bool hold) {
    return AddReleaseCallbackImpl(o, reinterpret_cast<ReleaseFn>(fn), user_data, hold);
}
// Teardown and Recreate (backends/opencl/cl_recreate.h) release a real object the application still
// holds: CancelReleaseCallbacks keeps the callbacks registered on o's current real object from running
// (before it is released), RearmReleaseCallbacks registers them again on o's new real object, so each
// runs once, when the application lets go. Returns how many could not be registered again.
void CancelReleaseCallbacks(Object* o);
size_t RearmReleaseCallbacks(Object* o);

// Marks: an object gpucr cannot capture (first reason wins), or the whole process.
void MarkUnsupported(Object* o, std::string_view reason);
void MarkProcessNotCapturable(std::string_view entry, std::string_view reason);

// An extension function of the real ICD behind self's platform (cached), or nullptr.
void* ExtensionFunction(Object* self, const char* name);

// The one place an internal Status becomes an OpenCL error code.
cl_int ToClError(const Status& status);

// Ids of wrappers (0 for values that are none).
std::vector<uint64_t> IdsOf(const cl_device_id* devices, cl_uint count);
uint64_t IdOf(const void* handle);

}  // namespace gpucr::cl
