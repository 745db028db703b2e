#include "backends/vulkan/vk_recreate.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "backends/vulkan/vk_access.h"
#include "backends/vulkan/vk_memory.h"
#include "backends/vulkan/vk_staging.h"
#include "dag/log.h"
#include "layers/vulkan/arena.h"
#include "layers/vulkan/command_log.h"
#include "layers/vulkan/instance_data.h"
#include "layers/vulkan/layer_internal.h"
#include "layers/vulkan/wrap.h"

namespace gpucr::vk {
namespace {

constexpr uint64_t kIdleTimeoutNs = 60ull * 1000 * 1000 * 1000;

std::string Named(const char* type, uint64_t id) { return std::string(type) + " #" + std::to_string(id); }

Status VkFailed(const std::string& what, VkResult r) {
    return Internal(what + " failed (VkResult " + std::to_string(r) + ")");
}

// Object types suspend can destroy and create again, in creation order: an object only
// depends on objects of earlier types (memory after buffers: dedicated allocations name their
// buffer; descriptor sets after buffers and views they point at; command buffers last, their
// commands reference everything).
constexpr VkObjectType kCreationOrder[] = {
    VK_OBJECT_TYPE_SAMPLER,         VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT, VK_OBJECT_TYPE_PIPELINE_LAYOUT,
    VK_OBJECT_TYPE_SHADER_MODULE,   VK_OBJECT_TYPE_PIPELINE_CACHE,        VK_OBJECT_TYPE_PIPELINE,
    VK_OBJECT_TYPE_BUFFER,          VK_OBJECT_TYPE_DEVICE_MEMORY,         VK_OBJECT_TYPE_BUFFER_VIEW,
    VK_OBJECT_TYPE_DESCRIPTOR_POOL, VK_OBJECT_TYPE_DESCRIPTOR_SET,        VK_OBJECT_TYPE_FENCE,
    VK_OBJECT_TYPE_SEMAPHORE,       VK_OBJECT_TYPE_EVENT,                 VK_OBJECT_TYPE_QUERY_POOL,
    VK_OBJECT_TYPE_COMMAND_POOL,    VK_OBJECT_TYPE_COMMAND_BUFFER,
};

bool Recreatable(VkObjectType t) {
    if (t == VK_OBJECT_TYPE_QUEUE || t == VK_OBJECT_TYPE_DEVICE) return true;
    return std::find(std::begin(kCreationOrder), std::end(kCreationOrder), t) != std::end(kCreationOrder);
}

const char* TypeName(VkObjectType t) {
    switch (t) {
        case VK_OBJECT_TYPE_IMAGE: return "VkImage";
        case VK_OBJECT_TYPE_IMAGE_VIEW: return "VkImageView";
        case VK_OBJECT_TYPE_DESCRIPTOR_UPDATE_TEMPLATE: return "VkDescriptorUpdateTemplate";
        case VK_OBJECT_TYPE_SAMPLER_YCBCR_CONVERSION: return "VkSamplerYcbcrConversion";
        case VK_OBJECT_TYPE_PRIVATE_DATA_SLOT: return "VkPrivateDataSlot";
        case VK_OBJECT_TYPE_RENDER_PASS: return "VkRenderPass";
        case VK_OBJECT_TYPE_FRAMEBUFFER: return "VkFramebuffer";
        default: return "object";
    }
}

// Objects by type, in id (creation) order.
std::map<VkObjectType, std::vector<ObjectRef>> ByType(DeviceData& d) {
    std::map<VkObjectType, std::vector<ObjectRef>> out;
    for (const ObjectRef& r : d.objects.Snapshot()) out[r.type].push_back(r);
    for (auto& [t, v] : out) std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
}

template <typename W>
W* As(const ObjectRef& r) {
    return static_cast<W*>(r.object());
}

template <typename H, typename W>
H DriverOf(const W* w) {
    return reinterpret_cast<H>(w->driver);
}

// The driver handle of a live object by id (VK_NULL_HANDLE for id 0 or a dead object).
template <typename H>
H DriverById(DeviceData& d, uint64_t id) {
    if (id == 0) return VK_NULL_HANDLE;
    auto ref = d.objects.Find(id);
    if (!ref || ref->dispatchable) return VK_NULL_HANDLE;
    return reinterpret_cast<H>(ref->object()->driver);
}

bool Alive(DeviceData& d, uint64_t id) { return id == 0 || d.objects.Contains(id); }

}  // namespace

Status CheckRecreatable(DeviceData& d) {
    std::vector<std::string> unsupported = UnsupportedObjects(d);
    if (!unsupported.empty()) {
        std::string list;
        for (const auto& u : unsupported) list += (list.empty() ? "" : ", ") + u;
        return Unsupported("the application uses " + list + ", which gpucr cannot re-create yet");
    }
    for (const ObjectRef& r : d.objects.Snapshot()) {
        if (!Recreatable(r.type)) {
            return Unsupported(Named(TypeName(r.type), r.id) + ": suspend and resume cannot re-create this kind of object yet");
        }
        switch (r.type) {
            case VK_OBJECT_TYPE_DEVICE_MEMORY: {
                auto* m = As<DeviceMemory>(r);
                if (m->app_maps.load() > 0 && !m->imported) {
                    return Unsupported(Named("VkDeviceMemory", m->id) +
                                       " is mapped through the driver; its pointer cannot survive re-creation");
                }
                if (m->dedicated_image != 0) return Unsupported(Named("VkDeviceMemory", m->id) + " is dedicated to an image");
                break;
            }
            case VK_OBJECT_TYPE_DESCRIPTOR_SET: {
                auto* s = As<DescriptorSet>(r);
                std::lock_guard lock(s->mu);
                if (s->opaque) {
                    return Unsupported(Named("VkDescriptorSet", s->id) +
                                       " was updated in a way gpucr does not follow (update template or inline data)");
                }
                if (!Alive(d, s->layout)) return Unsupported(Named("VkDescriptorSet", s->id) + ": its layout was destroyed");
                break;
            }
            case VK_OBJECT_TYPE_PIPELINE_LAYOUT:
                for (uint64_t l : As<PipelineLayout>(r)->set_layouts) {
                    if (!Alive(d, l)) return Unsupported(Named("VkPipelineLayout", r.id) + ": a set layout it uses was destroyed");
                }
                break;
            case VK_OBJECT_TYPE_PIPELINE: {
                auto* p = As<Pipeline>(r);
                if (p->code == nullptr) return Unsupported(Named("VkPipeline", p->id) + ": its SPIR-V is unknown");
                if (!Alive(d, p->layout)) return Unsupported(Named("VkPipeline", p->id) + ": its layout was destroyed");
                break;
            }
            case VK_OBJECT_TYPE_BUFFER_VIEW:
                if (!Alive(d, As<BufferView>(r)->buffer)) return Unsupported(Named("VkBufferView", r.id) + ": its buffer was destroyed");
                break;
            case VK_OBJECT_TYPE_COMMAND_BUFFER: {
                auto* cb = static_cast<CommandBuffer*>(r.dispatchable_object());
                ReplayCheck check = CheckReplayable(*cb, d.objects);
                if (!check.ok && !check.invalid) return Unsupported(check.reason);
                break;
            }
            default: break;
        }
    }
    return Status::Ok();
}

namespace {

void SaveSyncState(DeviceData& d, const std::map<VkObjectType, std::vector<ObjectRef>>& objs) {
    auto& k = d.dispatch;
    auto find = [&](VkObjectType t) -> const std::vector<ObjectRef>& {
        static const std::vector<ObjectRef> kNone;
        auto it = objs.find(t);
        return it == objs.end() ? kNone : it->second;
    };
    for (const ObjectRef& r : find(VK_OBJECT_TYPE_FENCE)) {
        auto* f = As<Fence>(r);
        f->signaled_at_suspend = k.GetFenceStatus(d.driver, DriverOf<VkFence>(f)) == VK_SUCCESS;
    }
    auto counter = k.GetSemaphoreCounterValue ? k.GetSemaphoreCounterValue : k.GetSemaphoreCounterValueKHR;
    for (const ObjectRef& r : find(VK_OBJECT_TYPE_SEMAPHORE)) {
        auto* s = As<Semaphore>(r);
        if (s->semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE && counter != nullptr) {
            counter(d.driver, DriverOf<VkSemaphore>(s), &s->value_at_suspend);
        }
    }
    for (const ObjectRef& r : find(VK_OBJECT_TYPE_EVENT)) {
        auto* e = As<Event>(r);
        e->set_at_suspend = k.GetEventStatus(d.driver, DriverOf<VkEvent>(e)) == VK_EVENT_SET;
    }
}

// Destroys the driver objects of the objects that have one (a partial re-creation included).
size_t DestroyDriverObjects(DeviceData& d, std::set<uint64_t>* released) {
    auto& k = d.dispatch;
    const VkDevice dev = d.driver;
    auto objs = ByType(d);
    size_t n = 0;
    // Reverse creation order.
    for (auto it = std::rbegin(kCreationOrder); it != std::rend(kCreationOrder); ++it) {
        for (const ObjectRef& r : objs[*it]) {
            if (r.dispatchable) {  // command buffers: freed with their pool
                r.dispatchable_object()->driver = nullptr;
                continue;
            }
            Object* o = r.object();
            if (o->driver == 0) continue;
            switch (r.type) {
                case VK_OBJECT_TYPE_COMMAND_POOL: k.DestroyCommandPool(dev, DriverOf<VkCommandPool>(o), nullptr); break;
                case VK_OBJECT_TYPE_DESCRIPTOR_SET: break;  // freed with its pool
                case VK_OBJECT_TYPE_DESCRIPTOR_POOL: k.DestroyDescriptorPool(dev, DriverOf<VkDescriptorPool>(o), nullptr); break;
                case VK_OBJECT_TYPE_PIPELINE: k.DestroyPipeline(dev, DriverOf<VkPipeline>(o), nullptr); break;
                case VK_OBJECT_TYPE_PIPELINE_LAYOUT: k.DestroyPipelineLayout(dev, DriverOf<VkPipelineLayout>(o), nullptr); break;
                case VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT:
                    k.DestroyDescriptorSetLayout(dev, DriverOf<VkDescriptorSetLayout>(o), nullptr);
                    break;
                case VK_OBJECT_TYPE_SHADER_MODULE: k.DestroyShaderModule(dev, DriverOf<VkShaderModule>(o), nullptr); break;
                case VK_OBJECT_TYPE_PIPELINE_CACHE: k.DestroyPipelineCache(dev, DriverOf<VkPipelineCache>(o), nullptr); break;
                case VK_OBJECT_TYPE_SAMPLER: k.DestroySampler(dev, DriverOf<VkSampler>(o), nullptr); break;
                case VK_OBJECT_TYPE_BUFFER_VIEW: k.DestroyBufferView(dev, DriverOf<VkBufferView>(o), nullptr); break;
                case VK_OBJECT_TYPE_BUFFER: k.DestroyBuffer(dev, DriverOf<VkBuffer>(o), nullptr); break;
                case VK_OBJECT_TYPE_DEVICE_MEMORY: {
                    auto* m = static_cast<DeviceMemory*>(o);
                    k.FreeMemory(dev, DriverOf<VkDeviceMemory>(m), nullptr);
                    if (released == nullptr) break;
                    if (m->imported && m->host != nullptr) {
                        // The layer's backing stays mapped at the same address; what the
                        // application does not hold mapped is given back to the system.
                        if (m->app_maps.load() == 0) {
                            madvise(m->host, m->host_size, MADV_DONTNEED);
                            released->insert(m->id);
                        }
                    } else {
                        m->host = nullptr;  // a driver mapping: gone with the memory
                        released->insert(m->id);
                    }
                    break;
                }
                case VK_OBJECT_TYPE_FENCE: k.DestroyFence(dev, DriverOf<VkFence>(o), nullptr); break;
                case VK_OBJECT_TYPE_SEMAPHORE: k.DestroySemaphore(dev, DriverOf<VkSemaphore>(o), nullptr); break;
                case VK_OBJECT_TYPE_EVENT: k.DestroyEvent(dev, DriverOf<VkEvent>(o), nullptr); break;
                case VK_OBJECT_TYPE_QUERY_POOL: k.DestroyQueryPool(dev, DriverOf<VkQueryPool>(o), nullptr); break;
                default: break;
            }
            o->driver = 0;
            ++n;
        }
    }
    for (const ObjectRef& r : objs[VK_OBJECT_TYPE_QUEUE]) {
        auto* q = static_cast<Queue*>(r.dispatchable_object());
        if (q->timeline != VK_NULL_HANDLE) k.DestroySemaphore(dev, q->timeline, nullptr);
        q->timeline = VK_NULL_HANDLE;
    }
    return n;
}

// Releases the current driver device and its queues; the anchor stays registered (see
// device_data.h).
void ReleaseDriverDevice(DeviceData& d) {
    for (const ObjectRef& r : d.objects.Snapshot()) {
        if (r.type == VK_OBJECT_TYPE_QUEUE && r.dispatchable) {
            auto* q = static_cast<Queue*>(r.dispatchable_object());
            d.objects.UpdateRetrieved(q->id, reinterpret_cast<uint64_t>(q->driver), 0);
            q->driver = nullptr;
        }
    }
    if (d.wrapper != nullptr) d.wrapper->driver = nullptr;
    if (d.driver == VK_NULL_HANDLE) return;
    if (d.driver != d.anchor && d.layer_destroy_device != nullptr) {
        d.layer_destroy_device(d.driver, nullptr, d.dispatch.DestroyDevice);
    }
    d.driver = VK_NULL_HANDLE;
}

}  // namespace

TeardownResult Teardown(DeviceData& d) {
    TeardownResult out;
    auto& k = d.dispatch;
    if (VkResult r = k.DeviceWaitIdle(d.driver); r != VK_SUCCESS) {
        GPUCR_LOG_WARN("vk", "vkDeviceWaitIdle before suspend returned {}", static_cast<int>(r));
    }
    ForgetDeviceReader(d);
    SaveSyncState(d, ByType(d));
    out.objects = DestroyDriverObjects(d, &out.released);
    ReleaseDriverDevice(d);
    return out;
}

Result<std::vector<DispatchableObject*>> PhysicalDevicesOf(DeviceData& d) {
    std::vector<DispatchableObject*> pds;
    if (VkResult r = RefreshPhysicalDevices(*d.instance, &pds); r != VK_SUCCESS) return VkFailed("vkEnumeratePhysicalDevices", r);
    return pds;
}

Status CheckTarget(DeviceData& d, DispatchableObject* target) {
    InstanceData& inst = *d.instance;
    auto pd = static_cast<VkPhysicalDevice>(target->driver);
    uint32_t n = 0;
    inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> available(n);
    inst.dispatch.EnumerateDeviceExtensionProperties(pd, nullptr, &n, available.data());
    auto has = [&](const std::string& e) {
        return std::any_of(available.begin(), available.end(),
                           [&](const VkExtensionProperties& p) { return e == p.extensionName; });
    };
    for (const std::string& e : d.enabled_extensions) {
        if (!has(e)) return Unsupported("the target device lacks the extension " + e + " the application enabled");
    }
    inst.dispatch.GetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
    std::vector<VkQueueFamilyProperties> families(n);
    inst.dispatch.GetPhysicalDeviceQueueFamilyProperties(pd, &n, families.data());
    for (const DeviceQueueRequest& q : d.queues) {
        if (q.family >= families.size() || families[q.family].queueCount < q.priorities.size()) {
            return Unsupported("the target device has no queue family " + std::to_string(q.family) + " with " +
                               std::to_string(q.priorities.size()) + " queues");
        }
    }
    VkPhysicalDeviceFeatures have{};
    inst.dispatch.GetPhysicalDeviceFeatures(pd, &have);
    const auto* want_bits = reinterpret_cast<const VkBool32*>(&d.enabled_features);
    const auto* have_bits = reinterpret_cast<const VkBool32*>(&have);
    for (size_t i = 0; i < sizeof(VkPhysicalDeviceFeatures) / sizeof(VkBool32); ++i) {
        if (want_bits[i] && !have_bits[i]) {
            return Unsupported("the target device lacks a feature the application enabled (VkPhysicalDeviceFeatures member " +
                               std::to_string(i) + ")");
        }
    }
    VkPhysicalDeviceMemoryProperties memory{};
    inst.dispatch.GetPhysicalDeviceMemoryProperties(pd, &memory);
    for (const ObjectRef& r : d.objects.Snapshot()) {
        if (r.type != VK_OBJECT_TYPE_DEVICE_MEMORY || r.dispatchable) continue;
        auto* m = As<DeviceMemory>(r);
        bool found = false;
        for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
            found = found || (memory.memoryTypes[i].propertyFlags & m->properties) == m->properties;
        }
        if (!found) {
            return Unsupported(Named("VkDeviceMemory", m->id) + ": the target device has no memory type with properties 0x" +
                               fmt::format("{:x}", m->properties));
        }
        if (m->imported && m->app_maps.load() > 0 && !has(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME)) {
            return Unsupported(Named("VkDeviceMemory", m->id) +
                               " is mapped by the application and the target device cannot import host memory");
        }
    }
    return Status::Ok();
}

