// hooks_mem.cpp — memory objects (buffers, sub-buffers, images, pipes), their destructor callbacks,
// and samplers.
#include <cstring>
#include <vector>

#include "cl_entry.h"
#include "cl_hooks.h"
#include "dag/log.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

Mem* MemOf(cl_mem app) { return static_cast<Mem*>(reinterpret_cast<Object*>(app)); }

template <typename T>
std::vector<T> PropertyList(const T* list) {
    std::vector<T> out;
    if (list == nullptr) return out;
    for (const T* p = list; *p != 0; p += 2) out.insert(out.end(), {p[0], p[1]});
    out.push_back(0);
    return out;
}

size_t RealMemSize(Mem* m) {
    size_t size = 0;
    m->next->clGetMemObjectInfo(static_cast<cl_mem>(m->real), CL_MEM_SIZE, sizeof(size), &size, nullptr);
    return size;
}

// What every image entry point records: its descriptor (mem_object left out: see `parent`).
void RecordImage(Mem* m, cl_mem_flags flags, const cl_image_format* format, const cl_image_desc* desc,
                 void* host_ptr) {
    size_t size = RealMemSize(m);
    std::lock_guard lock(m->mu);
    m->kind = MemKind::kImage;
    m->flags = flags;
    m->host_ptr = host_ptr;
    m->size = size;
    if (format != nullptr) m->image_format = *format;
    if (desc != nullptr) {
        m->image_desc = *desc;
        m->image_desc.mem_object = nullptr;
    }
}

// clCreateImage and clCreateImageWithProperties: the descriptor's mem_object is a handle.
template <typename Call>
cl_mem CreateImage(Object* self, const char* entry, bool with_properties, const cl_mem_properties* properties,
                   cl_mem_flags flags, const cl_image_format* format, const cl_image_desc* desc, void* host_ptr,
                   Call call) {
    cl_image_desc real_desc{};
    Object* parent = nullptr;
    if (desc != nullptr) {
        real_desc = *desc;
        parent = Lookup(desc->mem_object);
        if (parent != nullptr) real_desc.mem_object = static_cast<cl_mem>(parent->real);
    }
    cl_mem real = call(desc != nullptr ? &real_desc : nullptr);
    if (real == nullptr) return nullptr;
    cl_mem app = WrapCreated(real, self, entry);
    Mem* m = MemOf(app);
    if (parent != nullptr) Hold(m, parent);
    RecordImage(m, flags, format, desc, host_ptr);
    std::lock_guard lock(m->mu);
    m->parent = parent != nullptr ? parent->id : 0;
    m->with_properties = with_properties;
    m->properties = PropertyList(properties);
    return app;
}

}  // namespace

namespace entry {

cl_mem CL_API_CALL clCreateImage(cl_context context, cl_mem_flags flags, const cl_image_format* image_format,
                                 const cl_image_desc* image_desc, void* host_ptr, cl_int* errcode_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(context);
        if (self == nullptr || self->next->clCreateImage == nullptr) {
            if (errcode_ret != nullptr) *errcode_ret = self == nullptr ? CL_INVALID_CONTEXT : CL_INVALID_OPERATION;
            return nullptr;
        }
        return CreateImage(self, "clCreateImage", false, nullptr, flags, image_format, image_desc, host_ptr,
                           [&](const cl_image_desc* desc) {
                               return self->next->clCreateImage(static_cast<cl_context>(self->real), flags,
                                                                image_format, desc, host_ptr, errcode_ret);
                           });
    } catch (...) {
        if (errcode_ret != nullptr) *errcode_ret = CL_OUT_OF_HOST_MEMORY;
        return nullptr;
    }
}

cl_mem CL_API_CALL clCreateImageWithProperties(cl_context context, const cl_mem_properties* properties,
                                               cl_mem_flags flags, const cl_image_format* image_format,
                                               const cl_image_desc* image_desc, void* host_ptr,
                                               cl_int* errcode_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(context);
        if (self == nullptr || self->next->clCreateImageWithProperties == nullptr) {
            if (errcode_ret != nullptr) *errcode_ret = self == nullptr ? CL_INVALID_CONTEXT : CL_INVALID_OPERATION;
            return nullptr;
        }
        return CreateImage(self, "clCreateImageWithProperties", true, properties, flags, image_format, image_desc,
                           host_ptr, [&](const cl_image_desc* desc) {
                               return self->next->clCreateImageWithProperties(static_cast<cl_context>(self->real),
                                                                              properties, flags, image_format, desc,
                                                                              host_ptr, errcode_ret);
                           });
    } catch (...) {
        if (errcode_ret != nullptr) *errcode_ret = CL_OUT_OF_HOST_MEMORY;
        return nullptr;
    }
}

cl_int CL_API_CALL clSetMemObjectDestructorCallback(cl_mem memobj, void(CL_CALLBACK* pfn_notify)(cl_mem, void*),
                                                    void* user_data) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(memobj);
        if (self == nullptr) return CL_INVALID_MEM_OBJECT;
        if (self->next->clSetMemObjectDestructorCallback == nullptr) return CL_INVALID_OPERATION;
        auto real = static_cast<cl_mem>(self->real);
        if (pfn_notify == nullptr) return self->next->clSetMemObjectDestructorCallback(real, nullptr, user_data);
        // The real ICD calls it before the shim's own (registered first, at creation), so the wrapper is
        // still there.
        return AddReleaseCallback(self, pfn_notify, user_data, false);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace entry

