#include "backends/opencl/cl_access.h"

#include <utility>

#include "layers/opencl/object_table.h"

namespace gpucr::cl {
namespace {

// What ResolveMem needs of a memory object, copied under the table's lock. These fields are set
// when the object is created, before the application sees its handle, and never change.
struct MemFacts {
    MemKind kind = MemKind::kOther;
    cl_mem_flags flags = 0;
    uint64_t size = 0;
    uint64_t parent = 0;
    uint64_t origin = 0;  // sub-buffer
};

std::optional<MemFacts> FactsOf(uint64_t id) {
    if (id == 0) return std::nullopt;
    std::optional<MemFacts> out;
    ObjectTable::Get().WithId(id, [&](const Object& o) {
        if (o.type != ObjectType::kMem) return;
        const Mem& m = static_cast<const Mem&>(o);
        out = MemFacts{m.kind, m.flags, m.size, m.parent, m.region.origin};
    });
    return out;
}

std::optional<MemRange> Resolve(uint64_t mem_id, uint64_t offset, uint64_t size, int depth) {
    std::optional<MemFacts> m = FactsOf(mem_id);
    if (!m || depth > 2) return std::nullopt;
    if (m->kind == MemKind::kSubBuffer && m->parent != 0) {
        if (size == dag::kWholeSize) size = m->size > offset ? m->size - offset : 0;
        return Resolve(m->parent, m->origin + offset, size, depth + 1);
    }
    if (m->kind != MemKind::kBuffer && m->parent != 0) {
        return Resolve(m->parent, 0, dag::kWholeSize, depth + 1);  // an image over a buffer
    }
    MemRange r{.resource = mem_id, .host_backed = (m->flags & CL_MEM_USE_HOST_PTR) != 0};
    if (m->kind == MemKind::kBuffer) {
        r.offset = offset;
        r.size = size != dag::kWholeSize ? size : (m->size > offset ? m->size - offset : 0);
    } else {
        r.size = m->size != 0 ? m->size : dag::kWholeSize;  // images, pipes: the whole object
    }
    return r;
}

}  // namespace

std::optional<MemRange> ResolveMem(uint64_t mem_id, uint64_t offset, uint64_t size) {
    return Resolve(mem_id, offset, size, 0);
}

Span RectSpan(const size_t* origin, const size_t* region, size_t row_pitch, size_t slice_pitch) {
    if (origin == nullptr || region == nullptr || region[0] == 0 || region[1] == 0 || region[2] == 0) return {};
    if (row_pitch == 0) row_pitch = region[0];
    if (slice_pitch == 0) slice_pitch = region[1] * row_pitch;
    uint64_t first = origin[2] * slice_pitch + origin[1] * row_pitch + origin[0];
    uint64_t last = first + (region[2] - 1) * slice_pitch + (region[1] - 1) * row_pitch + region[0];
    return {first, last - first};
}

size_t ImageElementSize(const cl_image_format& f) {
    size_t channels = 0;
    switch (f.image_channel_order) {
        case CL_R:
        case CL_A:
        case CL_INTENSITY:
        case CL_LUMINANCE:
        case CL_DEPTH:
            channels = 1;
            break;
        case CL_RG:
        case CL_RA:
        case CL_Rx:
            channels = 2;
            break;
        case CL_RGB:
        case CL_RGx:
            channels = 3;
            break;
        case CL_RGBA:
        case CL_BGRA:
        case CL_ARGB:
        case CL_ABGR:
        case CL_RGBx:
        case CL_sRGBA:
        case CL_sBGRA:
            channels = 4;
            break;
        default:
            return 0;
    }
    switch (f.image_channel_data_type) {
        case CL_SNORM_INT8:
        case CL_UNORM_INT8:
        case CL_SIGNED_INT8:
        case CL_UNSIGNED_INT8:
            return channels;
        case CL_SNORM_INT16:
        case CL_UNORM_INT16:
        case CL_SIGNED_INT16:
        case CL_UNSIGNED_INT16:
        case CL_HALF_FLOAT:
            return 2 * channels;
        case CL_SIGNED_INT32:
        case CL_UNSIGNED_INT32:
        case CL_FLOAT:
            return 4 * channels;
        case CL_UNORM_SHORT_565:
        case CL_UNORM_SHORT_555:
            return 2;
        case CL_UNORM_INT_101010:
            return 4;
        default:
            return 0;
    }
}

ArgAccess ArgAccessOf(const KernelArgInfo* info) {
    using dag::Certainty;
    if (info == nullptr || !info->known) return {true, true, Certainty::kSpeculated, Certainty::kSpeculated};
    switch (info->access) {  // images and pipes
        case CL_KERNEL_ARG_ACCESS_READ_ONLY:
            return {true, false, Certainty::kSpeculated, Certainty::kSpeculated};
        case CL_KERNEL_ARG_ACCESS_WRITE_ONLY:
            return {false, true, Certainty::kSpeculated, Certainty::kSpeculated};
        case CL_KERNEL_ARG_ACCESS_READ_WRITE:
            return {true, true, Certainty::kSpeculated, Certainty::kSpeculated};
        default:
            break;
    }
    if (info->address == CL_KERNEL_ARG_ADDRESS_CONSTANT) {
        return {true, false, Certainty::kCertain, Certainty::kSpeculated};
    }
    if (info->address == CL_KERNEL_ARG_ADDRESS_GLOBAL && (info->type_qualifier & CL_KERNEL_ARG_TYPE_CONST) != 0) {
        return {true, false, Certainty::kSpeculated, Certainty::kSpeculated};
    }
    return {true, true, Certainty::kSpeculated, Certainty::kSpeculated};
}

OpBuilder::OpBuilder(dag::OpKind kind, std::string label) {
    op_.kind = kind;
    op_.label = std::move(label);
}

bool OpBuilder::Read(uint64_t mem_id, uint64_t offset, uint64_t size, dag::Certainty certainty) {
    return Add(op_.reads, mem_id, offset, size, certainty);
}

bool OpBuilder::Write(uint64_t mem_id, uint64_t offset, uint64_t size, dag::Certainty certainty) {
    return Add(op_.writes, mem_id, offset, size, certainty);
}

bool OpBuilder::Add(std::vector<dag::Access>& to, uint64_t mem_id, uint64_t offset, uint64_t size, dag::Certainty c) {
    std::optional<MemRange> r = ResolveMem(mem_id, offset, size);
    if (!r) return false;
    to.push_back({.resource = r->resource, .offset = r->offset, .size = r->size, .certainty = c});
    if (r->host_backed) {
        bool seen = false;
        for (dag::ResourceId id : host_backed_) seen = seen || id == r->resource;
        if (!seen) host_backed_.push_back(r->resource);
    }
    return true;
}

void OpBuilder::AddKernelArgs(const Kernel& k) {
    struct MemArg {
        uint64_t mem = 0;
        ArgAccess access;
    };
    std::vector<MemArg> mem_args;
    {
        // Snapshot under the kernel's lock; resolve after it (the table has its own lock).
        std::lock_guard lock(k.mu);
        for (size_t i = 0; i < k.args.size(); ++i) {
            const KernelArg& a = k.args[i];
            if (a.kind != KernelArg::Kind::kMem || a.object == 0) continue;
            const KernelArgInfo* info = i < k.arg_info.size() ? &k.arg_info[i] : nullptr;
            mem_args.push_back({a.object, ArgAccessOf(info)});
        }
    }
    for (const MemArg& m : mem_args) {
        if (m.access.read) Read(m.mem, 0, dag::kWholeSize, m.access.read_certainty);
        if (m.access.write) Write(m.mem, 0, dag::kWholeSize, m.access.write_certainty);
    }
}

}  // namespace gpucr::cl
