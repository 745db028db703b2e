// hooks_enqueue.cpp — every enqueue is bracketed for the checkpoint (backends/opencl/cl_checkpoint.h):
// PreCall_X marshals the entry point's arguments into an op (what an access means lives in
// cl_access.h) and opens it before the real call; EndEnqueue, after it, records the op in the
// kernel DAG when the call succeeded.
#include <string>
#include <vector>

#include "backends/opencl/cl_access.h"
#include "backends/opencl/cl_checkpoint.h"
#include "backends/opencl/cl_dag.h"
#include "cl_hooks.h"
#include "dag/log.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

using dag::Certainty;
using dag::OpKind;
constexpr Certainty kCertain = Certainty::kCertain;
constexpr uint64_t kWhole = dag::kWholeSize;

// Hooks are noexcept and never refuse: an internal failure loses the op (logged), never the
// application's call. `f` returns the op; it is opened on `self` (a queue).
template <typename F>
cl_int Open(Object* self, F&& f) noexcept {
    try {
        OpenClCheckpoint::Get().Begin(self, f());
    } catch (...) {
        GPUCR_LOG_ERROR_ONCE("cl", "recording an enqueue into the DAG failed");
        OpenClCheckpoint::Get().Begin(self, OpBuilder(OpKind::kOther, "unrecorded"));
    }
    return CL_SUCCESS;
}

// Bytes of `region` of an image in a buffer (kWhole when unknown).
uint64_t ImageRegionBytes(cl_mem image, const size_t* region) {
    Mem* m = Get(image);
    if (m == nullptr || region == nullptr) return kWhole;
    size_t element = ImageElementSize(m->image_format);  // set at creation, never changed
    return element == 0 ? kWhole : uint64_t{element} * region[0] * region[1] * region[2];
}

OpBuilder KernelOp(cl_kernel kernel) {
    Kernel* k = Get(kernel);
    OpBuilder b(OpKind::kDispatch, k != nullptr ? k->name : "kernel");
    if (k != nullptr) b.AddKernelArgs(*k);
    return b;
}

// Ops without accesses: they only order (their wait lists are recorded).
cl_int Ordering(Object* self, const char* label) noexcept {
    return Open(self, [&] { return OpBuilder(OpKind::kOther, label); });
}

OpBuilder Transfer(OpKind kind, const char* label, cl_mem mem, uint64_t offset, uint64_t size, bool write) {
    OpBuilder b(kind, label);
    if (write) {
        b.Write(IdOf(mem), offset, size, kCertain);
    } else {
        b.Read(IdOf(mem), offset, size, kCertain);
    }
    return b;
}

OpBuilder Copy(const char* label, cl_mem src, uint64_t src_offset, uint64_t src_size, cl_mem dst, uint64_t dst_offset,
               uint64_t dst_size) {
    OpBuilder b(OpKind::kCopy, label);
    b.Read(IdOf(src), src_offset, src_size, kCertain);
    b.Write(IdOf(dst), dst_offset, dst_size, kCertain);
    return b;
}

// A map reads the mapped range to the host (unless it invalidates it). The host's writes through a
// map for writing are one host-write op at the unmap; the engine sees the range written from the
// map on, so that a dump copies it before the host may change it.
cl_int Map(Object* self, const char* label, cl_mem mem, cl_map_flags flags, uint64_t offset, uint64_t size) noexcept {
    try {
        OpBuilder b(OpKind::kHostRead, label);
        if ((flags & CL_MAP_WRITE_INVALIDATE_REGION) == 0) b.Read(IdOf(mem), offset, size, kCertain);
        std::vector<dag::Access> host_writes;
        if ((flags & (CL_MAP_WRITE | CL_MAP_WRITE_INVALIDATE_REGION)) != 0) {
            if (std::optional<MemRange> r = ResolveMem(IdOf(mem), offset, size)) {
                host_writes.push_back({r->resource, r->offset, r->size, kCertain});
            }
        }
        OpenClCheckpoint::Get().Begin(self, std::move(b), host_writes);
    } catch (...) {
        GPUCR_LOG_ERROR_ONCE("cl", "recording an enqueue into the DAG failed");
        OpenClCheckpoint::Get().Begin(self, OpBuilder(OpKind::kOther, "unrecorded"));
    }
    return CL_SUCCESS;
}

