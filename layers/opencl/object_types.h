// object_types.h — what the shim records per OpenCL object: enough to describe it in an image and
// to create it again. References to other objects are by stable id, never by handle or pointer.
//
//   Mem* m = Get(app_buffer);
//   std::lock_guard lock(m->mu);
//   if (m->kind == MemKind::kSubBuffer) Recreate(m->parent, m->region, m->flags);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "layers/opencl/objects.h"

namespace gpucr::cl {

struct Icd;

struct Platform : Object {
    Icd* icd = nullptr;  // the library that provides it
    std::string name;    // CL_PLATFORM_NAME, for logs and describe
    std::mutex ext_mu;   // extension functions, looked up once per name
    std::unordered_map<std::string, void*> ext_functions;
};

struct Device : Object {
    uint64_t parent = 0;  // parent device id (sub-devices), 0 for root devices
    std::string name;     // CL_DEVICE_NAME
    cl_device_type device_type = 0;
    std::vector<cl_device_partition_property> partition;          // clCreateSubDevices' list, 0-terminated
    std::vector<cl_device_partition_property_ext> partition_ext;  // clCreateSubDevicesEXT's list
    uint32_t partition_index = 0;                                 // position among the sub-devices of that call
};

struct Context : Object {
    std::vector<uint64_t> devices;  // device ids, in the order the application gave them
    // The application's property list (0-terminated, empty when it passed NULL); the value of
    // CL_CONTEXT_PLATFORM is the platform's id.
    std::vector<cl_context_properties> properties;
    bool from_type = false;  // clCreateContextFromType
    cl_device_type device_type = 0;
    // The application's notify callback (it receives no handle), for a re-created context.
    void(CL_CALLBACK* notify)(const char*, const void*, size_t, void*) = nullptr;
    void* notify_user_data = nullptr;
};

struct CommandQueue : Object {
    uint64_t device = 0;
    cl_command_queue_properties properties = 0;      // bitfield in effect (clSetCommandQueueProperty applied)
    bool with_properties = false;                    // clCreateCommandQueueWithProperties[KHR]
    std::vector<cl_queue_properties> property_list;  // its list, 0-terminated (empty for NULL)
};

enum class MemKind : uint8_t { kBuffer, kSubBuffer, kImage, kPipe, kOther };
const char* MemKindName(MemKind kind);

struct Mem : Object {
    MemKind kind = MemKind::kOther;
    cl_mem_flags flags = 0;
    size_t size = 0;                            // buffer bytes; images and pipes: CL_MEM_SIZE
    void* host_ptr = nullptr;                   // the application's host_ptr (USE/COPY_HOST_PTR)
    bool with_properties = false;               // created by a ...WithProperties entry point
    std::vector<cl_mem_properties> properties;  // its list, 0-terminated (empty for NULL)
    uint64_t parent = 0;                        // sub-buffer: buffer; image: desc.mem_object
    cl_buffer_create_type create_type = 0;      // sub-buffer
    cl_buffer_region region{};                  // sub-buffer
    cl_image_format image_format{};             // images
    cl_image_desc image_desc{};                 // images; mem_object cleared (see parent)
    cl_uint pipe_packet_size = 0;               // pipes
    cl_uint pipe_max_packets = 0;
    bool real_watched = false;                  // the shim's destructor callback is on `real` (WatchRealMem)
};

struct Sampler : Object {
    cl_bool normalized_coords = CL_FALSE;
    cl_addressing_mode addressing_mode = CL_ADDRESS_CLAMP;
    cl_filter_mode filter_mode = CL_FILTER_NEAREST;
    bool with_properties = false;
    std::vector<cl_sampler_properties> properties;  // clCreateSamplerWithProperties' list, 0-terminated
};

enum class ProgramOrigin : uint8_t { kSource, kIL, kBinary, kBuiltInKernels, kLinked };
const char* ProgramOriginName(ProgramOrigin origin);

// One clBuildProgram / clCompileProgram / clLinkProgram as it applied to one device.
struct ProgramBuild {
    std::string kind;                       // "build", "compile", "link"
    std::string app_options;                // what the application passed
    std::string options;                    // what the real ICD got (-cl-kernel-arg-info added)
    std::vector<uint64_t> headers;          // compile: header program ids
    std::vector<std::string> header_names;  // compile: their include names
    cl_int result = CL_SUCCESS;
};

struct Program : Object {
    ProgramOrigin origin = ProgramOrigin::kSource;
    std::string source;                                 // kSource: the strings, concatenated
    std::vector<uint8_t> il;                            // kIL
    std::map<uint64_t, std::vector<uint8_t>> binaries;  // kBinary: device id -> binary
    std::string kernel_names;                           // kBuiltInKernels
    std::vector<uint64_t> devices;                      // device list given at creation (binary, built-in, link)
    std::vector<uint64_t> inputs;                       // kLinked: input program ids
    std::map<uint64_t, ProgramBuild> builds;            // device id -> last build/compile/link for it
    bool arg_info_added = false;                        // the shim added -cl-kernel-arg-info to the last build
    std::map<cl_uint, std::vector<uint8_t>> spec_constants;
};

struct KernelArgInfo {
    bool known = false;  // clGetKernelArgInfo answered
    cl_kernel_arg_address_qualifier address = 0;
    cl_kernel_arg_access_qualifier access = 0;
    cl_kernel_arg_type_qualifier type_qualifier = 0;
    std::string type_name;
    std::string name;
};

struct KernelArg {
    enum class Kind : uint8_t { kUnset, kValue, kLocal, kMem, kSampler, kHandle, kSvm };
    Kind kind = Kind::kUnset;
    size_t size = 0;
    std::vector<uint8_t> value;  // kValue: the bytes
    uint64_t object = 0;         // kMem, kSampler, kHandle: id (kMem may be 0 for NULL)
    const void* svm = nullptr;   // kSvm: the pointer
};
const char* KernelArgKindName(KernelArg::Kind kind);

struct Kernel : Object {
    uint64_t program = 0;
    std::string name;                  // CL_KERNEL_FUNCTION_NAME
    uint64_t cloned_from = 0;          // clCloneKernel's source kernel
    Object* program_object = nullptr;  // the program (held), for navigation only
    bool arg_info_hidden = false;      // argument info exists only because the shim asked for it
    std::vector<KernelArgInfo> arg_info;
    std::vector<KernelArg> args;  // as last set by clSetKernelArg*
    std::vector<std::pair<cl_kernel_exec_info, std::vector<uint8_t>>> exec_info;
};

struct Event : Object {
    uint64_t queue = 0;   // 0 for user events and events without a queue
    std::string command;  // entry point that made it: "clEnqueueNDRangeKernel"
    bool user = false;
    cl_int user_status = CL_SUBMITTED;  // clSetUserEventStatus
};

#define GPUCR_CL_WRAPPER(handle, wrapper, kind)               \
    template <>                                               \
    struct WrapperOf<handle> {                                \
        using type = wrapper;                                 \
        static constexpr ObjectType kType = ObjectType::kind; \
    }
GPUCR_CL_WRAPPER(cl_platform_id, Platform, kPlatform);
GPUCR_CL_WRAPPER(cl_device_id, Device, kDevice);
GPUCR_CL_WRAPPER(cl_context, Context, kContext);
GPUCR_CL_WRAPPER(cl_command_queue, CommandQueue, kCommandQueue);
GPUCR_CL_WRAPPER(cl_mem, Mem, kMem);
GPUCR_CL_WRAPPER(cl_sampler, Sampler, kSampler);
GPUCR_CL_WRAPPER(cl_program, Program, kProgram);
GPUCR_CL_WRAPPER(cl_kernel, Kernel, kKernel);
GPUCR_CL_WRAPPER(cl_event, Event, kEvent);
#undef GPUCR_CL_WRAPPER

}  // namespace gpucr::cl
