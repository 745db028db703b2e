// object_table.cpp — see object_table.h.
#include "layers/vulkan/object_table.h"

namespace gpucr::vk {

bool IsSupportedObjectType(VkObjectType type) {
    switch (type) {
        case VK_OBJECT_TYPE_INSTANCE:
        case VK_OBJECT_TYPE_PHYSICAL_DEVICE:
        case VK_OBJECT_TYPE_DEVICE:
        case VK_OBJECT_TYPE_QUEUE:
        case VK_OBJECT_TYPE_DEVICE_MEMORY:
        case VK_OBJECT_TYPE_BUFFER:
        case VK_OBJECT_TYPE_BUFFER_VIEW:
        case VK_OBJECT_TYPE_IMAGE:
        case VK_OBJECT_TYPE_IMAGE_VIEW:
        case VK_OBJECT_TYPE_SAMPLER:
        case VK_OBJECT_TYPE_SHADER_MODULE:
        case VK_OBJECT_TYPE_PIPELINE_CACHE:
        case VK_OBJECT_TYPE_PIPELINE_LAYOUT:
        case VK_OBJECT_TYPE_PIPELINE:
        case VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT:
        case VK_OBJECT_TYPE_DESCRIPTOR_POOL:
        case VK_OBJECT_TYPE_DESCRIPTOR_SET:
        case VK_OBJECT_TYPE_DESCRIPTOR_UPDATE_TEMPLATE:
        case VK_OBJECT_TYPE_COMMAND_POOL:
        case VK_OBJECT_TYPE_COMMAND_BUFFER:
        case VK_OBJECT_TYPE_FENCE:
        case VK_OBJECT_TYPE_SEMAPHORE:
        case VK_OBJECT_TYPE_EVENT:
        case VK_OBJECT_TYPE_QUERY_POOL:
            return true;
        default:
            return false;
    }
}

void ObjectTable::Add(const ObjectRef& ref, uint64_t driver, bool retrieved) {
    std::lock_guard lock(mutex_);
    Entry e{ref, driver, retrieved, !IsSupportedObjectType(ref.type), 0};
    if (e.unsupported) ++unsupported_counts_[ref.type];
    if (retrieved) retrieved_[{ref.type, driver}] = ref.ptr;
    objects_[ref.id] = e;
}

void ObjectTable::Remove(uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    const Entry& e = it->second;
    if (e.unsupported && --unsupported_counts_[e.ref.type] == 0) unsupported_counts_.erase(e.ref.type);
    if (e.retrieved) retrieved_.erase({e.ref.type, e.driver});
    if (e.parent_id != 0) {
        auto p = children_.find(e.parent_id);
        if (p != children_.end()) p->second.erase(id);
    }
    children_.erase(id);
    objects_.erase(it);
}

bool ObjectTable::Contains(uint64_t id) const {
    std::lock_guard lock(mutex_);
    return objects_.count(id) != 0;
}

std::optional<ObjectRef> ObjectTable::Find(uint64_t id) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    if (it == objects_.end()) return std::nullopt;
    return it->second.ref;
}

void* ObjectTable::FindRetrieved(VkObjectType type, uint64_t driver) const {
    std::lock_guard lock(mutex_);
    auto it = retrieved_.find({type, driver});
    return it == retrieved_.end() ? nullptr : it->second;
}

void ObjectTable::UpdateRetrieved(uint64_t id, uint64_t old_driver, uint64_t new_driver) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    if (it == objects_.end() || !it->second.retrieved) return;
    retrieved_.erase({it->second.ref.type, old_driver});
    retrieved_[{it->second.ref.type, new_driver}] = it->second.ref.ptr;
    it->second.driver = new_driver;
}

size_t ObjectTable::size() const {
    std::lock_guard lock(mutex_);
    return objects_.size();
}

std::vector<ObjectRef> ObjectTable::Snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<ObjectRef> out;
    out.reserve(objects_.size());
    for (const auto& [id, e] : objects_) out.push_back(e.ref);
    return out;
}

void ObjectTable::ForEach(const std::function<void(const ObjectRef&)>& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [id, e] : objects_) fn(e.ref);
}

void ObjectTable::AddChild(uint64_t parent_id, uint64_t child_id) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(child_id);
    if (it == objects_.end()) return;
    it->second.parent_id = parent_id;
    children_[parent_id].insert(child_id);
}

std::vector<ObjectRef> ObjectTable::TakeChildren(uint64_t parent_id) {
    std::lock_guard lock(mutex_);
    std::vector<ObjectRef> out;
    auto p = children_.find(parent_id);
    if (p == children_.end()) return out;
    for (uint64_t id : p->second) {
        auto it = objects_.find(id);
        if (it == objects_.end()) continue;
        it->second.parent_id = 0;
        out.push_back(it->second.ref);
    }
    children_.erase(p);
    return out;
}

void ObjectTable::SetUnsupported(uint64_t id, bool unsupported) {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    if (it == objects_.end() || it->second.unsupported == unsupported) return;
    it->second.unsupported = unsupported;
    VkObjectType type = it->second.ref.type;
    if (unsupported) {
        ++unsupported_counts_[type];
    } else if (--unsupported_counts_[type] == 0) {
        unsupported_counts_.erase(type);
    }
}

bool ObjectTable::IsUnsupported(uint64_t id) const {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(id);
    return it != objects_.end() && it->second.unsupported;
}

std::map<VkObjectType, size_t> ObjectTable::UnsupportedCounts() const {
    std::lock_guard lock(mutex_);
    return unsupported_counts_;
}

}  // namespace gpucr::vk
