// common.h — shared plumbing of the OpenCL example workloads (cl_stencil, cl_serving, cl_manybuf).
//
// Plain OpenCL 1.2 through the system's ICD loader (PoCL, NVIDIA, or gpucr's shim), no knowledge
// of gpucr: a context (platform, device, one in-order command queue), one cl_mem per BufferSpec
// of Layout(), upload and read-back with clEnqueueWriteBuffer / clEnqueueReadBuffer, kernels
// built from embedded OpenCL C source, and submissions (the commands of one step) timed from
// their first enqueue to the completion of their last command. The command line, step timing and
// stats are shared with the Vulkan examples (examples/common_cli.h).
//
//   Status RunStencil(const Options& o) {
//       GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Context> ctx, Context::Create(o));
//       BufferSet buffers(*ctx);
//       GPUCR_RETURN_IF_ERROR(buffers.Create(specs));
//       GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Program> program, Program::Create(*ctx, kStencilCl));
//       GPUCR_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, Kernel::Create(*ctx, *program, "stencil"));
//       GPUCR_RETURN_IF_ERROR(k->SetArgs(0, buffers[0].mem, buffers[1].mem, buffers[2].mem));
//       ...
//   }
#pragma once

// OpenCL 1.2 calls throughout (clCreateCommandQueue); 2.0 only for --svm's clSVMAlloc.
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 200
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#endif
#include <CL/cl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dag/status.h"
#include "examples/common_cli.h"
#include "examples/reference.h"

namespace gpucr::examples::opencl {

// "CL_OUT_OF_RESOURCES" etc.
const char* ClErrorName(cl_int error);
Status ClError(const char* what, cl_int error);

#define GPUCR_CL_RETURN_IF_ERROR(call)                                                                        \
    do {                                                                                                      \
        cl_int gpucr_cl_error_ = (call);                                                                      \
        if (gpucr_cl_error_ != CL_SUCCESS) return ::gpucr::examples::opencl::ClError(#call, gpucr_cl_error_); \
    } while (0)

// One buffer of Layout(), its own cl_mem.
struct Buffer {
    cl_mem mem = nullptr;
    uint64_t size = 0;
    bool host_written = false;  // CL_MEM_ALLOC_HOST_PTR, mapped and written by the host before each request
};

class Context {
public:
    // --platform (default: the first platform with a device) and --device within it.
    static Result<std::unique_ptr<Context>> Create(const Options& options);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    cl_context context() const { return context_; }
    cl_device_id device() const { return device_; }
    cl_command_queue queue() const { return queue_; }
    const std::string& device_name() const { return device_name_; }  // "<device> (<platform>)"
    bool use_host_ptr() const { return use_host_ptr_; }               // --use-host-ptr

    // Writes the initial contents (FillInitial) of each buffer with blocking clEnqueueWriteBuffer.
    [[nodiscard]] Status Initialize(std::span<const Buffer> buffers, std::span<const BufferSpec> specs);
    // XXH64 of all buffers' contents in order (StateHasher), read back with blocking clEnqueueReadBuffer.
    [[nodiscard]] Result<uint64_t> Checksum(std::span<const Buffer> buffers);

private:
    Context() = default;
    Status Init(const Options& options);

    cl_platform_id platform_ = nullptr;
    cl_device_id device_ = nullptr;
    cl_context context_ = nullptr;
    cl_command_queue queue_ = nullptr;
    cl_mem image_ = nullptr;  // --image
    void* svm_ = nullptr;     // --svm
    cl_mem held_ = nullptr;   // --hold-map: a buffer mapped for the whole run
    void* held_map_ = nullptr;
    bool use_host_ptr_ = false;
    std::string device_name_;
};

// The buffers of an example in creation order (Layout()), released in reverse order.
class BufferSet {
public:
    explicit BufferSet(Context& ctx) : ctx_(ctx) {}
    ~BufferSet();
    BufferSet(const BufferSet&) = delete;
    BufferSet& operator=(const BufferSet&) = delete;

    // One clCreateBuffer per spec, in order: CL_MEM_READ_WRITE, or for host_written specs
    // CL_MEM_READ_ONLY | CL_MEM_ALLOC_HOST_PTR (host-accessible memory the kernels only read).
    // With --use-host-ptr, every buffer is CL_MEM_USE_HOST_PTR over page-aligned memory of the set's.
    [[nodiscard]] Status Create(std::span<const BufferSpec> specs);
    const std::vector<Buffer>& buffers() const { return buffers_; }
    const Buffer& operator[](size_t i) const { return buffers_[i]; }

private:
    Context& ctx_;
    std::vector<Buffer> buffers_;
    std::vector<void*> host_;  // --use-host-ptr: the buffers' memory, freed after them
};

// A program built from OpenCL C source for the context's device.
class Program {
public:
    static Result<std::unique_ptr<Program>> Create(Context& ctx, const char* source);
    ~Program();
    Program(const Program&) = delete;
    Program& operator=(const Program&) = delete;
    cl_program program() const { return program_; }

private:
    Program() = default;
    cl_program program_ = nullptr;
};

// One kernel object; its arguments stay set between enqueues (OpenCL captures them at enqueue time).
class Kernel {
public:
    static Result<std::unique_ptr<Kernel>> Create(const Context& ctx, const Program& program, const char* name);
    ~Kernel();
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;

    // Sets arguments first, first + 1, ... to `args` (cl_mem handles or 32-bit scalars).
    template <typename... Args>
    [[nodiscard]] Status SetArgs(cl_uint first, const Args&... args) {
        cl_uint index = first;
        cl_int error = CL_SUCCESS;
        ((error = error == CL_SUCCESS ? clSetKernelArg(kernel_, index++, sizeof(Args), &args) : error), ...);
        return error == CL_SUCCESS ? Status::Ok() : ClError("clSetKernelArg", error);
    }
    // Enqueues enough work-groups of kWorkgroupSize for `items` (grid-stride, capped as in the
    // Vulkan examples); `done`, if given, receives the command's event.
    [[nodiscard]] Status Enqueue(cl_command_queue queue, uint32_t items, cl_event* done = nullptr) const;

private:
    Kernel() = default;
    cl_kernel kernel_ = nullptr;
    bool fixed_local_size_ = false;  // the device runs work-groups of kWorkgroupSize for this kernel
};

// The commands of one step on the in-order queue (the counterpart of a Vulkan command buffer and
// its fence). Latency is measured from Begin() (just before the first enqueue) to the return of
// the wait for the last command's event.
class Submission {
public:
    explicit Submission(cl_command_queue queue) : queue_(queue) {}
    ~Submission();
    Submission(const Submission&) = delete;
    Submission& operator=(const Submission&) = delete;

    // Notes the submission time (the submission must not be in flight).
    [[nodiscard]] Status Begin();
    // Takes ownership of the last command's event and flushes the queue.
    [[nodiscard]] Status Submit(cl_event done);
    // Waits for the last command; returns the latency in ms.
    [[nodiscard]] Result<double> Wait();
    bool in_flight() const { return done_ != nullptr; }

private:
    cl_command_queue queue_;
    cl_event done_ = nullptr;
    std::chrono::steady_clock::time_point submitted_;
};

// One line on stderr (unless --quiet): device, memory objects and how the host reaches them.
void ReportSetup(const char* name, const Options& options, const Context& ctx, std::span<const Buffer> buffers);

}  // namespace gpucr::examples::opencl
