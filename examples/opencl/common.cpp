#include "examples/opencl/common.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace gpucr::examples::opencl {
namespace {

constexpr uint32_t kMaxGroups = 65535;          // as the Vulkan examples (maxComputeWorkGroupCount[0])
constexpr uint64_t kTransferChunk = 16 * kMiB;  // read-back granularity of Checksum()

// --image: a 16x16 RGBA8 image holding byte i = (i * 7 + 3) mod 256 for the whole run
// (tests/gpucr_testlib.py image_pattern), checked by every Checksum().
constexpr size_t kImageRegion[3] = {16, 16, 1};
std::vector<uint8_t> ImagePattern() {
    std::vector<uint8_t> p(kImageRegion[0] * kImageRegion[1] * 4);
    for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
    return p;
}
constexpr cl_int kPlatformNotFoundKhr = -1001;  // CL_PLATFORM_NOT_FOUND_KHR (cl_khr_icd), from the ICD loader

std::string PlatformString(cl_platform_id platform, cl_platform_info what) {
    size_t size = 0;
    if (clGetPlatformInfo(platform, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "?";
    std::string s(size, '\0');
    if (clGetPlatformInfo(platform, what, size, s.data(), nullptr) != CL_SUCCESS) return "?";
    return s.c_str();  // drops the terminating NUL
}

std::string DeviceString(cl_device_id device, cl_device_info what) {
    size_t size = 0;
    if (clGetDeviceInfo(device, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "?";
    std::string s(size, '\0');
    if (clGetDeviceInfo(device, what, size, s.data(), nullptr) != CL_SUCCESS) return "?";
    return s.c_str();
}

// The devices of `platform` (empty when it has none).
Result<std::vector<cl_device_id>> Devices(cl_platform_id platform) {
    cl_uint count = 0;
    cl_int error = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, nullptr, &count);
    if (error == CL_DEVICE_NOT_FOUND || (error == CL_SUCCESS && count == 0)) return std::vector<cl_device_id>{};
    if (error != CL_SUCCESS) return ClError("clGetDeviceIDs", error);
    std::vector<cl_device_id> devices(count);
    GPUCR_CL_RETURN_IF_ERROR(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, devices.data(), nullptr));
    return devices;
}

std::string BuildLog(cl_program program, cl_device_id device) {
    size_t size = 0;
    if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size) != CL_SUCCESS) return "";
    std::string log(size, '\0');
    if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr) != CL_SUCCESS) {
        return "";
    }
    return log.c_str();
}

}  // namespace

