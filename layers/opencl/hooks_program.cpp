// hooks_program.cpp — programs (sources, IL, binaries, builds with -cl-kernel-arg-info added, build
// callbacks) and kernels (argument info, clSetKernelArg with handle values unwrapped).
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cl_entry.h"
#include "cl_hooks.h"
#include "dag/log.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

constexpr const char* kArgInfoOption = "-cl-kernel-arg-info";

Program* ProgramOf(Object* o) { return static_cast<Program*>(o); }
Kernel* KernelOf(Object* o) { return static_cast<Kernel*>(o); }

// The options the real ICD gets: the application's with -cl-kernel-arg-info added unless present.
std::string WithArgInfo(const char* options, bool* added) {
    std::string o = options != nullptr ? options : "";
    *added = o.find(kArgInfoOption) == std::string::npos;
    if (*added) o += o.empty() ? kArgInfoOption : std::string(" ") + kArgInfoOption;
    return o;
}

// Device ids a build applies to: the given list, else the program's devices.
std::vector<uint64_t> BuildDevices(Object* program, cl_uint num_devices, const cl_device_id* device_list) {
    if (device_list != nullptr && num_devices > 0) return IdsOf(device_list, num_devices);
    std::vector<uint64_t> ids;
    auto real = static_cast<cl_program>(program->real);
    size_t n = 0;
    if (program->next->clGetProgramInfo(real, CL_PROGRAM_DEVICES, 0, nullptr, &n) != CL_SUCCESS) return ids;
    std::vector<cl_device_id> devices(n / sizeof(cl_device_id));
    if (program->next->clGetProgramInfo(real, CL_PROGRAM_DEVICES, n, devices.data(), nullptr) != CL_SUCCESS) {
        return ids;
    }
    for (cl_device_id d : devices) ids.push_back(WrapRetrieved(ObjectType::kDevice, d, program)->id);
    return ids;
}

void RecordBuild(Program* p, const std::vector<uint64_t>& devices, ProgramBuild build, bool arg_info_added) {
    std::lock_guard lock(p->mu);
    for (uint64_t d : devices) p->builds[d] = build;
    p->arg_info_added = arg_info_added;
}

// A build/compile/link callback: called once, with the application's program handle. The record
// holds a reference on the program (or, for link, its context) until the callback has run or the
// call returned an error that means it never will.
struct BuildRecord {
    void(CL_CALLBACK* fn)(cl_program, void*) = nullptr;
    void* user_data = nullptr;
    Object* held = nullptr;  // program (build, compile) or context (link)
    std::atomic<bool> holding{false};
    std::mutex mu;
    Object* program = nullptr;  // link: created on whichever comes first, callback or return
    void Release() {
        if (holding.exchange(false)) Unref(held);
    }
};

Object* LinkedProgram(BuildRecord* r, cl_program real) {
    std::lock_guard lock(r->mu);
    if (r->program == nullptr && real != nullptr) {
        r->program = NewWrapper(ObjectType::kProgram, real, r->held, "clLinkProgram");
    }
    return r->program;
}

void CL_CALLBACK OnBuilt(cl_program real, void* user_data) {
    auto* r = static_cast<BuildRecord*>(user_data);
    Object* p = r->program != nullptr ? r->program : r->held;
    r->fn(reinterpret_cast<cl_program>(p), r->user_data);
    r->Release();  // last: may free the program and this record
}

void CL_CALLBACK OnLinked(cl_program real, void* user_data) {
    auto* r = static_cast<BuildRecord*>(user_data);
    Object* p = LinkedProgram(r, real);
    r->fn(reinterpret_cast<cl_program>(p), r->user_data);
    r->Release();
}

std::shared_ptr<BuildRecord> MakeRecord(void(CL_CALLBACK* fn)(cl_program, void*), void* user_data, Object* held) {
    if (fn == nullptr) return nullptr;
    auto r = std::make_shared<BuildRecord>();
    r->fn = fn;
    r->user_data = user_data;
    r->held = held;
    AddRef(held);
    r->holding.store(true);
    std::lock_guard lock(held->mu);
    held->keep.push_back(r);
    return r;
}

