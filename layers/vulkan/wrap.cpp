// wrap.cpp — see wrap.h, device_data.h and instance_data.h.
#include "layers/vulkan/wrap.h"

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "fmt/format.h"

namespace gpucr::vk {

uint64_t NextObjectId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

void DeleteWrapper(const ObjectRef& ref) {
    if (!ref.dispatchable) {
        delete ref.object();
        return;
    }
    switch (ref.type) {
        case VK_OBJECT_TYPE_DEVICE:
            delete static_cast<WrapperOf<VkDevice>::type*>(ref.dispatchable_object());
            break;
        case VK_OBJECT_TYPE_QUEUE:
            delete static_cast<WrapperOf<VkQueue>::type*>(ref.dispatchable_object());
            break;
        case VK_OBJECT_TYPE_COMMAND_BUFFER:
            delete static_cast<WrapperOf<VkCommandBuffer>::type*>(ref.dispatchable_object());
            break;
        case VK_OBJECT_TYPE_PHYSICAL_DEVICE:
            delete static_cast<WrapperOf<VkPhysicalDevice>::type*>(ref.dispatchable_object());
            break;
        default:
            delete ref.dispatchable_object();
            break;
    }
}

void FreeChildren(uint64_t pool_id, DeviceData* device) {
    for (const ObjectRef& child : device->objects.TakeChildren(pool_id)) {
        device->objects.Remove(child.id);
        DeleteWrapper(child);
    }
}

DeviceData::~DeviceData() {
    // Wrappers the application leaked die with the device (the device wrapper itself is not in the table).
    for (const ObjectRef& ref : objects.Snapshot()) {
        objects.Remove(ref.id);
        DeleteWrapper(ref);
    }
}

InstanceData::~InstanceData() {
    for (const ObjectRef& ref : objects.Snapshot()) {
        objects.Remove(ref.id);
        DeleteWrapper(ref);
    }
}

void MarkUnsupported(DeviceData& device, uint64_t object_id, bool unsupported) {
    device.objects.SetUnsupported(object_id, unsupported);
}

std::vector<std::string> UnsupportedObjects(DeviceData& device) {
    std::vector<std::string> out;
    for (const auto& [type, count] : device.objects.UnsupportedCounts()) {
        out.push_back(fmt::format("{} x{}", ObjectTypeName(type), count));
    }
    return out;
}

namespace {

std::mutex g_instances_mutex;
std::unordered_map<void*, std::unique_ptr<InstanceData>>& Instances() {
    static auto* map = new std::unordered_map<void*, std::unique_ptr<InstanceData>>();
    return *map;
}

}  // namespace

void RegisterInstanceData(void* key, std::unique_ptr<InstanceData> data) {
    std::lock_guard lock(g_instances_mutex);
    Instances()[key] = std::move(data);
}

std::unique_ptr<InstanceData> UnregisterInstanceData(void* key) {
    std::lock_guard lock(g_instances_mutex);
    auto it = Instances().find(key);
    if (it == Instances().end()) return nullptr;
    auto data = std::move(it->second);
    Instances().erase(it);
    return data;
}

InstanceData* FindInstanceDataByKey(void* key) {
    std::lock_guard lock(g_instances_mutex);
    auto it = Instances().find(key);
    return it == Instances().end() ? nullptr : it->second.get();
}

InstanceData* InstanceDataOf(VkInstance instance) { return FindInstanceDataByKey(DispatchKey(instance)); }

InstanceData* InstanceDataOf(VkPhysicalDevice physical_device) {
    return reinterpret_cast<DispatchableObject*>(physical_device)->instance;
}

}  // namespace gpucr::vk
