// cl_access.h — read/write sets of OpenCL enqueues, for the DAG.
//
// Resources are top-level memory objects named by their wrapper's stable id: a sub-buffer access
// becomes an access to its parent at (region.origin + offset, size); images (and pipes) are
// accessed as whole objects, an image created from a buffer as that whole buffer. Transfers, copies
// and fills are `certain` (rectangles: the byte span from their first to their last byte); kernels
// are `speculated` from the arguments set at enqueue time and their qualifiers (ArgAccess).
// Buffers created with CL_MEM_USE_HOST_PTR are reported as host-backed: their bytes live in the
// application's memory.
//
//   OpBuilder b(dag::OpKind::kCopy, "clEnqueueCopyBuffer");
//   b.Read(IdOf(src), src_offset, size, dag::Certainty::kCertain);
//   b.Write(IdOf(dst), dst_offset, size, dag::Certainty::kCertain);
//   OpenClDag::Get().Add(queue_id, std::move(b), event_id, waits);
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dag/dag.h"
#include "layers/opencl/object_types.h"

namespace gpucr::cl {

// A byte range of a top-level memory object.
struct MemRange {
    dag::ResourceId resource = 0;
    uint64_t offset = 0;
    uint64_t size = dag::kWholeSize;
    bool host_backed = false;  // CL_MEM_USE_HOST_PTR (of the object or, for a sub-buffer, its parent)
};

// (offset, size) within the live memory object `mem_id`, on its top-level object; nullopt when
// the id names no live memory object. Images and pipes give their whole object.
std::optional<MemRange> ResolveMem(uint64_t mem_id, uint64_t offset = 0, uint64_t size = dag::kWholeSize);

// The byte span a buffer rectangle touches: from its first byte to its last (pitches 0 take the
// defaults of clEnqueue*BufferRect). size 0 for an empty region.
struct Span {
    uint64_t offset = 0;
    uint64_t size = 0;
};
Span RectSpan(const size_t* origin, const size_t* region, size_t row_pitch, size_t slice_pitch);

// Bytes of one element of an image of this format (0 when the format is unknown to gpucr).
size_t ImageElementSize(const cl_image_format& format);

// What a kernel argument does to its memory object, from its recorded qualifiers.
struct ArgAccess {
    bool read = false;
    bool write = false;
    dag::Certainty read_certainty = dag::Certainty::kSpeculated;
    dag::Certainty write_certainty = dag::Certainty::kSpeculated;
};
// `info` null (or not known): read-write, speculated. __constant: read, certain. const-qualified
// pointee: read, speculated (const can be cast away, and the kernel may not read it). Other
// __global pointers: read and write, speculated. Images: from their access qualifier, speculated.
ArgAccess ArgAccessOf(const KernelArgInfo* info);

// Accumulates one op and the host-backed resources it touches.
class OpBuilder {
public:
    OpBuilder(dag::OpKind kind, std::string label);

    // Adds an access of (offset, size) within memory object `mem_id`; false (nothing added) when
    // the id names no live memory object.
    bool Read(uint64_t mem_id, uint64_t offset, uint64_t size, dag::Certainty certainty);
    bool Write(uint64_t mem_id, uint64_t offset, uint64_t size, dag::Certainty certainty);
    // The accesses of every memory argument of `k` as set now (a snapshot: later clSetKernelArg
    // calls do not change the op). Takes k.mu.
    void AddKernelArgs(const Kernel& k);

    dag::Op& op() { return op_; }
    const std::vector<dag::ResourceId>& host_backed() const { return host_backed_; }
    dag::Op TakeOp() { return std::move(op_); }

private:
    bool Add(std::vector<dag::Access>& to, uint64_t mem_id, uint64_t offset, uint64_t size, dag::Certainty c);

    dag::Op op_;
    std::vector<dag::ResourceId> host_backed_;
};

}  // namespace gpucr::cl