const char* ClErrorName(cl_int error) {
    static constexpr struct {
        cl_int code;
        const char* name;
    } kNames[] = {
        {CL_SUCCESS, "CL_SUCCESS"},
        {CL_DEVICE_NOT_FOUND, "CL_DEVICE_NOT_FOUND"},
        {CL_DEVICE_NOT_AVAILABLE, "CL_DEVICE_NOT_AVAILABLE"},
        {CL_COMPILER_NOT_AVAILABLE, "CL_COMPILER_NOT_AVAILABLE"},
        {CL_MEM_OBJECT_ALLOCATION_FAILURE, "CL_MEM_OBJECT_ALLOCATION_FAILURE"},
        {CL_OUT_OF_RESOURCES, "CL_OUT_OF_RESOURCES"},
        {CL_OUT_OF_HOST_MEMORY, "CL_OUT_OF_HOST_MEMORY"},
        {CL_MAP_FAILURE, "CL_MAP_FAILURE"},
        {CL_BUILD_PROGRAM_FAILURE, "CL_BUILD_PROGRAM_FAILURE"},
        {CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"},
        {CL_INVALID_VALUE, "CL_INVALID_VALUE"},
        {CL_INVALID_PLATFORM, "CL_INVALID_PLATFORM"},
        {CL_INVALID_DEVICE, "CL_INVALID_DEVICE"},
        {CL_INVALID_CONTEXT, "CL_INVALID_CONTEXT"},
        {CL_INVALID_COMMAND_QUEUE, "CL_INVALID_COMMAND_QUEUE"},
        {CL_INVALID_MEM_OBJECT, "CL_INVALID_MEM_OBJECT"},
        {CL_INVALID_PROGRAM, "CL_INVALID_PROGRAM"},
        {CL_INVALID_PROGRAM_EXECUTABLE, "CL_INVALID_PROGRAM_EXECUTABLE"},
        {CL_INVALID_KERNEL_NAME, "CL_INVALID_KERNEL_NAME"},
        {CL_INVALID_KERNEL, "CL_INVALID_KERNEL"},
        {CL_INVALID_ARG_INDEX, "CL_INVALID_ARG_INDEX"},
        {CL_INVALID_ARG_VALUE, "CL_INVALID_ARG_VALUE"},
        {CL_INVALID_ARG_SIZE, "CL_INVALID_ARG_SIZE"},
        {CL_INVALID_KERNEL_ARGS, "CL_INVALID_KERNEL_ARGS"},
        {CL_INVALID_WORK_GROUP_SIZE, "CL_INVALID_WORK_GROUP_SIZE"},
        {CL_INVALID_GLOBAL_WORK_SIZE, "CL_INVALID_GLOBAL_WORK_SIZE"},
        {CL_INVALID_EVENT, "CL_INVALID_EVENT"},
        {CL_INVALID_OPERATION, "CL_INVALID_OPERATION"},
        {CL_INVALID_BUFFER_SIZE, "CL_INVALID_BUFFER_SIZE"},
        {kPlatformNotFoundKhr, "CL_PLATFORM_NOT_FOUND_KHR"},
    };
    for (const auto& n : kNames) {
        if (n.code == error) return n.name;
    }
    return "cl_int(unknown)";
}

Status ClError(const char* what, cl_int error) {
    std::string call(what);
    const size_t paren = call.find('(');
    if (paren != std::string::npos) call.resize(paren);
    return Internal(call + " failed: " + ClErrorName(error) + " (" + std::to_string(error) + ")");
}

// ---------------------------------------------------------------------------------------------
// Context

Result<std::unique_ptr<Context>> Context::Create(const Options& options) {
    std::unique_ptr<Context> ctx(new Context());
    GPUCR_RETURN_IF_ERROR(ctx->Init(options));
    return ctx;
}

Status Context::Init(const Options& options) {
    use_host_ptr_ = options.use_host_ptr;
    cl_uint count = 0;
    cl_int error = clGetPlatformIDs(0, nullptr, &count);
    if (error == kPlatformNotFoundKhr || (error == CL_SUCCESS && count == 0)) {
        return Unavailable("no OpenCL platform found (no ICD in /etc/OpenCL/vendors or OCL_ICD_VENDORS)");
    }
    if (error != CL_SUCCESS) return ClError("clGetPlatformIDs", error);
    std::vector<cl_platform_id> platforms(count);
    GPUCR_CL_RETURN_IF_ERROR(clGetPlatformIDs(count, platforms.data(), nullptr));

    std::vector<cl_device_id> devices;
    if (options.platform.has_value()) {
        if (*options.platform >= count) {
            return InvalidArgument("--platform " + std::to_string(*options.platform) + ": only " +
                                   std::to_string(count) + " OpenCL platform(s)");
        }
        platform_ = platforms[*options.platform];
        GPUCR_ASSIGN_OR_RETURN(devices, Devices(platform_));
        if (devices.empty())
            return Unavailable("OpenCL platform " + PlatformString(platform_, CL_PLATFORM_NAME) + " has no device");
    } else {
        for (cl_platform_id p : platforms) {
            GPUCR_ASSIGN_OR_RETURN(devices, Devices(p));
            if (devices.empty()) continue;
            platform_ = p;
            break;
        }
        if (platform_ == nullptr) return Unavailable("no OpenCL platform has a device");
    }
    if (options.device >= devices.size()) {
        return InvalidArgument("--device " + std::to_string(options.device) + ": only " +
                               std::to_string(devices.size()) + " device(s) on OpenCL platform " +
                               PlatformString(platform_, CL_PLATFORM_NAME));
    }
    device_ = devices[options.device];
    device_name_ = DeviceString(device_, CL_DEVICE_NAME) + " (" + PlatformString(platform_, CL_PLATFORM_NAME) + ")";

    const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(platform_), 0};
    context_ = clCreateContext(props, 1, &device_, nullptr, nullptr, &error);
    if (error != CL_SUCCESS) return ClError("clCreateContext", error);
    queue_ = clCreateCommandQueue(context_, device_, 0, &error);  // in order: commands run one after another
    if (error != CL_SUCCESS) return ClError("clCreateCommandQueue", error);
    if (options.image) {
        const cl_image_format format{CL_RGBA, CL_UNSIGNED_INT8};
        cl_image_desc desc{};
        desc.image_type = CL_MEM_OBJECT_IMAGE2D;
        desc.image_width = kImageRegion[0];
        desc.image_height = kImageRegion[1];
        image_ = clCreateImage(context_, CL_MEM_READ_WRITE, &format, &desc, nullptr, &error);
        if (error != CL_SUCCESS) return ClError("clCreateImage", error);
        const std::vector<uint8_t> pattern = ImagePattern();
        const size_t origin[3] = {0, 0, 0};
        GPUCR_CL_RETURN_IF_ERROR(clEnqueueWriteImage(queue_, image_, CL_TRUE, origin, kImageRegion, 0, 0,
                                                     pattern.data(), 0, nullptr, nullptr));
    }
    if (options.svm) {
        svm_ = clSVMAlloc(context_, CL_MEM_READ_WRITE, 4096, 0);
        if (svm_ == nullptr) return Unavailable("clSVMAlloc failed: the device has no shared virtual memory");
    }
    if (options.hold_map) {
        held_ = clCreateBuffer(context_, CL_MEM_READ_WRITE, 4096, nullptr, &error);
        if (error != CL_SUCCESS) return ClError("clCreateBuffer", error);
        held_map_ = clEnqueueMapBuffer(queue_, held_, CL_TRUE, CL_MAP_READ, 0, 4096, 0, nullptr, nullptr, &error);
        if (error != CL_SUCCESS) return ClError("clEnqueueMapBuffer", error);
    }
    return Status::Ok();
}

