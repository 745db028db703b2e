#include "backends/vulkan/vk_describe.h"

#include <cstdio>

#include "layers/vulkan/instance_data.h"
#include "layers/vulkan/object_types.h"

namespace gpucr::vk {
namespace {

using nlohmann::json;

std::string Hex(const uint8_t* p, size_t n) {
    std::string s;
    char buf[3];
    for (size_t i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof(buf), "%02x", p[i]);
        s += buf;
    }
    return s;
}

void Dep(json& deps, uint64_t id, const char* reason) {
    if (id != 0) deps.push_back({{"id", id}, {"reason", reason}});
}

json DescribeTyped(Object* o, json& deps,
                   std::map<uint64_t, std::shared_ptr<const std::vector<uint32_t>>>* code) {
    switch (o->type) {
        case VK_OBJECT_TYPE_DEVICE_MEMORY: {
            auto* m = static_cast<DeviceMemory*>(o);
            Dep(deps, m->dedicated_buffer, "dedicated to buffer");
            Dep(deps, m->dedicated_image, "dedicated to image");
            return {{"allocation_size", m->size}, {"memory_type_index", m->type_index},
                    {"property_flags", m->properties}, {"imported_host_memory", m->imported},
                    {"mapped", m->app_maps.load() > 0}, {"map_offset", m->map_offset}, {"map_size", m->map_size}};
        }
        case VK_OBJECT_TYPE_BUFFER: {
            auto* b = static_cast<Buffer*>(o);
            Dep(deps, b->memory, "bound to memory");
            return {{"size", b->size}, {"usage", b->usage}, {"flags", b->flags}, {"memory", b->memory},
                    {"memory_offset", b->memory_offset}};
        }
        case VK_OBJECT_TYPE_BUFFER_VIEW: {
            auto* v = static_cast<BufferView*>(o);
            Dep(deps, v->buffer, "views buffer");
            return {{"buffer", v->buffer}, {"format", v->format}, {"offset", v->offset}, {"range", v->range}};
        }
        case VK_OBJECT_TYPE_IMAGE: {
            auto* i = static_cast<Image*>(o);
            Dep(deps, i->memory, "bound to memory");
            const auto& c = i->info;
            return {{"image_type", c.imageType},  {"format", c.format},
                    {"extent", {c.extent.width, c.extent.height, c.extent.depth}},
                    {"mip_levels", c.mipLevels},  {"array_layers", c.arrayLayers},
                    {"samples", c.samples},       {"tiling", c.tiling},
                    {"usage", c.usage},           {"flags", c.flags},
                    {"memory", i->memory},        {"memory_offset", i->memory_offset},
                    {"memory_size", i->memory_size}};
        }
        case VK_OBJECT_TYPE_IMAGE_VIEW: {
            auto* v = static_cast<ImageView*>(o);
            Dep(deps, v->image, "views image");
            return {{"image", v->image}, {"view_type", v->view_type}, {"format", v->format}};
        }
        case VK_OBJECT_TYPE_SHADER_MODULE: {
            auto* m = static_cast<ShaderModule*>(o);
            if (m->code && code) (*code)[m->id] = m->code;
            json eps = json::array();
            for (const auto& iface : m->interfaces) eps.push_back(iface.entry_point);
            return {{"code_bytes", m->code ? m->code->size() * 4 : 0}, {"entry_points", eps}, {"reflected", m->reflected}};
        }
        case VK_OBJECT_TYPE_PIPELINE_LAYOUT: {
            auto* l = static_cast<PipelineLayout*>(o);
            for (uint64_t s : l->set_layouts) Dep(deps, s, "set layout");
            json pcs = json::array();
            for (const auto& r : l->push_constant_ranges) pcs.push_back({r.stageFlags, r.offset, r.size});
            return {{"set_layouts", l->set_layouts}, {"push_constant_ranges", pcs}};
        }
        case VK_OBJECT_TYPE_PIPELINE: {
            auto* p = static_cast<Pipeline*>(o);
            Dep(deps, p->module, "shader module");
            Dep(deps, p->layout, "pipeline layout");
            if (p->code && code) (*code)[p->id] = p->code;  // the module may be destroyed already
            json bindings = json::array();
            if (p->interface) {
                for (const auto& b : p->interface->bindings) {
                    bindings.push_back({{"set", b.set}, {"binding", b.binding}, {"kind", ShaderBindingKindName(b.kind)},
                                        {"reads", b.reads}, {"writes", b.writes}});
                }
            }
            return {{"bind_point", p->bind_point}, {"module", p->module}, {"layout", p->layout},
                    {"entry_point", p->entry_point}, {"flags", p->flags}, {"reflected", p->interface.has_value()},
                    {"bindings", bindings}, {"specialization_bytes", p->specialization_data.size()}};
        }
        case VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT: {
            auto* l = static_cast<DescriptorSetLayout*>(o);
            json b = json::array();
            for (const auto& [n, lb] : l->bindings) b.push_back({{"binding", n}, {"type", lb.type}, {"count", lb.count}, {"stages", lb.stages}});
            return {{"bindings", b}, {"flags", l->flags}};
        }
        case VK_OBJECT_TYPE_DESCRIPTOR_POOL: {
            auto* p = static_cast<DescriptorPool*>(o);
            json sizes = json::array();
            for (const auto& s : p->sizes) sizes.push_back({s.type, s.descriptorCount});
            return {{"flags", p->flags}, {"max_sets", p->max_sets}, {"sizes", sizes}};
        }
        case VK_OBJECT_TYPE_DESCRIPTOR_SET: {
            auto* s = static_cast<DescriptorSet*>(o);
            Dep(deps, s->layout, "layout");
            Dep(deps, s->parent_id, "allocated from pool");
            json b = json::array();
            std::lock_guard lock(s->mu);
            for (const auto& [n, descs] : s->bindings) {
                for (size_t e = 0; e < descs.size(); ++e) {
                    const Descriptor& d = descs[e];
                    Dep(deps, d.buffer, "descriptor");
                    Dep(deps, d.view, "descriptor");
                    Dep(deps, d.sampler, "descriptor");
                    b.push_back({{"binding", n}, {"element", e}, {"type", d.type}, {"buffer", d.buffer},
                                 {"offset", d.offset}, {"range", d.range}, {"image", d.image}, {"view", d.view},
                                 {"sampler", d.sampler}, {"layout", d.layout}});
                }
            }
            return {{"layout", s->layout}, {"pool", s->parent_id}, {"writes", b}, {"opaque", s->opaque}};
        }
        case VK_OBJECT_TYPE_COMMAND_POOL: {
            auto* p = static_cast<CommandPool*>(o);
            return {{"queue_family", p->queue_family}, {"flags", p->flags}};
        }
        case VK_OBJECT_TYPE_FENCE:
            return {{"flags", static_cast<Fence*>(o)->flags}};
        case VK_OBJECT_TYPE_SEMAPHORE: {
            auto* s = static_cast<Semaphore*>(o);
            return {{"semaphore_type", s->semaphore_type}, {"initial_value", s->initial_value}};
        }
        case VK_OBJECT_TYPE_QUERY_POOL: {
            auto* q = static_cast<QueryPool*>(o);
            return {{"query_type", q->query_type}, {"query_count", q->query_count}};
        }
        case VK_OBJECT_TYPE_SAMPLER: {
            auto* s = static_cast<Sampler*>(o);
            return {{"mag_filter", s->info.magFilter}, {"min_filter", s->info.minFilter},
                    {"address_mode_u", s->info.addressModeU}};
        }
        default:
            return json::object();
    }
}

}  // namespace

