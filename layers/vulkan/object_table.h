// object_table.h — every live wrapper of one device (or instance), by id; thread-safe and iterable.
//
// The checkpoint code enumerates it; the generated entry points add and remove wrappers. It also keeps
// pool -> children links (implicit frees), a driver -> wrapper index for retrieved handles (queues,
// displays: the same driver handle must give the same application handle), and counts of live objects
// whose type gpucr cannot capture.
//
//   for (const ObjectRef& r : device_data.objects.Snapshot()) {
//       if (r.type == VK_OBJECT_TYPE_BUFFER) Capture(static_cast<Buffer*>(r.object()));
//   }
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "layers/vulkan/objects.h"

namespace gpucr::vk {

// One live wrapper, of either kind.
struct ObjectRef {
    VkObjectType type = VK_OBJECT_TYPE_UNKNOWN;
    uint64_t id = 0;
    void* ptr = nullptr;
    bool dispatchable = false;

    Object* object() const { return dispatchable ? nullptr : static_cast<Object*>(ptr); }
    DispatchableObject* dispatchable_object() const {
        return dispatchable ? static_cast<DispatchableObject*>(ptr) : nullptr;
    }
    static ObjectRef Of(Object* o) { return {o->type, o->id, o, false}; }
    static ObjectRef Of(DispatchableObject* o) { return {o->type, o->id, o, true}; }
};

// True for the types gpucr can capture (pipelines: compute only; hooks mark others).
bool IsSupportedObjectType(VkObjectType type);

class ObjectTable {
public:
    ObjectTable() = default;
    ObjectTable(const ObjectTable&) = delete;
    ObjectTable& operator=(const ObjectTable&) = delete;

    // retrieved: index by (type, driver) so that WrapRetrieved finds it again.
    void Add(const ObjectRef& ref, uint64_t driver, bool retrieved);
    void Remove(uint64_t id);
    bool Contains(uint64_t id) const;
    std::optional<ObjectRef> Find(uint64_t id) const;
    void* FindRetrieved(VkObjectType type, uint64_t driver) const;
    // Re-keys a retrieved object after its driver handle changed (re-creation).
    void UpdateRetrieved(uint64_t id, uint64_t old_driver, uint64_t new_driver);
    size_t size() const;
    std::vector<ObjectRef> Snapshot() const;
    void ForEach(const std::function<void(const ObjectRef&)>& fn) const;  // under the table's lock

    void AddChild(uint64_t parent_id, uint64_t child_id);
    // Removes and returns the children still alive (they stay in the table until removed).
    std::vector<ObjectRef> TakeChildren(uint64_t parent_id);

    // Unsupported-object accounting.
    void SetUnsupported(uint64_t id, bool unsupported);
    bool IsUnsupported(uint64_t id) const;
    std::map<VkObjectType, size_t> UnsupportedCounts() const;

private:
    struct Entry {
        ObjectRef ref;
        uint64_t driver = 0;
        bool retrieved = false;
        bool unsupported = false;
        uint64_t parent_id = 0;
    };
    struct DriverKey {
        VkObjectType type;
        uint64_t driver;
        bool operator==(const DriverKey& o) const { return type == o.type && driver == o.driver; }
    };
    struct DriverKeyHash {
        size_t operator()(const DriverKey& k) const { return std::hash<uint64_t>()(k.driver * 31 + k.type); }
    };

    mutable std::mutex mutex_;
    std::unordered_map<uint64_t, Entry> objects_;
    std::unordered_map<DriverKey, void*, DriverKeyHash> retrieved_;
    std::unordered_map<uint64_t, std::unordered_set<uint64_t>> children_;
    std::map<VkObjectType, size_t> unsupported_counts_;
};

}  // namespace gpucr::vk
