// hooks_enqueue.cpp — every successful enqueue becomes an op of the kernel DAG (backends/opencl):
// the marshalling from entry-point arguments to OpBuilder calls; what an access means lives in
// cl_access.h.
#include <string>
#include <vector>

#include "backends/opencl/cl_access.h"
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

void Record(Object* self, OpBuilder b, cl_uint num_waits, const cl_event* waits, const cl_event* event) {
    std::vector<uint64_t> wait_ids;
    for (cl_uint i = 0; waits != nullptr && i < num_waits; ++i) wait_ids.push_back(IdOf(waits[i]));
    OpenClDag::Get().Add(self->id, std::move(b), event != nullptr ? IdOf(*event) : 0, std::move(wait_ids));
}

// Hooks are noexcept: an internal failure loses the op (logged), never the application's call.
template <typename F>
void Guarded(F&& f) noexcept {
    try {
        f();
    } catch (...) {
        GPUCR_LOG_ERROR_ONCE("cl", "recording an enqueue into the DAG failed");
    }
}

// Bytes of `region` of an image in a buffer (kWhole when unknown).
uint64_t ImageRegionBytes(cl_mem image, const size_t* region) {
    Mem* m = Get(image);
    if (m == nullptr || region == nullptr) return kWhole;
    size_t element = ImageElementSize(m->image_format);  // set at creation, never changed
    return element == 0 ? kWhole : uint64_t{element} * region[0] * region[1] * region[2];
}

void KernelOp(Object* self, cl_kernel kernel, cl_uint num_waits, const cl_event* waits, const cl_event* event) {
    Kernel* k = Get(kernel);
    OpBuilder b(OpKind::kDispatch, k != nullptr ? k->name : "kernel");
    if (k != nullptr) b.AddKernelArgs(*k);
    Record(self, std::move(b), num_waits, waits, event);
}

void Ordering(Object* self, const char* label, cl_uint num_waits, const cl_event* waits, const cl_event* event) {
    Record(self, OpBuilder(OpKind::kOther, label), num_waits, waits, event);
}

}  // namespace