bool BuildStarted(cl_int r) {
    return r == CL_SUCCESS || r == CL_BUILD_PROGRAM_FAILURE || r == CL_COMPILE_PROGRAM_FAILURE ||
           r == CL_LINK_PROGRAM_FAILURE;
}

enum class ArgClass { kUnknown, kValue, kLocal, kMem, kSampler };

ArgClass Classify(const Kernel& k, cl_uint index) {
    if (index >= k.arg_info.size() || !k.arg_info[index].known) return ArgClass::kUnknown;
    const KernelArgInfo& a = k.arg_info[index];
    if (a.address == CL_KERNEL_ARG_ADDRESS_LOCAL) return ArgClass::kLocal;
    if (a.address == CL_KERNEL_ARG_ADDRESS_GLOBAL || a.address == CL_KERNEL_ARG_ADDRESS_CONSTANT) return ArgClass::kMem;
    if (a.type_name.find("sampler_t") != std::string::npos) return ArgClass::kSampler;
    if (a.type_name.find("image") != std::string::npos || a.type_name.find("pipe") != std::string::npos) {
        return ArgClass::kMem;
    }
    return ArgClass::kValue;
}

std::string ArgInfoString(Kernel* k, cl_uint i, cl_kernel_arg_info what) {
    size_t n = 0;
    auto real = static_cast<cl_kernel>(k->real);
    if (k->next->clGetKernelArgInfo(real, i, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
    std::string s(n, '\0');
    if (k->next->clGetKernelArgInfo(real, i, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
    s.resize(std::strlen(s.c_str()));
    return s;
}

// Name, program and argument info of a new kernel.
void InitKernel(Kernel* k, Object* program) {
    auto real = static_cast<cl_kernel>(k->real);
    Hold(k, program);
    std::string name;
    size_t n = 0;
    if (k->next->clGetKernelInfo(real, CL_KERNEL_FUNCTION_NAME, 0, nullptr, &n) == CL_SUCCESS && n > 0) {
        name.resize(n);
        k->next->clGetKernelInfo(real, CL_KERNEL_FUNCTION_NAME, n, name.data(), nullptr);
        name.resize(std::strlen(name.c_str()));
    }
    cl_uint num_args = 0;
    k->next->clGetKernelInfo(real, CL_KERNEL_NUM_ARGS, sizeof(num_args), &num_args, nullptr);
    std::vector<KernelArgInfo> info(num_args);
    for (cl_uint i = 0; i < num_args && k->next->clGetKernelArgInfo != nullptr; ++i) {
        KernelArgInfo& a = info[i];
        a.known = k->next->clGetKernelArgInfo(real, i, CL_KERNEL_ARG_ADDRESS_QUALIFIER, sizeof(a.address), &a.address,
                                              nullptr) == CL_SUCCESS;
        if (!a.known) continue;
        k->next->clGetKernelArgInfo(real, i, CL_KERNEL_ARG_ACCESS_QUALIFIER, sizeof(a.access), &a.access, nullptr);
        k->next->clGetKernelArgInfo(real, i, CL_KERNEL_ARG_TYPE_QUALIFIER, sizeof(a.type_qualifier), &a.type_qualifier,
                                    nullptr);
        a.type_name = ArgInfoString(k, i, CL_KERNEL_ARG_TYPE_NAME);
        a.name = ArgInfoString(k, i, CL_KERNEL_ARG_NAME);
    }
    bool hidden = false;
    {
        std::lock_guard lock(program->mu);
        hidden = ProgramOf(program)->arg_info_added;
    }
    std::lock_guard lock(k->mu);
    k->program = program->id;
    k->program_object = program;
    k->name = std::move(name);
    k->arg_info = std::move(info);
    k->args.assign(num_args, KernelArg{});
    k->arg_info_hidden = hidden;
}

}  // namespace

namespace entry {

cl_int CL_API_CALL clBuildProgram(cl_program program, cl_uint num_devices, const cl_device_id* device_list,
                                  const char* options, void(CL_CALLBACK* pfn_notify)(cl_program, void*),
                                  void* user_data) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(program);
        if (self == nullptr) return CL_INVALID_PROGRAM;
        bool added = false;
        std::string real_options = WithArgInfo(options, &added);
        UnwrappedArray<cl_device_id> devices(device_list, num_devices);
        std::shared_ptr<BuildRecord> record = MakeRecord(pfn_notify, user_data, self);
        cl_int r = self->next->clBuildProgram(static_cast<cl_program>(self->real), num_devices, devices.data(),
                                              real_options.c_str(), record ? OnBuilt : nullptr, record.get());
        if (record && !BuildStarted(r)) record->Release();
        ProgramBuild b{"build", options != nullptr ? options : "", real_options, {}, {}, r};
        RecordBuild(ProgramOf(self), BuildDevices(self, num_devices, device_list), std::move(b), added);
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clCompileProgram(cl_program program, cl_uint num_devices, const cl_device_id* device_list,
                                    const char* options, cl_uint num_input_headers, const cl_program* input_headers,
                                    const char** header_include_names, void(CL_CALLBACK* pfn_notify)(cl_program, void*),
                                    void* user_data) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(program);
        if (self == nullptr) return CL_INVALID_PROGRAM;
        if (self->next->clCompileProgram == nullptr) return CL_INVALID_OPERATION;
        bool added = false;
        std::string real_options = WithArgInfo(options, &added);
        UnwrappedArray<cl_device_id> devices(device_list, num_devices);
        UnwrappedArray<cl_program> headers(input_headers, num_input_headers);
        std::shared_ptr<BuildRecord> record = MakeRecord(pfn_notify, user_data, self);
        cl_int r = self->next->clCompileProgram(static_cast<cl_program>(self->real), num_devices, devices.data(),
                                                real_options.c_str(), num_input_headers, headers.data(),
                                                header_include_names, record ? OnBuilt : nullptr, record.get());
        if (record && !BuildStarted(r)) record->Release();
        ProgramBuild b{"compile", options != nullptr ? options : "", real_options, {}, {}, r};
        for (cl_uint i = 0; input_headers != nullptr && i < num_input_headers; ++i) {
            b.headers.push_back(IdOf(input_headers[i]));
            b.header_names.emplace_back(
                header_include_names != nullptr && header_include_names[i] != nullptr ? header_include_names[i] : "");
        }
        RecordBuild(ProgramOf(self), BuildDevices(self, num_devices, device_list), std::move(b), added);
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_program CL_API_CALL clLinkProgram(cl_context context, cl_uint num_devices, const cl_device_id* device_list,
                                     const char* options, cl_uint num_input_programs, const cl_program* input_programs,
                                     void(CL_CALLBACK* pfn_notify)(cl_program, void*), void* user_data,
                                     cl_int* errcode_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(context);
        if (self == nullptr || self->next->clLinkProgram == nullptr) {
            if (errcode_ret != nullptr) *errcode_ret = self == nullptr ? CL_INVALID_CONTEXT : CL_INVALID_OPERATION;
            return nullptr;
        }
        UnwrappedArray<cl_device_id> devices(device_list, num_devices);
        UnwrappedArray<cl_program> inputs(input_programs, num_input_programs);
        // Without a callback the record is still the one place the new wrapper is made.
        auto record = std::make_shared<BuildRecord>();
        record->held = self;
        std::shared_ptr<BuildRecord> cb = MakeRecord(pfn_notify, user_data, self);
        BuildRecord* r = cb ? cb.get() : record.get();
        cl_program real = self->next->clLinkProgram(static_cast<cl_context>(self->real), num_devices, devices.data(),
                                                    options, num_input_programs, inputs.data(), cb ? OnLinked : nullptr,
                                                    cb.get(), errcode_ret);
        Object* p = LinkedProgram(r, real);
        if (cb && real == nullptr) cb->Release();
        if (p == nullptr) return nullptr;
        auto* prog = ProgramOf(p);
        std::vector<uint64_t> build_devices = BuildDevices(p, num_devices, device_list);
        {
            std::lock_guard lock(prog->mu);
            prog->origin = ProgramOrigin::kLinked;
            prog->devices = IdsOf(device_list, num_devices);
            for (cl_uint i = 0; input_programs != nullptr && i < num_input_programs; ++i) {
                prog->inputs.push_back(IdOf(input_programs[i]));
            }
        }
        cl_int result = errcode_ret != nullptr ? *errcode_ret : CL_SUCCESS;
        ProgramBuild b{"link", options != nullptr ? options : "", options != nullptr ? options : "", {}, {}, result};
        RecordBuild(prog, build_devices, std::move(b), false);
        return reinterpret_cast<cl_program>(p);
    } catch (...) {
        if (errcode_ret != nullptr) *errcode_ret = CL_OUT_OF_HOST_MEMORY;
        return nullptr;
    }
}

cl_int CL_API_CALL clSetProgramReleaseCallback(cl_program program, void(CL_CALLBACK* pfn_notify)(cl_program, void*),
                                               void* user_data) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(program);
        if (self == nullptr) return CL_INVALID_PROGRAM;
        if (self->next->clSetProgramReleaseCallback == nullptr) return CL_INVALID_OPERATION;
        auto real = static_cast<cl_program>(self->real);
        if (pfn_notify == nullptr) return self->next->clSetProgramReleaseCallback(real, nullptr, user_data);
        return AddReleaseCallback(self, pfn_notify, user_data, true);  // the wrapper stays until it has run
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clGetProgramBuildInfo(cl_program program, cl_device_id device, cl_program_build_info param_name,
                                         size_t param_value_size, void* param_value,
                                         size_t* param_value_size_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(program);
        if (self == nullptr) return CL_INVALID_PROGRAM;
        auto real = static_cast<cl_program>(self->real);
        cl_device_id real_device = UnwrapAs(device);
        std::optional<std::string> app;  // the options as the application gave them, if the shim changed them
        if (param_name == CL_PROGRAM_BUILD_OPTIONS) {
            uint64_t dev = IdOf(device);
            std::lock_guard lock(self->mu);
            auto it = ProgramOf(self)->builds.find(dev);
            if (it != ProgramOf(self)->builds.end() && it->second.options != it->second.app_options) {
                app = it->second.app_options;
            }
        }
        if (!app) {
            return self->next->clGetProgramBuildInfo(real, real_device, param_name, param_value_size, param_value,
                                                     param_value_size_ret);
        }
        size_t real_size = 0;  // the real ICD still judges the arguments
        cl_int r = self->next->clGetProgramBuildInfo(real, real_device, param_name, 0, nullptr, &real_size);
        if (r != CL_SUCCESS) return r;
        if (param_value != nullptr) {
            if (param_value_size < app->size() + 1) return CL_INVALID_VALUE;
            std::memcpy(param_value, app->c_str(), app->size() + 1);
        }
        if (param_value_size_ret != nullptr) *param_value_size_ret = app->size() + 1;
        return CL_SUCCESS;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clCreateKernelsInProgram(cl_program program, cl_uint num_kernels, cl_kernel* kernels,
                                            cl_uint* num_kernels_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(program);
        if (self == nullptr) return CL_INVALID_PROGRAM;
        cl_uint own = 0;
        cl_uint* count = num_kernels_ret != nullptr ? num_kernels_ret : &own;
        cl_int r =
            self->next->clCreateKernelsInProgram(static_cast<cl_program>(self->real), num_kernels, kernels, count);
        if (r != CL_SUCCESS || kernels == nullptr) return r;
        cl_uint made = num_kernels_ret != nullptr ? std::min(num_kernels, *count) : num_kernels;
        for (cl_uint i = 0; i < made && kernels[i] != nullptr; ++i) {
            Object* k = NewWrapper(ObjectType::kKernel, kernels[i], self, "clCreateKernelsInProgram");
            InitKernel(KernelOf(k), self);
            kernels[i] = reinterpret_cast<cl_kernel>(k);
        }
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clSetKernelArg(cl_kernel kernel, cl_uint arg_index, size_t arg_size,
                                  const void* arg_value) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(kernel);
        if (self == nullptr) return CL_INVALID_KERNEL;
        Kernel* k = KernelOf(self);
        ArgClass cls = ArgClass::kUnknown;
        {
            std::lock_guard lock(k->mu);
            cls = Classify(*k, arg_index);
        }
        KernelArg rec;
        rec.size = arg_size;
        const void* value = arg_value;
        void* real_handle = nullptr;
        bool handle_sized = arg_value != nullptr && arg_size == sizeof(void*);
        Object* o = handle_sized && cls != ArgClass::kValue && cls != ArgClass::kLocal
                        ? Lookup(*static_cast<void* const*>(arg_value))
                        : nullptr;
        if (o != nullptr) {
            // One of ours (of whatever type: the real ICD judges it as it would the real handle).
            real_handle = o->real;
            value = &real_handle;
            rec.kind = o->type == ObjectType::kMem       ? KernelArg::Kind::kMem
                       : o->type == ObjectType::kSampler ? KernelArg::Kind::kSampler
                                                         : KernelArg::Kind::kHandle;
            rec.object = o->id;
        } else if (cls == ArgClass::kMem &&
                   (arg_value == nullptr || (handle_sized && *static_cast<void* const*>(arg_value) == nullptr))) {
            rec.kind = KernelArg::Kind::kMem;  // a NULL buffer
        } else if (arg_value == nullptr) {
            rec.kind = KernelArg::Kind::kLocal;
        } else {
            rec.kind = KernelArg::Kind::kValue;
            const auto* b = static_cast<const uint8_t*>(arg_value);
            rec.value.assign(b, b + arg_size);
        }
        cl_int r = self->next->clSetKernelArg(static_cast<cl_kernel>(self->real), arg_index, arg_size, value);
        if (r == CL_SUCCESS) {
            std::lock_guard lock(k->mu);
            if (arg_index >= k->args.size()) k->args.resize(arg_index + 1);
            k->args[arg_index] = std::move(rec);
        }
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace entry

namespace hooks {

void PostCall_clCreateProgramWithSource(Object*, cl_program result, cl_context, cl_uint count, const char** strings,
                                        const size_t* lengths, cl_int*) noexcept {
    Program* p = ProgramOf(reinterpret_cast<Object*>(result));
    try {
        std::string source;
        for (cl_uint i = 0; strings != nullptr && i < count; ++i) {
            if (strings[i] == nullptr) continue;
            size_t n = lengths == nullptr || lengths[i] == 0 ? std::strlen(strings[i]) : lengths[i];
            source.append(strings[i], n);
        }
        std::lock_guard lock(p->mu);
        p->origin = ProgramOrigin::kSource;
        p->source = std::move(source);
    } catch (...) {
        MarkUnsupported(p, "recording failed (out of memory)");
    }
}

void PostCall_clCreateProgramWithBinary(Object*, cl_program result, cl_context, cl_uint num_devices,
                                        const cl_device_id* device_list, const size_t* lengths,
                                        const unsigned char** binaries, cl_int*, cl_int*) noexcept {
    Program* p = ProgramOf(reinterpret_cast<Object*>(result));
    try {
        std::vector<uint64_t> ids = IdsOf(device_list, num_devices);
        std::lock_guard lock(p->mu);
        p->origin = ProgramOrigin::kBinary;
        p->devices = ids;
        for (cl_uint i = 0; i < num_devices && lengths != nullptr && binaries != nullptr; ++i) {
            if (binaries[i] != nullptr) p->binaries[ids[i]].assign(binaries[i], binaries[i] + lengths[i]);
        }
    } catch (...) {
        MarkUnsupported(p, "recording failed (out of memory)");
    }
}

void PostCall_clCreateProgramWithIL(Object*, cl_program result, cl_context, const void* il, size_t length,
                                    cl_int*) noexcept {
    Program* p = ProgramOf(reinterpret_cast<Object*>(result));
    try {
        std::lock_guard lock(p->mu);
        p->origin = ProgramOrigin::kIL;
        const auto* b = static_cast<const uint8_t*>(il);
        if (b != nullptr) p->il.assign(b, b + length);
    } catch (...) {
        MarkUnsupported(p, "recording failed (out of memory)");
    }
}

void PostCall_clCreateProgramWithBuiltInKernels(Object*, cl_program result, cl_context, cl_uint num_devices,
                                                const cl_device_id* device_list, const char* kernel_names,
                                                cl_int*) noexcept {
    Program* p = ProgramOf(reinterpret_cast<Object*>(result));
    try {
        std::vector<uint64_t> ids = IdsOf(device_list, num_devices);
        std::lock_guard lock(p->mu);
        p->origin = ProgramOrigin::kBuiltInKernels;
        p->devices = std::move(ids);
        p->kernel_names = kernel_names != nullptr ? kernel_names : "";
    } catch (...) {
        MarkUnsupported(p, "recording failed (out of memory)");
    }
}

void PostCall_clSetProgramSpecializationConstant(Object* self, cl_int result, cl_program, cl_uint spec_id,
                                                 size_t spec_size, const void* spec_value) noexcept {
    if (result != CL_SUCCESS || spec_value == nullptr) return;
    try {
        const auto* b = static_cast<const uint8_t*>(spec_value);
        std::lock_guard lock(self->mu);
        ProgramOf(self)->spec_constants[spec_id].assign(b, b + spec_size);
    } catch (...) {
        MarkUnsupported(self, "recording failed (out of memory)");
    }
}

cl_int PreCall_clGetKernelArgInfo(Object* self, cl_kernel, cl_uint arg_indx, cl_kernel_arg_info, size_t, void*,
                                  size_t*) noexcept {
    // Without -cl-kernel-arg-info from the application the real ICD would have no argument info.
    Kernel* k = KernelOf(self);
    std::lock_guard lock(k->mu);
    if (!k->arg_info_hidden) return CL_SUCCESS;
    return arg_indx >= k->arg_info.size() ? CL_INVALID_ARG_INDEX : CL_KERNEL_ARG_INFO_NOT_AVAILABLE;
}

void PostCall_clCreateKernel(Object* self, cl_kernel result, cl_program, const char*, cl_int*) noexcept {
    try {
        InitKernel(KernelOf(reinterpret_cast<Object*>(result)), self);
    } catch (...) {
        MarkUnsupported(reinterpret_cast<Object*>(result), "recording failed (out of memory)");
    }
}

void PostCall_clCloneKernel(Object* self, cl_kernel result, cl_kernel, cl_int*) noexcept {
    Kernel* k = KernelOf(reinterpret_cast<Object*>(result));
    Kernel* src = KernelOf(self);
    try {
        Object* program = nullptr;
        Kernel copy;
        {
            std::lock_guard lock(src->mu);
            program = src->program_object;
            copy.name = src->name;
            copy.arg_info = src->arg_info;
            copy.args = src->args;
            copy.arg_info_hidden = src->arg_info_hidden;
            copy.program = src->program;
        }
        if (program != nullptr) Hold(k, program);
        std::lock_guard lock(k->mu);
        k->program = copy.program;
        k->program_object = program;
        k->name = std::move(copy.name);
        k->arg_info = std::move(copy.arg_info);
        k->args = std::move(copy.args);
        k->arg_info_hidden = copy.arg_info_hidden;
        k->cloned_from = src->id;
    } catch (...) {
        MarkUnsupported(k, "recording failed (out of memory)");
    }
}

void PostCall_clSetKernelArgSVMPointer(Object* self, cl_int result, cl_kernel, cl_uint arg_index,
                                       const void* arg_value) noexcept {
    if (result != CL_SUCCESS) return;
    try {
        Kernel* k = KernelOf(self);
        std::lock_guard lock(k->mu);
        if (arg_index >= k->args.size()) k->args.resize(arg_index + 1);
        KernelArg& a = k->args[arg_index];
        a = KernelArg{};
        a.kind = KernelArg::Kind::kSvm;
        a.size = sizeof(void*);
        a.svm = arg_value;
    } catch (...) {
        MarkUnsupported(self, "recording failed (out of memory)");
    }
}

void PostCall_clSetKernelExecInfo(Object* self, cl_int result, cl_kernel, cl_kernel_exec_info param_name,
                                  size_t param_value_size, const void* param_value) noexcept {
    if (result != CL_SUCCESS || param_value == nullptr) return;
    try {
        const auto* b = static_cast<const uint8_t*>(param_value);
        std::lock_guard lock(self->mu);
        KernelOf(self)->exec_info.emplace_back(param_name, std::vector<uint8_t>(b, b + param_value_size));
    } catch (...) {
        MarkUnsupported(self, "recording failed (out of memory)");
    }
}

}  // namespace hooks
}  // namespace gpucr::cl