const char* ObjectTypeName(VkObjectType type) {
    switch (type) {
        case VK_OBJECT_TYPE_INSTANCE: return "VkInstance";
        case VK_OBJECT_TYPE_PHYSICAL_DEVICE: return "VkPhysicalDevice";
        case VK_OBJECT_TYPE_DEVICE: return "VkDevice";
        case VK_OBJECT_TYPE_QUEUE: return "VkQueue";
        case VK_OBJECT_TYPE_SEMAPHORE: return "VkSemaphore";
        case VK_OBJECT_TYPE_COMMAND_BUFFER: return "VkCommandBuffer";
        case VK_OBJECT_TYPE_FENCE: return "VkFence";
        case VK_OBJECT_TYPE_DEVICE_MEMORY: return "VkDeviceMemory";
        case VK_OBJECT_TYPE_BUFFER: return "VkBuffer";
        case VK_OBJECT_TYPE_IMAGE: return "VkImage";
        case VK_OBJECT_TYPE_EVENT: return "VkEvent";
        case VK_OBJECT_TYPE_QUERY_POOL: return "VkQueryPool";
        case VK_OBJECT_TYPE_BUFFER_VIEW: return "VkBufferView";
        case VK_OBJECT_TYPE_IMAGE_VIEW: return "VkImageView";
        case VK_OBJECT_TYPE_SHADER_MODULE: return "VkShaderModule";
        case VK_OBJECT_TYPE_PIPELINE_CACHE: return "VkPipelineCache";
        case VK_OBJECT_TYPE_PIPELINE_LAYOUT: return "VkPipelineLayout";
        case VK_OBJECT_TYPE_PIPELINE: return "VkPipeline";
        case VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT: return "VkDescriptorSetLayout";
        case VK_OBJECT_TYPE_SAMPLER: return "VkSampler";
        case VK_OBJECT_TYPE_DESCRIPTOR_POOL: return "VkDescriptorPool";
        case VK_OBJECT_TYPE_DESCRIPTOR_SET: return "VkDescriptorSet";
        case VK_OBJECT_TYPE_COMMAND_POOL: return "VkCommandPool";
        case VK_OBJECT_TYPE_DESCRIPTOR_UPDATE_TEMPLATE: return "VkDescriptorUpdateTemplate";
        default: return "VkObject";
    }
}

