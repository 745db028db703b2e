#include "layers/opencl/describe.h"

#include <mutex>

#include "backends/opencl/cl_checkpoint.h"
#include "backends/opencl/cl_recreate.h"
#include "dag/agent.h"
#include "layers/opencl/object_table.h"
#include "layers/opencl/object_types.h"

namespace gpucr::cl {
namespace {

using nlohmann::json;

json Bytes(const std::vector<uint8_t>& v) { return json::binary(v); }

template <typename T>
json List(const std::vector<T>& v) {
    json a = json::array();
    for (const T& x : v) a.push_back(static_cast<int64_t>(x));
    return a;
}

void DescribeDevice(const Device& d, json& j) {
    j["name"] = d.name;
    j["device_type"] = d.device_type;
    j["parent"] = d.parent;
    if (!d.partition.empty()) j["partition"] = List(d.partition);
    if (!d.partition_ext.empty()) j["partition_ext"] = List(d.partition_ext);
    if (d.parent != 0) j["partition_index"] = d.partition_index;
}

void DescribeContext(const Context& c, json& j) {
    j["devices"] = c.devices;
    j["properties"] = List(c.properties);
    j["from_type"] = c.from_type;
    if (c.from_type) j["device_type"] = c.device_type;
}

void DescribeQueue(const CommandQueue& q, json& j) {
    j["device"] = q.device;
    j["properties"] = q.properties;
    j["with_properties"] = q.with_properties;
    j["property_list"] = List(q.property_list);
}

void DescribeMem(const Mem& m, json& j) {
    j["kind"] = MemKindName(m.kind);
    j["flags"] = m.flags;
    j["size"] = m.size;
    j["host_ptr"] = reinterpret_cast<uintptr_t>(m.host_ptr);
    j["with_properties"] = m.with_properties;
    j["properties"] = List(m.properties);
    j["parent"] = m.parent;
    if (m.kind == MemKind::kSubBuffer) {
        j["create_type"] = m.create_type;
        j["region"] = {{"origin", m.region.origin}, {"size", m.region.size}};
    }
    if (m.kind == MemKind::kImage) {
        const cl_image_desc& d = m.image_desc;
        j["format"] = {{"order", m.image_format.image_channel_order}, {"type", m.image_format.image_channel_data_type}};
        j["desc"] = {{"type", d.image_type},
                     {"width", d.image_width},
                     {"height", d.image_height},
                     {"depth", d.image_depth},
                     {"array_size", d.image_array_size},
                     {"row_pitch", d.image_row_pitch},
                     {"slice_pitch", d.image_slice_pitch},
                     {"mip_levels", d.num_mip_levels},
                     {"samples", d.num_samples}};
    }
    if (m.kind == MemKind::kPipe)
        j["pipe"] = {{"packet_size", m.pipe_packet_size}, {"max_packets", m.pipe_max_packets}};
}

void DescribeSampler(const Sampler& s, json& j) {
    j["normalized_coords"] = s.normalized_coords != CL_FALSE;
    j["addressing_mode"] = s.addressing_mode;
    j["filter_mode"] = s.filter_mode;
    j["with_properties"] = s.with_properties;
    j["properties"] = List(s.properties);
}

void DescribeProgram(const Program& p, json& j) {
    j["origin"] = ProgramOriginName(p.origin);
    if (p.origin == ProgramOrigin::kSource) j["source"] = p.source;
    if (p.origin == ProgramOrigin::kIL) j["il_size"] = p.il.size();
    if (p.origin == ProgramOrigin::kBuiltInKernels) j["kernel_names"] = p.kernel_names;
    json bins = json::object();
    for (const auto& [dev, bin] : p.binaries) bins[std::to_string(dev)] = bin.size();
    j["binary_sizes"] = bins;
    j["devices"] = p.devices;
    j["inputs"] = p.inputs;
    json builds = json::object();
    for (const auto& [dev, b] : p.builds) {
        builds[std::to_string(dev)] = {{"kind", b.kind},       {"app_options", b.app_options},   {"options", b.options},
                                       {"headers", b.headers}, {"header_names", b.header_names}, {"result", b.result}};
    }
    j["builds"] = builds;
    j["arg_info_added"] = p.arg_info_added;
    json spec = json::object();
    for (const auto& [id, bytes] : p.spec_constants) spec[std::to_string(id)] = Bytes(bytes);
    j["spec_constants"] = spec;
}

void DescribeKernel(const Kernel& k, json& j) {
    j["program"] = k.program;
    j["name"] = k.name;
    j["cloned_from"] = k.cloned_from;
    json args = json::array();
    for (size_t i = 0; i < k.args.size(); ++i) {
        const KernelArg& a = k.args[i];
        json arg = {{"kind", KernelArgKindName(a.kind)}, {"size", a.size}};
        if (a.kind == KernelArg::Kind::kValue) arg["value"] = Bytes(a.value);
        if (a.kind == KernelArg::Kind::kMem || a.kind == KernelArg::Kind::kSampler ||
            a.kind == KernelArg::Kind::kHandle) {
            arg["object"] = a.object;
        }
        if (a.kind == KernelArg::Kind::kSvm) arg["svm"] = reinterpret_cast<uintptr_t>(a.svm);
        if (i < k.arg_info.size() && k.arg_info[i].known) {
            const KernelArgInfo& info = k.arg_info[i];
            arg["info"] = {{"address", info.address},
                           {"access", info.access},
                           {"type_name", info.type_name},
                           {"type_qualifier", info.type_qualifier},
                           {"name", info.name}};
        }
        args.push_back(std::move(arg));
    }
    j["args"] = args;
}

void DescribeEvent(const Event& e, json& j) {
    j["queue"] = e.queue;
    j["command"] = e.command;
    j["user"] = e.user;
    if (e.user) j["user_status"] = e.user_status;
}

}  // namespace

const char* MemKindName(MemKind kind) {
    switch (kind) {
        case MemKind::kBuffer:
            return "buffer";
        case MemKind::kSubBuffer:
            return "sub-buffer";
        case MemKind::kImage:
            return "image";
        case MemKind::kPipe:
            return "pipe";
        case MemKind::kOther:
            return "other";
    }
    return "?";
}

const char* ProgramOriginName(ProgramOrigin origin) {
    switch (origin) {
        case ProgramOrigin::kSource:
            return "source";
        case ProgramOrigin::kIL:
            return "il";
        case ProgramOrigin::kBinary:
            return "binary";
        case ProgramOrigin::kBuiltInKernels:
            return "built-in";
        case ProgramOrigin::kLinked:
            return "linked";
    }
    return "?";
}

const char* KernelArgKindName(KernelArg::Kind kind) {
    switch (kind) {
        case KernelArg::Kind::kUnset:
            return "unset";
        case KernelArg::Kind::kValue:
            return "value";
        case KernelArg::Kind::kLocal:
            return "local";
        case KernelArg::Kind::kMem:
            return "mem";
        case KernelArg::Kind::kSampler:
            return "sampler";
        case KernelArg::Kind::kHandle:
            return "handle";
        case KernelArg::Kind::kSvm:
            return "svm";
    }
    return "?";
}

json Describe(const Object& o) {
    std::lock_guard lock(o.mu);
    json j = {{"type", TypeName(o.type)},
              {"id", o.id},
              {"created_by", o.created_by},
              {"refs", o.refs.load()},
              {"app_refs", o.app_refs.load()},
              {"permanent", o.permanent},
              {"platform", o.platform != nullptr ? o.platform->id : 0},
              {"context", o.context != nullptr ? o.context->id : 0}};
    if (!o.unsupported.empty()) j["unsupported"] = o.unsupported;
    switch (o.type) {
        case ObjectType::kPlatform:
            j["name"] = static_cast<const Platform&>(o).name;
            break;
        case ObjectType::kDevice:
            DescribeDevice(static_cast<const Device&>(o), j);
            break;
        case ObjectType::kContext:
            DescribeContext(static_cast<const Context&>(o), j);
            break;
        case ObjectType::kCommandQueue:
            DescribeQueue(static_cast<const CommandQueue&>(o), j);
            break;
        case ObjectType::kMem:
            DescribeMem(static_cast<const Mem&>(o), j);
            break;
        case ObjectType::kSampler:
            DescribeSampler(static_cast<const Sampler&>(o), j);
            break;
        case ObjectType::kProgram:
            DescribeProgram(static_cast<const Program&>(o), j);
            break;
        case ObjectType::kKernel:
            DescribeKernel(static_cast<const Kernel&>(o), j);
            break;
        case ObjectType::kEvent:
            DescribeEvent(static_cast<const Event&>(o), j);
            break;
    }
    return j;
}

json DescribeProcess() {
    json devices = json::array();
    uint64_t objects = 0, resources = 0, bytes = 0;
    ObjectTable::Get().ForEach([&](const Object& o) {
        ++objects;
        if (o.type == ObjectType::kDevice && static_cast<const Device&>(o).parent == 0) {
            devices.push_back(static_cast<const Device&>(o).name);
        }
        if (o.type == ObjectType::kMem) {
            const auto& m = static_cast<const Mem&>(o);
            ++resources;
            if (m.kind != MemKind::kSubBuffer) bytes += m.size;
        }
    });
    // What `gpucr resume/migrate --device N` can name: N indexes this list.
    json targets = json::array();
    for (const TargetDevice& t : AllDevices()) targets.push_back(t.platform_name + " / " + t.device_name);
    return {{"devices", devices},
            {"targets", targets},
            {"objects", objects},
            {"resources", resources},
            {"bytes", bytes},
            {"not_capturable", NotCapturableReasons()}};
}

void RegisterAgentProvider() {
    agent::Provider p;
    p.api = "opencl";
    p.describe = [] { return DescribeProcess(); };
    p.dump = [](image::ImageWriter& writer, const nlohmann::json& request, const agent::ProgressFn& progress) {
        return OpenClCheckpoint::Get().Dump(writer, request, progress);
    };
    p.suspend = [](image::ImageWriter& writer, const nlohmann::json& request, const agent::ProgressFn& progress) {
        return OpenClCheckpoint::Get().Suspend(writer, request, progress);
    };
    p.resume = [](const image::ImageReader& reader, const nlohmann::json& section, const nlohmann::json& request,
                  const agent::ProgressFn& progress) {
        return OpenClCheckpoint::Get().Resume(reader, section, request, progress);
    };
    p.suspended = [] { return OpenClCheckpoint::Get().suspended(); };
    p.release = [] { return OpenClCheckpoint::Get().Release(); };
    p.cancel = [] { OpenClCheckpoint::Get().CancelSuspend(); };
    agent::RegisterProvider(std::move(p));
}

}  // namespace gpucr::cl