namespace {

// Creates the driver device on `target` with what the application asked for.
Status CreateDriverDevice(DeviceData& d, DispatchableObject* target) {
    InstanceData& inst = *d.instance;
    auto pd = static_cast<VkPhysicalDevice>(target->driver);
    if (d.layer_create_device == nullptr) return Unsupported("the Vulkan loader gives layers no way to create a device again");
    GPUCR_RETURN_IF_ERROR(CheckTarget(d, target));
    std::vector<const char*> exts;
    for (const std::string& e : d.enabled_extensions) exts.push_back(e.c_str());
    std::vector<VkDeviceQueueCreateInfo> queues;
    for (const DeviceQueueRequest& q : d.queues) {
        queues.push_back({VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, q.flags, q.family,
                          static_cast<uint32_t>(q.priorities.size()), q.priorities.data()});
    }
    // The feature structs, linked again (copies: PrepareDeviceCreateInfo may edit them).
    std::vector<std::vector<uint8_t>> chain = d.feature_chain;
    void* next = nullptr;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        reinterpret_cast<VkBaseOutStructure*>(it->data())->pNext = static_cast<VkBaseOutStructure*>(next);
        next = it->data();
    }
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, next, d.enabled_features};
    VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    ci.pNext = d.features2 ? static_cast<void*>(&f2) : next;
    ci.queueCreateInfoCount = static_cast<uint32_t>(queues.size());
    ci.pQueueCreateInfos = queues.data();
    ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
    ci.ppEnabledExtensionNames = exts.data();
    ci.pEnabledFeatures = d.features2 ? nullptr : &d.enabled_features;
    Arena a;
    std::function<void()> restore;
    const VkDeviceCreateInfo* down = PrepareDeviceCreateInfo(inst, pd, &ci, a, &restore);
    VkDevice nd = VK_NULL_HANDLE;
    PFN_vkGetDeviceProcAddr gdpa = nullptr;
    VkResult r;
    {
        DriverPhysicalDeviceScope scope(&inst);
        r = d.layer_create_device(inst.instance, pd, down, nullptr, &nd, LayerGetInstanceProcAddr(), &gdpa);
    }
    if (r != VK_SUCCESS) return VkFailed("creating the device again", r);
    if (gdpa == nullptr) gdpa = d.next_gdpa;
    FillDeviceDispatch(&d.dispatch, gdpa, nd);
    d.driver = nd;
    if (d.wrapper != nullptr) d.wrapper->driver = nd;
    d.physical_device = target;
    InitDeviceCaps(d);
    return Status::Ok();
}

