#include "layers/opencl/object_table.h"

#include <fmt/format.h>

#include <mutex>

#include "dag/log.h"

namespace gpucr::cl {

ObjectTable& ObjectTable::Get() {
    static ObjectTable* table = new ObjectTable();  // never destroyed: the ICD may call back at exit
    return *table;
}

void ObjectTable::Add(Object* o) {
    std::unique_lock lock(mutex_);
    by_wrapper_[o] = o;
    by_id_[o->id] = o;
    auto [it, inserted] = by_real_.emplace(o->real, o);
    if (!inserted) {
        // The real ICD re-used the address of an object whose wrapper is still alive: the old
        // object is gone, only its wrapper lingers (held by a child or a pending callback).
        GPUCR_LOG_DEBUG("cl", "{} {}: real handle {} re-used (was {} {})", TypeName(o->type), o->id, o->real,
                        TypeName(it->second->type), it->second->id);
        it->second = o;
    }
}

void ObjectTable::Remove(Object* o) {
    std::unique_lock lock(mutex_);
    by_wrapper_.erase(o);
    by_id_.erase(o->id);
    auto it = by_real_.find(o->real);
    if (it != by_real_.end() && it->second == o) by_real_.erase(it);
}

std::vector<Object*> ObjectTable::RetainAll() const {
    std::shared_lock lock(mutex_);
    std::vector<Object*> out;
    out.reserve(by_id_.size());
    for (const auto& [id, o] : by_id_) {
        // Only from a count above zero: at zero the wrapper is being freed (it waits for this lock).
        int64_t refs = o->refs.load();
        while (refs > 0 && !o->refs.compare_exchange_weak(refs, refs + 1)) {
        }
        if (refs > 0) out.push_back(o);
    }
    return out;
}

void ObjectTable::SetReal(Object* o, void* real) {
    std::unique_lock lock(mutex_);
    void* old = o->real;
    auto it = old != nullptr ? by_real_.find(old) : by_real_.end();
    if (it != by_real_.end() && it->second == o) {
        by_real_.erase(it);
        // Only devices share a real handle (one moved onto another's): the other one gets it back.
        for (auto w = by_id_.begin(); o->type == ObjectType::kDevice && w != by_id_.end(); ++w) {
            if (w->second != o && w->second->real == old) {
                by_real_.emplace(old, w->second);
                break;
            }
        }
    }
    o->real = real;
    if (real != nullptr) by_real_[real] = o;
}

bool ObjectTable::WithId(uint64_t id, const std::function<void(const Object&)>& fn) const {
    std::shared_lock lock(mutex_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    fn(*it->second);
    return true;
}

Object* ObjectTable::FindWrapper(const void* handle) const {
    if (handle == nullptr) return nullptr;
    std::shared_lock lock(mutex_);
    auto it = by_wrapper_.find(handle);
    return it == by_wrapper_.end() ? nullptr : it->second;
}

Object* ObjectTable::FindReal(const void* real) const {
    if (real == nullptr) return nullptr;
    std::shared_lock lock(mutex_);
    auto it = by_real_.find(real);
    return it == by_real_.end() ? nullptr : it->second;
}

size_t ObjectTable::size() const {
    std::shared_lock lock(mutex_);
    return by_id_.size();
}

size_t ObjectTable::count(ObjectType type) const {
    std::shared_lock lock(mutex_);
    size_t n = 0;
    for (const auto& [id, o] : by_id_) n += o->type == type ? 1 : 0;
    return n;
}

void ObjectTable::ForEach(const std::function<void(const Object&)>& fn) const {
    std::shared_lock lock(mutex_);
    for (const auto& [id, o] : by_id_) fn(*o);
}

void ObjectTable::MarkProcess(std::string_view entry, std::string_view reason) {
    std::unique_lock lock(mutex_);
    auto [it, inserted] = process_reasons_.emplace(std::string(entry), std::string(reason));
    if (inserted) GPUCR_LOG_INFO("cl", "not capturable from now on: {} ({})", reason, entry);
}

std::vector<std::string> ObjectTable::ProcessReasons() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [entry, reason] : process_reasons_) out.push_back(reason);
    return out;
}

std::vector<std::string> NotCapturableReasons() {
    std::vector<std::string> out = ObjectTable::Get().ProcessReasons();
    ObjectTable::Get().ForEach([&](const Object& o) {
        std::lock_guard lock(o.mu);
        if (!o.unsupported.empty()) out.push_back(fmt::format("{} {}: {}", TypeName(o.type), o.id, o.unsupported));
    });
    return out;
}

}  // namespace gpucr::cl
