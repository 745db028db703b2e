// object_table.h — every live OpenCL wrapper of the process, by wrapper address, real handle and id;
// thread-safe and iterable. Also the registry of what cannot be captured: objects carry their own
// reason (Object::unsupported), the process collects reasons that belong to no object (SVM, native
// kernels); a dump refuses with NotCapturableReasons().
//
//   ObjectTable::Get().ForEach([](const Object& o) { if (o.type == ObjectType::kMem) ... });
//   for (const std::string& why : NotCapturableReasons()) ...  // "cl_mem 12: created by clCreateFromGLBuffer ..."
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "layers/opencl/objects.h"

namespace gpucr::cl {

class ObjectTable {
public:
    static ObjectTable& Get();
    ObjectTable() = default;
    ObjectTable(const ObjectTable&) = delete;
    ObjectTable& operator=(const ObjectTable&) = delete;

    void Add(Object* o);
    void Remove(Object* o);
    // The live wrapper at this address (the application's handle), or nullptr.
    Object* FindWrapper(const void* handle) const;
    // The live wrapper of a real handle, or nullptr.
    Object* FindReal(const void* real) const;
    // Runs fn under the table's lock on the live wrapper with this id; false when there is none. fn
    // must not call the table (what it reads must not need the object's own lock to stay valid).
    bool WithId(uint64_t id, const std::function<void(const Object&)>& fn) const;
    size_t size() const;
    size_t count(ObjectType type) const;
    // fn runs under the table's lock for every live wrapper, in id order; it must not call the table.
    void ForEach(const std::function<void(const Object&)>& fn) const;
    // Every live wrapper in id order, each with a reference taken (refs) that the caller drops with
    // Unref; wrappers already on their way out are left out.
    std::vector<Object*> RetainAll() const;
    // Points o at another real handle (nullptr: none) and re-indexes it; the new handle's index entry
    // goes to o. Used when a real object is released and created again behind the same wrapper.
    void SetReal(Object* o, void* real);

    // Process-wide reasons (entry point that caused it -> reason), kept for the process's lifetime.
    void MarkProcess(std::string_view entry, std::string_view reason);
    std::vector<std::string> ProcessReasons() const;

private:
    mutable std::shared_mutex mutex_;
    std::unordered_map<const void*, Object*> by_wrapper_;
    std::unordered_map<const void*, Object*> by_real_;
    std::map<uint64_t, Object*> by_id_;
    std::map<std::string, std::string> process_reasons_;
};

// Every reason a dump must refuse with: the process's and one per unsupported live object
// ("cl_mem 12: created by clCreateFromGLBuffer, which gpucr does not record").
std::vector<std::string> NotCapturableReasons();

}  // namespace gpucr::cl