// The memory type on the new device for memory the application allocated with `properties`.
Result<uint32_t> ChooseType(const DeviceCaps& caps, VkMemoryPropertyFlags properties, uint32_t allowed, uint32_t old_index) {
    if (old_index < caps.memory.memoryTypeCount && (allowed & (1u << old_index)) &&
        caps.memory.memoryTypes[old_index].propertyFlags == properties) {
        return old_index;
    }
    for (uint32_t i = 0; i < caps.memory.memoryTypeCount; ++i) {
        if ((allowed & (1u << i)) && caps.memory.memoryTypes[i].propertyFlags == properties) return i;
    }
    for (uint32_t i = 0; i < caps.memory.memoryTypeCount; ++i) {
        if ((allowed & (1u << i)) && (caps.memory.memoryTypes[i].propertyFlags & properties) == properties) return i;
    }
    return Unsupported("no memory type with properties 0x" + fmt::format("{:x}", properties) + " on the target device");
}

class Creator {
public:
    Creator(DeviceData& d) : d_(d), k_(d.dispatch), dev_(d.driver), objs_(ByType(d)) {}

    Status Run(RecreateResult* out) {
        for (VkObjectType t : kCreationOrder) {
            for (const ObjectRef& r : objs_[t]) {
                GPUCR_RETURN_IF_ERROR(CreateOne(r));
                ++out->objects;
            }
        }
        GPUCR_RETURN_IF_ERROR(Queues());
        GPUCR_RETURN_IF_ERROR(Rerecord(out));
        if (!objs_[VK_OBJECT_TYPE_QUERY_POOL].empty()) out->notes.push_back("query results were not kept");
        return Status::Ok();
    }

private:
    Status CreateOne(const ObjectRef& r) {
        switch (r.type) {
            case VK_OBJECT_TYPE_SAMPLER: return Sampler_(As<Sampler>(r));
            case VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT: return SetLayout(As<DescriptorSetLayout>(r));
            case VK_OBJECT_TYPE_PIPELINE_LAYOUT: return PipelineLayout_(As<PipelineLayout>(r));
            case VK_OBJECT_TYPE_SHADER_MODULE: return Module(As<ShaderModule>(r));
            case VK_OBJECT_TYPE_PIPELINE_CACHE: return Cache(r.object());
            case VK_OBJECT_TYPE_PIPELINE: return Pipeline_(As<Pipeline>(r));
            case VK_OBJECT_TYPE_BUFFER: return Buffer_(As<Buffer>(r));
            case VK_OBJECT_TYPE_DEVICE_MEMORY: return Memory(As<DeviceMemory>(r));
            case VK_OBJECT_TYPE_BUFFER_VIEW: return View(As<BufferView>(r));
            case VK_OBJECT_TYPE_DESCRIPTOR_POOL: return Pool(As<DescriptorPool>(r));
            case VK_OBJECT_TYPE_DESCRIPTOR_SET: return DescSet(As<DescriptorSet>(r));
            case VK_OBJECT_TYPE_FENCE: return Fence_(As<Fence>(r));
            case VK_OBJECT_TYPE_SEMAPHORE: return Semaphore_(As<Semaphore>(r));
            case VK_OBJECT_TYPE_EVENT: return Event_(As<Event>(r));
            case VK_OBJECT_TYPE_QUERY_POOL: return QueryPool_(As<QueryPool>(r));
            case VK_OBJECT_TYPE_COMMAND_POOL: return CommandPool_(As<CommandPool>(r));
            case VK_OBJECT_TYPE_COMMAND_BUFFER:
                return CommandBuffer_(static_cast<CommandBuffer*>(r.dispatchable_object()));
            default: return Status::Ok();
        }
    }