Context::~Context() {
    if (held_map_ != nullptr) clEnqueueUnmapMemObject(queue_, held_, held_map_, 0, nullptr, nullptr);
    if (queue_ != nullptr) {
        clFinish(queue_);
        clReleaseCommandQueue(queue_);
    }
    if (image_ != nullptr) clReleaseMemObject(image_);
    if (svm_ != nullptr) clSVMFree(context_, svm_);
    if (held_ != nullptr) clReleaseMemObject(held_);
    if (context_ != nullptr) clReleaseContext(context_);
}

Status Context::Initialize(std::span<const Buffer> buffers, std::span<const BufferSpec> specs) {
    if (buffers.size() != specs.size()) return Internal("Initialize: buffers and specs differ in number");
    std::vector<uint32_t> words;
    for (size_t i = 0; i < buffers.size(); ++i) {
        words.resize(specs[i].size / 4);
        FillInitial(specs[i], words);
        GPUCR_CL_RETURN_IF_ERROR(clEnqueueWriteBuffer(queue_, buffers[i].mem, CL_TRUE, 0, buffers[i].size, words.data(),
                                                      0, nullptr, nullptr));
    }
    return Status::Ok();
}

Result<uint64_t> Context::Checksum(std::span<const Buffer> buffers) {
    if (image_ != nullptr) {
        std::vector<uint8_t> now(ImagePattern().size());
        const size_t origin[3] = {0, 0, 0};
        GPUCR_CL_RETURN_IF_ERROR(
            clEnqueueReadImage(queue_, image_, CL_TRUE, origin, kImageRegion, 0, 0, now.data(), 0, nullptr, nullptr));
        if (now != ImagePattern()) return Internal("the --image image changed");
    }
    StateHasher hasher;
    uint64_t largest = 0;
    for (const Buffer& b : buffers) largest = std::max(largest, b.size);
    std::vector<uint8_t> chunk(std::min(largest, kTransferChunk));
    for (const Buffer& b : buffers) {
        for (uint64_t offset = 0; offset < b.size; offset += kTransferChunk) {
            const uint64_t bytes = std::min(kTransferChunk, b.size - offset);
            GPUCR_CL_RETURN_IF_ERROR(
                clEnqueueReadBuffer(queue_, b.mem, CL_TRUE, offset, bytes, chunk.data(), 0, nullptr, nullptr));
            hasher.Update(chunk.data(), bytes);
        }
    }
    return hasher.Digest();
}

BufferSet::~BufferSet() {
    if (!host_.empty()) clFinish(ctx_.queue());  // the host memory outlives every command on it
    for (auto it = buffers_.rbegin(); it != buffers_.rend(); ++it) clReleaseMemObject(it->mem);
    for (void* p : host_) std::free(p);
}