namespace hooks {

void PostCall_clEnqueueNDRangeKernel(Object* self, cl_int result, cl_command_queue, cl_kernel kernel, cl_uint,
                                     const size_t*, const size_t*, const size_t*, cl_uint num_events_in_wait_list,
                                     const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) KernelOp(self, kernel, num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueTask(Object* self, cl_int result, cl_command_queue, cl_kernel kernel,
                            cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                            cl_event* event) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) KernelOp(self, kernel, num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueReadBuffer(Object* self, cl_int result, cl_command_queue, cl_mem buffer, cl_bool, size_t offset,
                                  size_t size, void*, cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                  cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kHostRead, "clEnqueueReadBuffer");
        b.Read(IdOf(buffer), offset, size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueWriteBuffer(Object* self, cl_int result, cl_command_queue, cl_mem buffer, cl_bool, size_t offset,
                                   size_t size, const void*, cl_uint num_events_in_wait_list,
                                   const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kUpdate, "clEnqueueWriteBuffer");
        b.Write(IdOf(buffer), offset, size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueReadBufferRect(Object* self, cl_int result, cl_command_queue, cl_mem buffer, cl_bool,
                                      const size_t* buffer_origin, const size_t*, const size_t* region,
                                      size_t buffer_row_pitch, size_t buffer_slice_pitch, size_t, size_t, void*,
                                      cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                      cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        Span s = RectSpan(buffer_origin, region, buffer_row_pitch, buffer_slice_pitch);
        OpBuilder b(OpKind::kHostRead, "clEnqueueReadBufferRect");
        b.Read(IdOf(buffer), s.offset, s.size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueWriteBufferRect(Object* self, cl_int result, cl_command_queue, cl_mem buffer, cl_bool,
                                       const size_t* buffer_origin, const size_t*, const size_t* region,
                                       size_t buffer_row_pitch, size_t buffer_slice_pitch, size_t, size_t, const void*,
                                       cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                       cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        Span s = RectSpan(buffer_origin, region, buffer_row_pitch, buffer_slice_pitch);
        OpBuilder b(OpKind::kUpdate, "clEnqueueWriteBufferRect");
        b.Write(IdOf(buffer), s.offset, s.size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueCopyBuffer(Object* self, cl_int result, cl_command_queue, cl_mem src_buffer, cl_mem dst_buffer,
                                  size_t src_offset, size_t dst_offset, size_t size, cl_uint num_events_in_wait_list,
                                  const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kCopy, "clEnqueueCopyBuffer");
        b.Read(IdOf(src_buffer), src_offset, size, kCertain);
        b.Write(IdOf(dst_buffer), dst_offset, size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueCopyBufferRect(Object* self, cl_int result, cl_command_queue, cl_mem src_buffer,
                                      cl_mem dst_buffer, const size_t* src_origin, const size_t* dst_origin,
                                      const size_t* region, size_t src_row_pitch, size_t src_slice_pitch,
                                      size_t dst_row_pitch, size_t dst_slice_pitch, cl_uint num_events_in_wait_list,
                                      const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        Span src = RectSpan(src_origin, region, src_row_pitch, src_slice_pitch);
        Span dst = RectSpan(dst_origin, region, dst_row_pitch, dst_slice_pitch);
        OpBuilder b(OpKind::kCopy, "clEnqueueCopyBufferRect");
        b.Read(IdOf(src_buffer), src.offset, src.size, kCertain);
        b.Write(IdOf(dst_buffer), dst.offset, dst.size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueFillBuffer(Object* self, cl_int result, cl_command_queue, cl_mem buffer, const void*, size_t,
                                  size_t offset, size_t size, cl_uint num_events_in_wait_list,
                                  const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kFill, "clEnqueueFillBuffer");
        b.Write(IdOf(buffer), offset, size, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

// A map reads the mapped range to the host (unless it invalidates it); the host's writes through
// a map for writing are one host write op at the unmap.
void PostCall_clEnqueueMapBuffer(Object* self, void* result, cl_command_queue, cl_mem buffer, cl_bool,
                                 cl_map_flags map_flags, size_t offset, size_t size, cl_uint num_events_in_wait_list,
                                 const cl_event* event_wait_list, cl_event* event, cl_int*) noexcept {
    Guarded([&] {
        if (result == nullptr) return;
        bool write = (map_flags & (CL_MAP_WRITE | CL_MAP_WRITE_INVALIDATE_REGION)) != 0;
        OpBuilder b(OpKind::kHostRead, "clEnqueueMapBuffer");
        if ((map_flags & CL_MAP_WRITE_INVALIDATE_REGION) == 0) b.Read(IdOf(buffer), offset, size, kCertain);
        OpenClDag::Get().Mapped(result, {IdOf(buffer), offset, size, write});
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueMapImage(Object* self, void* result, cl_command_queue, cl_mem image, cl_bool,
                                cl_map_flags map_flags, const size_t*, const size_t*, size_t*, size_t*,
                                cl_uint num_events_in_wait_list, const cl_event* event_wait_list, cl_event* event,
                                cl_int*) noexcept {
    Guarded([&] {
        if (result == nullptr) return;
        bool write = (map_flags & (CL_MAP_WRITE | CL_MAP_WRITE_INVALIDATE_REGION)) != 0;
        OpBuilder b(OpKind::kHostRead, "clEnqueueMapImage");
        if ((map_flags & CL_MAP_WRITE_INVALIDATE_REGION) == 0) b.Read(IdOf(image), 0, kWhole, kCertain);
        OpenClDag::Get().Mapped(result, {IdOf(image), 0, kWhole, write});
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueUnmapMemObject(Object* self, cl_int result, cl_command_queue, cl_mem memobj, void* mapped_ptr,
                                      cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                      cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        uint64_t mem = IdOf(memobj);
        std::optional<Mapping> m = OpenClDag::Get().Unmapped(mem, mapped_ptr);
        if (m && !m->write) {
            Record(self, OpBuilder(OpKind::kOther, "clEnqueueUnmapMemObject"), num_events_in_wait_list, event_wait_list,
                   event);
            return;
        }
        // A map gpucr did not see (unknown range): the host may have written any of the object.
        OpBuilder b(OpKind::kHostWrite, "clEnqueueUnmapMemObject");
        if (m) {
            b.Write(mem, m->offset, m->size, kCertain);
        } else {
            b.Write(mem, 0, kWhole, Certainty::kSpeculated);
        }
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

// Images are accessed as whole objects.
void PostCall_clEnqueueReadImage(Object* self, cl_int result, cl_command_queue, cl_mem image, cl_bool, const size_t*,
                                 const size_t*, size_t, size_t, void*, cl_uint num_events_in_wait_list,
                                 const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kHostRead, "clEnqueueReadImage");
        b.Read(IdOf(image), 0, kWhole, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueWriteImage(Object* self, cl_int result, cl_command_queue, cl_mem image, cl_bool, const size_t*,
                                  const size_t*, size_t, size_t, const void*, cl_uint num_events_in_wait_list,
                                  const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kUpdate, "clEnqueueWriteImage");
        b.Write(IdOf(image), 0, kWhole, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueCopyImage(Object* self, cl_int result, cl_command_queue, cl_mem src_image, cl_mem dst_image,
                                 const size_t*, const size_t*, const size_t*, cl_uint num_events_in_wait_list,
                                 const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kCopy, "clEnqueueCopyImage");
        b.Read(IdOf(src_image), 0, kWhole, kCertain);
        b.Write(IdOf(dst_image), 0, kWhole, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueFillImage(Object* self, cl_int result, cl_command_queue, cl_mem image, const void*,
                                 const size_t*, const size_t*, cl_uint num_events_in_wait_list,
                                 const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kFill, "clEnqueueFillImage");
        b.Write(IdOf(image), 0, kWhole, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueCopyImageToBuffer(Object* self, cl_int result, cl_command_queue, cl_mem src_image,
                                         cl_mem dst_buffer, const size_t*, const size_t* region, size_t dst_offset,
                                         cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                         cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kCopy, "clEnqueueCopyImageToBuffer");
        b.Read(IdOf(src_image), 0, kWhole, kCertain);
        b.Write(IdOf(dst_buffer), dst_offset, ImageRegionBytes(src_image, region), kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

void PostCall_clEnqueueCopyBufferToImage(Object* self, cl_int result, cl_command_queue, cl_mem src_buffer,
                                         cl_mem dst_image, size_t src_offset, const size_t*, const size_t* region,
                                         cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                         cl_event* event) noexcept {
    Guarded([&] {
        if (result != CL_SUCCESS) return;
        OpBuilder b(OpKind::kCopy, "clEnqueueCopyBufferToImage");
        b.Read(IdOf(src_buffer), src_offset, ImageRegionBytes(dst_image, region), kCertain);
        b.Write(IdOf(dst_image), 0, kWhole, kCertain);
        Record(self, std::move(b), num_events_in_wait_list, event_wait_list, event);
    });
}

// Ops without accesses: they only order (their wait lists are recorded).
void PostCall_clEnqueueMarker(Object* self, cl_int result, cl_command_queue, cl_event* event) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) Ordering(self, "clEnqueueMarker", 0, nullptr, event);
    });
}

void PostCall_clEnqueueBarrier(Object* self, cl_int result, cl_command_queue) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) Ordering(self, "clEnqueueBarrier", 0, nullptr, nullptr);
    });
}

void PostCall_clEnqueueWaitForEvents(Object* self, cl_int result, cl_command_queue, cl_uint num_events,
                                     const cl_event* event_list) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) Ordering(self, "clEnqueueWaitForEvents", num_events, event_list, nullptr);
    });
}

void PostCall_clEnqueueMarkerWithWaitList(Object* self, cl_int result, cl_command_queue,
                                          cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                          cl_event* event) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) {
            Ordering(self, "clEnqueueMarkerWithWaitList", num_events_in_wait_list, event_wait_list, event);
        }
    });
}

void PostCall_clEnqueueBarrierWithWaitList(Object* self, cl_int result, cl_command_queue,
                                           cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                           cl_event* event) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) {
            Ordering(self, "clEnqueueBarrierWithWaitList", num_events_in_wait_list, event_wait_list, event);
        }
    });
}

// Migration moves bytes between devices without changing them.
void PostCall_clEnqueueMigrateMemObjects(Object* self, cl_int result, cl_command_queue, cl_uint, const cl_mem*,
                                         cl_mem_migration_flags, cl_uint num_events_in_wait_list,
                                         const cl_event* event_wait_list, cl_event* event) noexcept {
    Guarded([&] {
        if (result == CL_SUCCESS) {
            Ordering(self, "clEnqueueMigrateMemObjects", num_events_in_wait_list, event_wait_list, event);
        }
    });
}

}  // namespace hooks
}  // namespace gpucr::cl