void Mapped(void* result, cl_mem mem, cl_map_flags flags, uint64_t offset, uint64_t size) noexcept {
    try {
        if (result == nullptr) return;
        const bool write = (flags & (CL_MAP_WRITE | CL_MAP_WRITE_INVALIDATE_REGION)) != 0;
        OpenClDag::Get().Mapped(result, {IdOf(mem), offset, size, write});
    } catch (...) {
        GPUCR_LOG_ERROR_ONCE("cl", "recording a mapping failed");
    }
}

}  // namespace

namespace hooks {

void EndEnqueue(Object* self, bool ok, cl_uint num_waits, const cl_event* waits, const cl_event* event) noexcept {
    OpenClCheckpoint::Get().End(self, ok ? CL_SUCCESS : CL_INVALID_OPERATION, event, num_waits, waits);
}

cl_int PreCall_clEnqueueNDRangeKernel(Object* self, cl_command_queue, cl_kernel kernel, cl_uint, const size_t*,
                                      const size_t*, const size_t*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return KernelOp(kernel); });
}

cl_int PreCall_clEnqueueTask(Object* self, cl_command_queue, cl_kernel kernel, cl_uint, const cl_event*,
                             cl_event*) noexcept {
    return Open(self, [&] { return KernelOp(kernel); });
}

cl_int PreCall_clEnqueueReadBuffer(Object* self, cl_command_queue, cl_mem buffer, cl_bool, size_t offset, size_t size,
                                   void*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return Transfer(OpKind::kHostRead, "clEnqueueReadBuffer", buffer, offset, size, false); });
}

cl_int PreCall_clEnqueueWriteBuffer(Object* self, cl_command_queue, cl_mem buffer, cl_bool, size_t offset, size_t size,
                                    const void*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return Transfer(OpKind::kUpdate, "clEnqueueWriteBuffer", buffer, offset, size, true); });
}

cl_int PreCall_clEnqueueReadBufferRect(Object* self, cl_command_queue, cl_mem buffer, cl_bool,
                                       const size_t* buffer_origin, const size_t*, const size_t* region,
                                       size_t buffer_row_pitch, size_t buffer_slice_pitch, size_t, size_t, void*,
                                       cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] {
        Span s = RectSpan(buffer_origin, region, buffer_row_pitch, buffer_slice_pitch);
        return Transfer(OpKind::kHostRead, "clEnqueueReadBufferRect", buffer, s.offset, s.size, false);
    });
}

cl_int PreCall_clEnqueueWriteBufferRect(Object* self, cl_command_queue, cl_mem buffer, cl_bool,
                                        const size_t* buffer_origin, const size_t*, const size_t* region,
                                        size_t buffer_row_pitch, size_t buffer_slice_pitch, size_t, size_t,
                                        const void*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] {
        Span s = RectSpan(buffer_origin, region, buffer_row_pitch, buffer_slice_pitch);
        return Transfer(OpKind::kUpdate, "clEnqueueWriteBufferRect", buffer, s.offset, s.size, true);
    });
}

cl_int PreCall_clEnqueueCopyBuffer(Object* self, cl_command_queue, cl_mem src_buffer, cl_mem dst_buffer,
                                   size_t src_offset, size_t dst_offset, size_t size, cl_uint, const cl_event*,
                                   cl_event*) noexcept {
    return Open(self, [&] {
        return Copy("clEnqueueCopyBuffer", src_buffer, src_offset, size, dst_buffer, dst_offset, size);
    });
}