json DescribeDevice(DeviceData& device) {
    json d{{"id", device.wrapper ? device.wrapper->id : 0}};
    InstanceData* inst = device.instance;
    if (inst == nullptr || device.physical_device == nullptr) return d;
    auto pd = static_cast<VkPhysicalDevice>(device.physical_device->driver);
    VkPhysicalDeviceIDProperties idp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &idp};
    auto get2 = inst->dispatch.GetPhysicalDeviceProperties2 ? inst->dispatch.GetPhysicalDeviceProperties2
                                                             : inst->dispatch.GetPhysicalDeviceProperties2KHR;
    if (get2 != nullptr) {
        get2(pd, &p2);
        d["uuid"] = Hex(idp.deviceUUID, VK_UUID_SIZE);
        d["driver_uuid"] = Hex(idp.driverUUID, VK_UUID_SIZE);
    } else {
        inst->dispatch.GetPhysicalDeviceProperties(pd, &p2.properties);
    }
    const auto& p = p2.properties;
    d["name"] = p.deviceName;
    d["vendor_id"] = p.vendorID;
    d["device_id"] = p.deviceID;
    d["driver_version"] = p.driverVersion;
    d["api_version"] = p.apiVersion;
    d["physical_device"] = device.physical_device->id;
    d["extensions"] = device.enabled_extensions;
    json queues = json::array();
    for (const auto& q : device.queues) queues.push_back({{"family", q.family}, {"count", q.priorities.size()}, {"flags", q.flags}});
    d["queues"] = queues;
    return d;
}

json DescribeObject(DeviceData& device, const ObjectRef& ref,
                    std::map<uint64_t, std::shared_ptr<const std::vector<uint32_t>>>* code) {
    json deps = json::array();
    json create = json::object();
    if (ref.dispatchable) {
        DispatchableObject* d = ref.dispatchable_object();
        if (d->type == VK_OBJECT_TYPE_QUEUE) {
            auto* q = static_cast<Queue*>(d);
            create = {{"family", q->family}, {"index", q->index}, {"flags", q->flags}};
        } else if (d->type == VK_OBJECT_TYPE_COMMAND_BUFFER) {
            auto* cb = static_cast<CommandBuffer*>(d);
            Dep(deps, cb->parent_id, "allocated from pool");
            create = {{"level", cb->level}, {"commands", cb->commands.size()}, {"modelled", !cb->unmodeled}};
        }
    } else {
        create = DescribeTyped(ref.object(), deps, code);
    }
    return {{"id", ref.id},
            {"type", ObjectTypeName(ref.type)},
            {"device", device.wrapper ? device.wrapper->id : 0},
            {"create", create},
            {"deps", deps}};
}

}  // namespace gpucr::vk