    template <typename H>
    Status Set(Object* o, VkResult r, const H& h, const char* what) {  // h by reference: read after the call
        if (r != VK_SUCCESS) return VkFailed(std::string("creating ") + what + " #" + std::to_string(o->id) + " again", r);
        o->driver = reinterpret_cast<uint64_t>(h);
        return Status::Ok();
    }

    Status Sampler_(Sampler* s) {
        VkSampler h = VK_NULL_HANDLE;
        return Set(s, k_.CreateSampler(dev_, &s->info, nullptr, &h), h, "VkSampler");
    }

    Status SetLayout(DescriptorSetLayout* l) {
        std::vector<VkDescriptorSetLayoutBinding> bindings;
        for (const auto& [b, info] : l->bindings) bindings.push_back({b, info.type, info.count, info.stages, nullptr});
        VkDescriptorSetLayoutCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, nullptr, l->flags,
                                           static_cast<uint32_t>(bindings.size()), bindings.data()};
        VkDescriptorSetLayout h = VK_NULL_HANDLE;
        return Set(l, k_.CreateDescriptorSetLayout(dev_, &ci, nullptr, &h), h, "VkDescriptorSetLayout");
    }

    Status PipelineLayout_(PipelineLayout* l) {
        std::vector<VkDescriptorSetLayout> sets;
        for (uint64_t id : l->set_layouts) sets.push_back(DriverById<VkDescriptorSetLayout>(d_, id));
        VkPipelineLayoutCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, nullptr, 0,
                                      static_cast<uint32_t>(sets.size()), sets.data(),
                                      static_cast<uint32_t>(l->push_constant_ranges.size()),
                                      l->push_constant_ranges.data()};
        VkPipelineLayout h = VK_NULL_HANDLE;
        return Set(l, k_.CreatePipelineLayout(dev_, &ci, nullptr, &h), h, "VkPipelineLayout");
    }

    Result<VkShaderModule> NewModule(const std::vector<uint32_t>& code) {
        VkShaderModuleCreateInfo ci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, nullptr, 0, code.size() * 4, code.data()};
        VkShaderModule h = VK_NULL_HANDLE;
        if (VkResult r = k_.CreateShaderModule(dev_, &ci, nullptr, &h); r != VK_SUCCESS) return VkFailed("vkCreateShaderModule", r);
        return h;
    }

    Status Module(ShaderModule* m) {
        if (m->code == nullptr) return Unsupported(Named("VkShaderModule", m->id) + ": its SPIR-V is unknown");
        GPUCR_ASSIGN_OR_RETURN(VkShaderModule h, NewModule(*m->code));
        m->driver = reinterpret_cast<uint64_t>(h);
        return Status::Ok();
    }

    Status Cache(Object* o) {
        VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
        VkPipelineCache h = VK_NULL_HANDLE;
        return Set(o, k_.CreatePipelineCache(dev_, &ci, nullptr, &h), h, "VkPipelineCache");
    }

    // Compute pipelines, from their SPIR-V (the module may have been destroyed since).
    Status Pipeline_(Pipeline* p) {
        VkShaderModule module = DriverById<VkShaderModule>(d_, p->module);
        VkShaderModule temporary = VK_NULL_HANDLE;
        if (module == VK_NULL_HANDLE) {
            GPUCR_ASSIGN_OR_RETURN(temporary, NewModule(*p->code));
            module = temporary;
        }
        VkSpecializationInfo spec{static_cast<uint32_t>(p->specialization_map.size()), p->specialization_map.data(),
                                  p->specialization_data.size(), p->specialization_data.data()};
        VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
        ci.flags = p->flags & ~static_cast<VkPipelineCreateFlags>(VK_PIPELINE_CREATE_DERIVATIVE_BIT);
        ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_COMPUTE_BIT, module,
                    p->entry_point.c_str(), p->specialization_map.empty() ? nullptr : &spec};
        ci.layout = DriverById<VkPipelineLayout>(d_, p->layout);
        ci.basePipelineIndex = -1;
        VkPipeline h = VK_NULL_HANDLE;
        VkResult r = k_.CreateComputePipelines(dev_, VK_NULL_HANDLE, 1, &ci, nullptr, &h);
        if (temporary != VK_NULL_HANDLE) k_.DestroyShaderModule(dev_, temporary, nullptr);
        return Set(p, r, h, "VkPipeline");
    }

    Status Buffer_(Buffer* b) {
        VkBufferCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, nullptr, b->flags, b->size, b->usage};
        VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, nullptr,
                                             VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT};
        if (CapsOf(d_).host_import) ci.pNext = &ext;
        VkBuffer h = VK_NULL_HANDLE;
        return Set(b, k_.CreateBuffer(dev_, &ci, nullptr, &h), h, "VkBuffer");
    }

    // Memory: the type chosen again from the properties the application asked for; memory the
    // layer backs with its own host memory is imported again at the same address.
    Status Memory(DeviceMemory* m) {
        const DeviceCaps& caps = CapsOf(d_);
        uint32_t allowed = ~0u;
        std::vector<Buffer*> bound;
        for (const ObjectRef& r : objs_[VK_OBJECT_TYPE_BUFFER]) {
            auto* b = As<Buffer>(r);
            if (b->memory != m->id) continue;
            VkMemoryRequirements req{};
            k_.GetBufferMemoryRequirements(dev_, DriverOf<VkBuffer>(b), &req);
            if (b->memory_offset % req.alignment != 0 || b->memory_offset + req.size > std::max(m->size, m->host_size)) {
                return Unsupported(Named("VkBuffer", b->id) + " does not fit its memory on the target device (size " +
                                   std::to_string(req.size) + ", alignment " + std::to_string(req.alignment) + ")");
            }
            allowed &= req.memoryTypeBits;
            bound.push_back(b);
        }
        bool import = m->imported && m->host != nullptr && caps.host_import;
        VkMemoryHostPointerPropertiesEXT hp{VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
        if (import) {
            if (k_.GetMemoryHostPointerPropertiesEXT(dev_, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, m->host,
                                                     &hp) != VK_SUCCESS) {
                hp.memoryTypeBits = 0;
            }
            if ((hp.memoryTypeBits & allowed) == 0) import = false;
        }
        if (m->imported && m->app_maps.load() > 0 && !import) {
            return Unsupported(Named("VkDeviceMemory", m->id) +
                               " is mapped by the application and the target device cannot import its host memory");
        }
        GPUCR_ASSIGN_OR_RETURN(uint32_t type, ChooseType(caps, m->properties, import ? (allowed & hp.memoryTypeBits) : allowed,
                                                         m->type_index));
        VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, m->size, type};
        VkImportMemoryHostPointerInfoEXT imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT, nullptr,
                                             VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT, m->host};
        VkMemoryDedicatedAllocateInfo ded{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
        if (m->dedicated_buffer != 0) {
            ded.buffer = DriverById<VkBuffer>(d_, m->dedicated_buffer);
            ded.pNext = ai.pNext;
            ai.pNext = &ded;
        }
        if (import) {
            imp.pNext = ai.pNext;
            ai.pNext = &imp;
            ai.allocationSize = m->host_size;
        } else if (m->imported && m->host != nullptr) {
            // Backed by the layer before, by the driver now: the contents come from the image.
            munmap(m->host, m->host_size);
            m->host = nullptr;
            m->host_size = 0;
            m->imported = false;
        }
        VkDeviceMemory h = VK_NULL_HANDLE;
        GPUCR_RETURN_IF_ERROR(Set(m, k_.AllocateMemory(dev_, &ai, nullptr, &h), h, "VkDeviceMemory"));
        m->type_index = type;
        if (!import && (caps.memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
            void* p = nullptr;
            if (k_.MapMemory(dev_, h, 0, VK_WHOLE_SIZE, 0, &p) == VK_SUCCESS) m->host = static_cast<uint8_t*>(p);
        }
        for (Buffer* b : bound) {
            if (VkResult r = k_.BindBufferMemory(dev_, DriverOf<VkBuffer>(b), h, b->memory_offset); r != VK_SUCCESS) {
                return VkFailed("binding " + Named("VkBuffer", b->id) + " again", r);
            }
        }
        return Status::Ok();
    }

    Status View(BufferView* v) {
        VkBufferViewCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO, nullptr, 0,
                                  DriverById<VkBuffer>(d_, v->buffer), v->format, v->offset, v->range};
        VkBufferView h = VK_NULL_HANDLE;
        return Set(v, k_.CreateBufferView(dev_, &ci, nullptr, &h), h, "VkBufferView");
    }

    Status Pool(DescriptorPool* p) {
        VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, nullptr, p->flags, p->max_sets,
                                      static_cast<uint32_t>(p->sizes.size()), p->sizes.data()};
        VkDescriptorPool h = VK_NULL_HANDLE;
        return Set(p, k_.CreateDescriptorPool(dev_, &ci, nullptr, &h), h, "VkDescriptorPool");
    }

    // Allocated from its pool again, then every descriptor the application wrote.
    Status DescSet(DescriptorSet* s) {
        VkDescriptorSetLayout layout = DriverById<VkDescriptorSetLayout>(d_, s->layout);
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                       DriverById<VkDescriptorPool>(d_, s->parent_id), 1, &layout};
        VkDescriptorSet h = VK_NULL_HANDLE;
        GPUCR_RETURN_IF_ERROR(Set(s, k_.AllocateDescriptorSets(dev_, &ai, &h), h, "VkDescriptorSet"));
        std::lock_guard lock(s->mu);
        std::vector<VkWriteDescriptorSet> writes;
        std::vector<VkDescriptorBufferInfo> buffers;
        std::vector<VkDescriptorImageInfo> images;
        std::vector<VkBufferView> views;
        size_t n = 0;
        for (const auto& [binding, slots] : s->bindings) n += slots.size();
        buffers.reserve(n);
        images.reserve(n);
        views.reserve(n);
        for (const auto& [binding, slots] : s->bindings) {
            for (size_t e = 0; e < slots.size(); ++e) {
                const Descriptor& dsc = slots[e];
                if (dsc.type == VK_DESCRIPTOR_TYPE_MAX_ENUM) continue;
                VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, nullptr, h, binding,
                                       static_cast<uint32_t>(e), 1, dsc.type};
                switch (dsc.type) {
                    case VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER:
                    case VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER:
                        views.push_back(DriverById<VkBufferView>(d_, dsc.view));
                        w.pTexelBufferView = &views.back();
                        break;
                    case VK_DESCRIPTOR_TYPE_SAMPLER:
                        images.push_back({DriverById<VkSampler>(d_, dsc.sampler), VK_NULL_HANDLE, dsc.layout});
                        w.pImageInfo = &images.back();
                        break;
                    case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER:
                    case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER:
                    case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC:
                    case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC:
                        buffers.push_back({DriverById<VkBuffer>(d_, dsc.buffer), dsc.offset, dsc.range});
                        w.pBufferInfo = &buffers.back();
                        break;
                    default:
                        return Unsupported(Named("VkDescriptorSet", s->id) + " holds an image descriptor");
                }
                // A descriptor of a destroyed object is never used again: leave it unwritten.
                if ((w.pBufferInfo && w.pBufferInfo->buffer == VK_NULL_HANDLE) ||
                    (w.pTexelBufferView && *w.pTexelBufferView == VK_NULL_HANDLE) ||
                    (w.pImageInfo && w.pImageInfo->sampler == VK_NULL_HANDLE)) {
                    continue;
                }
                writes.push_back(w);
            }
        }
        if (!writes.empty()) k_.UpdateDescriptorSets(dev_, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
        return Status::Ok();
    }

    Status Fence_(Fence* f) {
        VkFenceCreateInfo ci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, nullptr,
                             f->signaled_at_suspend ? VK_FENCE_CREATE_SIGNALED_BIT : 0u};
        VkFence h = VK_NULL_HANDLE;
        return Set(f, k_.CreateFence(dev_, &ci, nullptr, &h), h, "VkFence");
    }

    Status Semaphore_(Semaphore* s) {
        VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr, s->semaphore_type,
                                       s->value_at_suspend};
        VkSemaphoreCreateInfo ci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
                                 s->semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE ? &type : nullptr, 0};
        VkSemaphore h = VK_NULL_HANDLE;
        return Set(s, k_.CreateSemaphore(dev_, &ci, nullptr, &h), h, "VkSemaphore");
    }

    Status Event_(Event* e) {
        VkEventCreateInfo ci{VK_STRUCTURE_TYPE_EVENT_CREATE_INFO};
        VkEvent h = VK_NULL_HANDLE;
        GPUCR_RETURN_IF_ERROR(Set(e, k_.CreateEvent(dev_, &ci, nullptr, &h), h, "VkEvent"));
        if (e->set_at_suspend) k_.SetEvent(dev_, h);
        return Status::Ok();
    }

    Status QueryPool_(QueryPool* q) {
        VkQueryPoolCreateInfo ci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, nullptr, 0, q->query_type, q->query_count,
                                 q->pipeline_statistics};
        VkQueryPool h = VK_NULL_HANDLE;
        return Set(q, k_.CreateQueryPool(dev_, &ci, nullptr, &h), h, "VkQueryPool");
    }

    Status CommandPool_(CommandPool* p) {
        VkCommandPoolCreateInfo ci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, nullptr, p->flags, p->queue_family};
        VkCommandPool h = VK_NULL_HANDLE;
        return Set(p, k_.CreateCommandPool(dev_, &ci, nullptr, &h), h, "VkCommandPool");
    }

    Status CommandBuffer_(CommandBuffer* cb) {
        VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, nullptr,
                                       DriverById<VkCommandPool>(d_, cb->parent_id), cb->level, 1};
        VkCommandBuffer h = VK_NULL_HANDLE;
        if (VkResult r = k_.AllocateCommandBuffers(dev_, &ai, &h); r != VK_SUCCESS) {
            return VkFailed("allocating " + Named("VkCommandBuffer", cb->id) + " again", r);
        }
        if (d_.set_loader_data != nullptr) d_.set_loader_data(dev_, h);
        cb->driver = h;
        return Status::Ok();
    }

    Status Queues() {
        for (const ObjectRef& r : objs_[VK_OBJECT_TYPE_QUEUE]) {
            auto* q = static_cast<Queue*>(r.dispatchable_object());
            VkQueue h = VK_NULL_HANDLE;
            if (q->flags != 0 && k_.GetDeviceQueue2 != nullptr) {
                VkDeviceQueueInfo2 qi{VK_STRUCTURE_TYPE_DEVICE_QUEUE_INFO_2, nullptr, q->flags, q->family, q->index};
                k_.GetDeviceQueue2(dev_, &qi, &h);
            } else {
                k_.GetDeviceQueue(dev_, q->family, q->index, &h);
            }
            if (h == VK_NULL_HANDLE) return Internal("queue family " + std::to_string(q->family) + " index " +
                                                     std::to_string(q->index) + " is missing on the new device");
            if (d_.set_loader_data != nullptr) d_.set_loader_data(dev_, h);
            d_.objects.UpdateRetrieved(q->id, 0, reinterpret_cast<uint64_t>(h));
            q->driver = h;
        }
        return Status::Ok();
    }

    // Secondary command buffers first: primaries execute them.
    Status Rerecord(RecreateResult* out) {
        for (VkCommandBufferLevel level : {VK_COMMAND_BUFFER_LEVEL_SECONDARY, VK_COMMAND_BUFFER_LEVEL_PRIMARY}) {
            for (const ObjectRef& r : objs_[VK_OBJECT_TYPE_COMMAND_BUFFER]) {
                auto* cb = static_cast<CommandBuffer*>(r.dispatchable_object());
                if (cb->level != level || StateOf(*cb) == CommandBufferState::kInitial) continue;
                ReplayCheck check = CheckReplayable(*cb, d_.objects);
                if (!check.ok) {  // invalid (uses a destroyed object): stays in the initial state
                    if (check.invalid) ResetLog(*cb);
                    continue;
                }
                if (VkResult res = ReplayCommandBuffer(*cb); res != VK_SUCCESS) {
                    return VkFailed("recording " + Named("VkCommandBuffer", cb->id) + " again", res);
                }
                ++out->command_buffers_rerecorded;
            }
        }
        return Status::Ok();
    }

    DeviceData& d_;
    DeviceDispatch& k_;
    VkDevice dev_;
    std::map<VkObjectType, std::vector<ObjectRef>> objs_;
};

}  // namespace

Result<RecreateResult> Recreate(DeviceData& d, DispatchableObject* target) {
    GPUCR_RETURN_IF_ERROR(CreateDriverDevice(d, target));
    RecreateResult out;
    Status s = Creator(d).Run(&out);
    if (!s.ok()) {
        DestroyDriverObjects(d, nullptr);
        ReleaseDriverDevice(d);
        return s;
    }
    return out;
}

}  // namespace gpucr::vk