cl_int PreCall_clEnqueueCopyBufferRect(Object* self, cl_command_queue, cl_mem src_buffer, cl_mem dst_buffer,
                                       const size_t* src_origin, const size_t* dst_origin, const size_t* region,
                                       size_t src_row_pitch, size_t src_slice_pitch, size_t dst_row_pitch,
                                       size_t dst_slice_pitch, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] {
        Span src = RectSpan(src_origin, region, src_row_pitch, src_slice_pitch);
        Span dst = RectSpan(dst_origin, region, dst_row_pitch, dst_slice_pitch);
        return Copy("clEnqueueCopyBufferRect", src_buffer, src.offset, src.size, dst_buffer, dst.offset, dst.size);
    });
}

cl_int PreCall_clEnqueueFillBuffer(Object* self, cl_command_queue, cl_mem buffer, const void*, size_t, size_t offset,
                                   size_t size, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return Transfer(OpKind::kFill, "clEnqueueFillBuffer", buffer, offset, size, true); });
}

cl_int PreCall_clEnqueueMapBuffer(Object* self, cl_command_queue, cl_mem buffer, cl_bool, cl_map_flags map_flags,
                                  size_t offset, size_t size, cl_uint, const cl_event*, cl_event*, cl_int*) noexcept {
    return Map(self, "clEnqueueMapBuffer", buffer, map_flags, offset, size);
}

void PostCall_clEnqueueMapBuffer(Object*, void* result, cl_command_queue, cl_mem buffer, cl_bool,
                                 cl_map_flags map_flags, size_t offset, size_t size, cl_uint, const cl_event*,
                                 cl_event*, cl_int*) noexcept {
    Mapped(result, buffer, map_flags, offset, size);
}

cl_int PreCall_clEnqueueMapImage(Object* self, cl_command_queue, cl_mem image, cl_bool, cl_map_flags map_flags,
                                 const size_t*, const size_t*, size_t*, size_t*, cl_uint, const cl_event*, cl_event*,
                                 cl_int*) noexcept {
    return Map(self, "clEnqueueMapImage", image, map_flags, 0, kWhole);
}

void PostCall_clEnqueueMapImage(Object*, void* result, cl_command_queue, cl_mem image, cl_bool,
                                cl_map_flags map_flags, const size_t*, const size_t*, size_t*, size_t*, cl_uint,
                                const cl_event*, cl_event*, cl_int*) noexcept {
    Mapped(result, image, map_flags, 0, kWhole);
}

// The unmap of a map for writing carries the host's writes. A map gpucr did not see (unknown
// range): the host may have written any of the object.
cl_int PreCall_clEnqueueUnmapMemObject(Object* self, cl_command_queue, cl_mem memobj, void* mapped_ptr, cl_uint,
                                       const cl_event*, cl_event*) noexcept {
    return Open(self, [&] {
        uint64_t mem = IdOf(memobj);
        std::optional<Mapping> m = OpenClDag::Get().Unmapped(mem, mapped_ptr);
        if (m && !m->write) return OpBuilder(OpKind::kOther, "clEnqueueUnmapMemObject");
        OpBuilder b(OpKind::kHostWrite, "clEnqueueUnmapMemObject");
        if (m) {
            b.Write(mem, m->offset, m->size, kCertain);
        } else {
            b.Write(mem, 0, kWhole, Certainty::kSpeculated);
        }
        return b;
    });
}

// Images are accessed as whole objects.
cl_int PreCall_clEnqueueReadImage(Object* self, cl_command_queue, cl_mem image, cl_bool, const size_t*, const size_t*,
                                  size_t, size_t, void*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return Transfer(OpKind::kHostRead, "clEnqueueReadImage", image, 0, kWhole, false); });
}