Status BufferSet::Create(std::span<const BufferSpec> specs) {
    for (const BufferSpec& spec : specs) {
        cl_mem_flags flags = spec.host_written ? CL_MEM_READ_ONLY | CL_MEM_ALLOC_HOST_PTR : CL_MEM_READ_WRITE;
        void* host = nullptr;
        if (ctx_.use_host_ptr()) {
            host = std::aligned_alloc(4096, spec.size);  // sizes are multiples of 4 KiB
            if (host == nullptr) return Internal("out of host memory for a CL_MEM_USE_HOST_PTR buffer");
            host_.push_back(host);
            flags = CL_MEM_USE_HOST_PTR | (spec.host_written ? CL_MEM_READ_ONLY : CL_MEM_READ_WRITE);
        }
        cl_int error = CL_SUCCESS;
        cl_mem mem = clCreateBuffer(ctx_.context(), flags, spec.size, host, &error);
        if (error != CL_SUCCESS) return ClError("clCreateBuffer", error);
        buffers_.push_back(Buffer{mem, spec.size, spec.host_written});
    }
    return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Program, Kernel

Result<std::unique_ptr<Program>> Program::Create(Context& ctx, const char* source) {
    std::unique_ptr<Program> p(new Program());
    cl_int error = CL_SUCCESS;
    p->program_ = clCreateProgramWithSource(ctx.context(), 1, &source, nullptr, &error);
    if (error != CL_SUCCESS) return ClError("clCreateProgramWithSource", error);
    const cl_device_id device = ctx.device();
    error = clBuildProgram(p->program_, 1, &device, "", nullptr, nullptr);
    if (error != CL_SUCCESS) {
        Status status = ClError("clBuildProgram", error);
        return Status(status.code(), status.message() + "\n" + BuildLog(p->program_, device));
    }
    return p;
}

Program::~Program() {
    if (program_ != nullptr) clReleaseProgram(program_);
}

Result<std::unique_ptr<Kernel>> Kernel::Create(const Context& ctx, const Program& program, const char* name) {
    std::unique_ptr<Kernel> k(new Kernel());
    cl_int error = CL_SUCCESS;
    k->kernel_ = clCreateKernel(program.program(), name, &error);
    if (error != CL_SUCCESS) return ClError("clCreateKernel", error);
    size_t max_group = 0;
    GPUCR_CL_RETURN_IF_ERROR(clGetKernelWorkGroupInfo(k->kernel_, ctx.device(), CL_KERNEL_WORK_GROUP_SIZE,
                                                      sizeof(max_group), &max_group, nullptr));
    k->fixed_local_size_ = max_group >= kWorkgroupSize;
    return k;
}

Kernel::~Kernel() {
    if (kernel_ != nullptr) clReleaseKernel(kernel_);
}

Status Kernel::Enqueue(cl_command_queue queue, uint32_t items, cl_event* done) const {
    const uint32_t groups = std::clamp<uint32_t>((items + kWorkgroupSize - 1) / kWorkgroupSize, 1, kMaxGroups);
    const size_t global = size_t{groups} * kWorkgroupSize;
    const size_t local = kWorkgroupSize;
    GPUCR_CL_RETURN_IF_ERROR(clEnqueueNDRangeKernel(queue, kernel_, 1, nullptr, &global,
                                                    fixed_local_size_ ? &local : nullptr, 0, nullptr, done));
    return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Submission

Submission::~Submission() {
    if (done_ != nullptr) {
        clWaitForEvents(1, &done_);
        clReleaseEvent(done_);
    }
}

Status Submission::Begin() {
    if (in_flight()) return Internal("submission re-used while in flight");
    submitted_ = std::chrono::steady_clock::now();
    return Status::Ok();
}

Status Submission::Submit(cl_event done) {
    done_ = done;
    GPUCR_CL_RETURN_IF_ERROR(clFlush(queue_));
    return Status::Ok();
}

Result<double> Submission::Wait() {
    if (!in_flight()) return Internal("waiting for a submission that was not submitted");
    const cl_int error = clWaitForEvents(1, &done_);
    const double ms = MillisecondsSince(submitted_);
    clReleaseEvent(done_);
    done_ = nullptr;
    if (error != CL_SUCCESS) return ClError("clWaitForEvents", error);
    return ms;
}

void ReportSetup(const char* name, const Options& options, const Context& ctx, std::span<const Buffer> buffers) {
    uint64_t bytes = 0;
    bool host_written = false;
    for (const Buffer& b : buffers) {
        bytes += b.size;
        host_written = host_written || b.host_written;
    }
    PrintSetup(name, options, ctx.device_name(), buffers.size(), bytes,
               host_written ? "buffer read/write commands, input mapped per request" : "buffer read/write commands");
}

}  // namespace gpucr::examples::opencl