namespace hooks {

void PostCall_clCreateBuffer(Object*, cl_mem result, cl_context, cl_mem_flags flags, size_t size, void* host_ptr,
                             cl_int*) noexcept {
    Mem* m = MemOf(result);
    std::lock_guard lock(m->mu);
    m->kind = MemKind::kBuffer;
    m->flags = flags;
    m->size = size;
    m->host_ptr = host_ptr;
}

void PostCall_clCreateBufferWithProperties(Object*, cl_mem result, cl_context, const cl_mem_properties* properties,
                                           cl_mem_flags flags, size_t size, void* host_ptr, cl_int*) noexcept {
    Mem* m = MemOf(result);
    try {
        std::lock_guard lock(m->mu);
        m->kind = MemKind::kBuffer;
        m->flags = flags;
        m->size = size;
        m->host_ptr = host_ptr;
        m->with_properties = true;
        m->properties = PropertyList(properties);
    } catch (...) {
        MarkUnsupported(m, "recording failed (out of memory)");
    }
}

void PostCall_clCreateSubBuffer(Object* self, cl_mem result, cl_mem, cl_mem_flags flags,
                                cl_buffer_create_type buffer_create_type, const void* buffer_create_info,
                                cl_int*) noexcept {
    Mem* m = MemOf(result);
    try {
        Hold(m, self);
    } catch (...) {
        MarkUnsupported(m, "recording failed (out of memory)");
    }
    std::lock_guard lock(m->mu);
    m->kind = MemKind::kSubBuffer;
    m->flags = flags;
    m->parent = self->id;
    m->create_type = buffer_create_type;
    if (buffer_create_type == CL_BUFFER_CREATE_TYPE_REGION && buffer_create_info != nullptr) {
        m->region = *static_cast<const cl_buffer_region*>(buffer_create_info);
        m->size = m->region.size;
    } else if (m->unsupported.empty()) {
        m->unsupported = "sub-buffer of an unknown create type";
    }
}


void PostCall_clCreateImage2D(Object*, cl_mem result, cl_context, cl_mem_flags flags,
                              const cl_image_format* image_format, size_t image_width, size_t image_height,
                              size_t image_row_pitch, void* host_ptr, cl_int*) noexcept {
    cl_image_desc desc{};
    desc.image_type = CL_MEM_OBJECT_IMAGE2D;
    desc.image_width = image_width;
    desc.image_height = image_height;
    desc.image_row_pitch = image_row_pitch;
    RecordImage(MemOf(result), flags, image_format, &desc, host_ptr);
}

void PostCall_clCreateImage3D(Object*, cl_mem result, cl_context, cl_mem_flags flags,
                              const cl_image_format* image_format, size_t image_width, size_t image_height,
                              size_t image_depth, size_t image_row_pitch, size_t image_slice_pitch, void* host_ptr,
                              cl_int*) noexcept {
    cl_image_desc desc{};
    desc.image_type = CL_MEM_OBJECT_IMAGE3D;
    desc.image_width = image_width;
    desc.image_height = image_height;
    desc.image_depth = image_depth;
    desc.image_row_pitch = image_row_pitch;
    desc.image_slice_pitch = image_slice_pitch;
    RecordImage(MemOf(result), flags, image_format, &desc, host_ptr);
}

void PostCall_clCreatePipe(Object*, cl_mem result, cl_context, cl_mem_flags flags, cl_uint pipe_packet_size,
                           cl_uint pipe_max_packets, const cl_pipe_properties*, cl_int*) noexcept {
    Mem* m = MemOf(result);
    size_t size = RealMemSize(m);
    std::lock_guard lock(m->mu);
    m->kind = MemKind::kPipe;
    m->flags = flags;
    m->size = size;
    m->pipe_packet_size = pipe_packet_size;
    m->pipe_max_packets = pipe_max_packets;
}

void PostCall_clCreateSampler(Object*, cl_sampler result, cl_context, cl_bool normalized_coords,
                              cl_addressing_mode addressing_mode, cl_filter_mode filter_mode, cl_int*) noexcept {
    auto* s = static_cast<Sampler*>(reinterpret_cast<Object*>(result));
    std::lock_guard lock(s->mu);
    s->normalized_coords = normalized_coords;
    s->addressing_mode = addressing_mode;
    s->filter_mode = filter_mode;
}

void PostCall_clCreateSamplerWithProperties(Object*, cl_sampler result, cl_context,
                                            const cl_sampler_properties* sampler_properties, cl_int*) noexcept {
    auto* s = static_cast<Sampler*>(reinterpret_cast<Object*>(result));
    try {
        std::lock_guard lock(s->mu);
        s->with_properties = true;
        s->properties = PropertyList(sampler_properties);
        s->normalized_coords = CL_TRUE;  // the defaults of clCreateSamplerWithProperties
        for (size_t i = 0; i + 1 < s->properties.size(); i += 2) {
            cl_sampler_properties key = s->properties[i], value = s->properties[i + 1];
            if (key == CL_SAMPLER_NORMALIZED_COORDS) s->normalized_coords = static_cast<cl_bool>(value);
            if (key == CL_SAMPLER_ADDRESSING_MODE) s->addressing_mode = static_cast<cl_addressing_mode>(value);
            if (key == CL_SAMPLER_FILTER_MODE) s->filter_mode = static_cast<cl_filter_mode>(value);
        }
    } catch (...) {
        MarkUnsupported(s, "recording failed (out of memory)");
    }
}

}  // namespace hooks
}  // namespace gpucr::cl