cl_int PreCall_clEnqueueWriteImage(Object* self, cl_command_queue, cl_mem image, cl_bool, const size_t*,
                                   const size_t*, size_t, size_t, const void*, cl_uint, const cl_event*,
                                   cl_event*) noexcept {
    return Open(self, [&] { return Transfer(OpKind::kUpdate, "clEnqueueWriteImage", image, 0, kWhole, true); });
}

cl_int PreCall_clEnqueueCopyImage(Object* self, cl_command_queue, cl_mem src_image, cl_mem dst_image, const size_t*,
                                  const size_t*, const size_t*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return Copy("clEnqueueCopyImage", src_image, 0, kWhole, dst_image, 0, kWhole); });
}

cl_int PreCall_clEnqueueFillImage(Object* self, cl_command_queue, cl_mem image, const void*, const size_t*,
                                  const size_t*, cl_uint, const cl_event*, cl_event*) noexcept {
    return Open(self, [&] { return Transfer(OpKind::kFill, "clEnqueueFillImage", image, 0, kWhole, true); });
}

cl_int PreCall_clEnqueueCopyImageToBuffer(Object* self, cl_command_queue, cl_mem src_image, cl_mem dst_buffer,
                                          const size_t*, const size_t* region, size_t dst_offset, cl_uint,
                                          const cl_event*, cl_event*) noexcept {
    return Open(self, [&] {
        return Copy("clEnqueueCopyImageToBuffer", src_image, 0, kWhole, dst_buffer, dst_offset,
                    ImageRegionBytes(src_image, region));
    });
}

cl_int PreCall_clEnqueueCopyBufferToImage(Object* self, cl_command_queue, cl_mem src_buffer, cl_mem dst_image,
                                          size_t src_offset, const size_t*, const size_t* region, cl_uint,
                                          const cl_event*, cl_event*) noexcept {
    return Open(self, [&] {
        return Copy("clEnqueueCopyBufferToImage", src_buffer, src_offset, ImageRegionBytes(dst_image, region),
                    dst_image, 0, kWhole);
    });
}

cl_int PreCall_clEnqueueMarker(Object* self, cl_command_queue, cl_event*) noexcept {
    return Ordering(self, "clEnqueueMarker");
}

cl_int PreCall_clEnqueueBarrier(Object* self, cl_command_queue) noexcept { return Ordering(self, "clEnqueueBarrier"); }

cl_int PreCall_clEnqueueWaitForEvents(Object* self, cl_command_queue, cl_uint, const cl_event*) noexcept {
    return Ordering(self, "clEnqueueWaitForEvents");
}

cl_int PreCall_clEnqueueMarkerWithWaitList(Object* self, cl_command_queue, cl_uint, const cl_event*,
                                           cl_event*) noexcept {
    return Ordering(self, "clEnqueueMarkerWithWaitList");
}

cl_int PreCall_clEnqueueBarrierWithWaitList(Object* self, cl_command_queue, cl_uint, const cl_event*,
                                            cl_event*) noexcept {
    return Ordering(self, "clEnqueueBarrierWithWaitList");
}

// Migration moves bytes between devices without changing them.
cl_int PreCall_clEnqueueMigrateMemObjects(Object* self, cl_command_queue, cl_uint, const cl_mem*,
                                          cl_mem_migration_flags, cl_uint, const cl_event*, cl_event*) noexcept {
    return Ordering(self, "clEnqueueMigrateMemObjects");
}

// The application's last reference to a buffer: a dump still copying it takes what it needs first.
cl_int PreCall_clReleaseMemObject(Object* self, cl_mem) noexcept {
    try {
        const auto* m = static_cast<const Mem*>(self);
        if (self->type == ObjectType::kMem && m->kind == MemKind::kBuffer && self->app_refs.load() == 1) {
            OpenClCheckpoint::Get().engine().BeforeRelease(self->id);
        }
    } catch (...) {
        GPUCR_LOG_ERROR_ONCE("cl", "capturing a released buffer failed");
    }
    return CL_SUCCESS;
}

}  // namespace hooks
}  // namespace gpucr::cl
