// shim.cpp — what the ICD loader calls by name (clIcdGetPlatformIDsKHR, clGetExtensionFunctionAddress,
// clGetPlatformInfo), and the platform- and device-level entry points: enumeration, info queries
// (extension lists without what the shim cannot wrap), extension function lookup, sub-devices.
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cl_entry.h"
#include "dag/log.h"
#include "layers/opencl/dispatch.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/icd.h"
#include "layers/opencl/info_filter.h"
#include "layers/opencl/wrap.h"

#define GPUCR_EXPORT extern "C" __attribute__((visibility("default")))

namespace gpucr::cl {
namespace {

const cl_icd_dispatch* DispatchOf(const void* handle) { return *static_cast<cl_icd_dispatch* const*>(handle); }

cl_int GetPlatforms(cl_uint num_entries, cl_platform_id* platforms, cl_uint* num_platforms) {
    if ((num_entries == 0 && platforms != nullptr) || (platforms == nullptr && num_platforms == nullptr)) {
        return CL_INVALID_VALUE;
    }
    std::vector<cl_platform_id> all;
    if (Disabled()) {
        for (Icd* icd : Icds()) all.insert(all.end(), icd->real_platforms.begin(), icd->real_platforms.end());
    } else {
        for (Platform* p : Platforms()) all.push_back(reinterpret_cast<cl_platform_id>(p));
    }
    if (num_platforms != nullptr) *num_platforms = static_cast<cl_uint>(all.size());
    for (cl_uint i = 0; platforms != nullptr && i < num_entries && i < all.size(); ++i) platforms[i] = all[i];
    return all.empty() ? CL_PLATFORM_NOT_FOUND_KHR : CL_SUCCESS;
}

cl_int CL_API_CALL IcdGetPlatformIDs(cl_uint num_entries, cl_platform_id* platforms, cl_uint* num_platforms) noexcept;
cl_int CL_API_CALL LoaderGetPlatformInfo(cl_platform_id platform, cl_platform_info param_name, size_t param_value_size,
                                         void* param_value, size_t* param_value_size_ret) noexcept;

// Our entry point for `name` when `provided` (the real ICD has the function), else nullptr. The
// exported names are answered with the hidden implementations: inside this library a reference to an
// exported symbol could bind to the ICD loader's function of the same name.
void* ShimFunction(const char* name, bool provided) {
    if (name == nullptr) return nullptr;
    if (std::strcmp(name, "clIcdGetPlatformIDsKHR") == 0) return reinterpret_cast<void*>(&IcdGetPlatformIDs);
    if (std::strcmp(name, "clGetPlatformInfo") == 0) return reinterpret_cast<void*>(&LoaderGetPlatformInfo);
    if (!provided) return nullptr;
    const EntryPoint* e = FindEntryPoint(name);
    return e != nullptr ? e->fn : nullptr;
}

Platform* DefaultPlatform() { return Platforms().empty() ? nullptr : Platforms().front(); }

}  // namespace

void* GetExtensionFunctionAddress(const char* func_name) noexcept;

namespace entry {

cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries, cl_platform_id* platforms, cl_uint* num_platforms) noexcept {
    try {
        return GetPlatforms(num_entries, platforms, num_platforms);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clGetPlatformInfo(cl_platform_id platform, cl_platform_info param_name, size_t param_value_size,
                                     void* param_value, size_t* param_value_size_ret) noexcept {
    try {
        Object* self = Lookup(platform != nullptr ? platform : reinterpret_cast<cl_platform_id>(DefaultPlatform()));
        if (self == nullptr) return CL_INVALID_PLATFORM;
        auto real = static_cast<cl_platform_id>(self->real);
        auto query = [&](size_t size, void* value, size_t* size_ret) {
            return self->next->clGetPlatformInfo(real, param_name, size, value, size_ret);
        };
        if (IsFilteredExtensionQuery(param_name)) {
            return FilteredInfo(query, param_name, param_value_size, param_value, param_value_size_ret);
        }
        return query(param_value_size, param_value, param_value_size_ret);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

void* CL_API_CALL clGetExtensionFunctionAddress(const char* func_name) noexcept {
    return GetExtensionFunctionAddress(func_name);
}

void* CL_API_CALL clGetExtensionFunctionAddressForPlatform(cl_platform_id platform, const char* func_name) noexcept {
    try {
        Object* self = Lookup(platform);
        if (self == nullptr || func_name == nullptr) return nullptr;
        auto* p = static_cast<Platform*>(self);
        return ShimFunction(func_name, ExtensionFunction(p, func_name) != nullptr);
    } catch (...) {
        return nullptr;
    }
}

cl_int CL_API_CALL clUnloadCompiler() noexcept {
    // Deprecated hint with no object: forwarded to every platform.
    for (Platform* p : Platforms()) {
        if (p->next->clUnloadPlatformCompiler != nullptr) {
            p->next->clUnloadPlatformCompiler(static_cast<cl_platform_id>(p->real));
        }
    }
    return CL_SUCCESS;
}

cl_int CL_API_CALL clGetDeviceIDs(cl_platform_id platform, cl_device_type device_type, cl_uint num_entries,
                                  cl_device_id* devices, cl_uint* num_devices) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(platform != nullptr ? platform : reinterpret_cast<cl_platform_id>(DefaultPlatform()));
        if (self == nullptr) return CL_INVALID_PLATFORM;
        cl_uint own = 0;
        cl_uint* count = num_devices != nullptr ? num_devices : &own;
        cl_int r = self->next->clGetDeviceIDs(static_cast<cl_platform_id>(self->real), device_type, num_entries,
                                              devices, count);
        if (r == CL_SUCCESS && devices != nullptr) {
            for (cl_uint i = 0; i < num_entries && (num_devices == nullptr || i < *count); ++i) {
                devices[i] = WrapRetrievedAs(devices[i], self);
            }
        }
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info param_name, size_t param_value_size,
                                   void* param_value, size_t* param_value_size_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(device);
        if (self == nullptr) return CL_INVALID_DEVICE;
        auto real = static_cast<cl_device_id>(self->real);
        auto query = [&](size_t size, void* value, size_t* size_ret) {
            return self->next->clGetDeviceInfo(real, param_name, size, value, size_ret);
        };
        if (IsFilteredExtensionQuery(param_name)) {
            return FilteredInfo(query, param_name, param_value_size, param_value, param_value_size_ret);
        }
        size_t own = 0;
        size_t* size_ret = param_value_size_ret != nullptr ? param_value_size_ret : &own;
        cl_int r = query(param_value_size, param_value, size_ret);
        if (r == CL_SUCCESS && param_value != nullptr) {
            size_t bytes = std::min(param_value_size, *size_ret);
            if (param_name == CL_DEVICE_PLATFORM) WrapInfoHandles(ObjectType::kPlatform, self, param_value, bytes);
            if (param_name == CL_DEVICE_PARENT_DEVICE) WrapInfoHandles(ObjectType::kDevice, self, param_value, bytes);
        }
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

namespace {

// clCreateSubDevices and its EXT twin: wrap each new device, recording how it was made.
template <typename Prop, typename Fn>
cl_int CreateSubDevices(Object* self, Fn fn, const char* entry, const Prop* properties, cl_uint num_entries,
                        cl_device_id* out_devices, cl_uint* num_devices, std::vector<Prop> Device::*record) {
    cl_uint own = 0;
    cl_uint* count = num_devices != nullptr ? num_devices : &own;
    cl_int r = fn(static_cast<cl_device_id>(self->real), properties, num_entries, out_devices, count);
    if (r != CL_SUCCESS || out_devices == nullptr) return r;
    std::vector<Prop> props;
    for (const Prop* p = properties; p != nullptr && *p != 0; ++p) props.push_back(*p);
    props.push_back(0);
    for (cl_uint i = 0; i < num_entries && i < *count; ++i) {
        auto* d = static_cast<Device*>(NewWrapper(ObjectType::kDevice, out_devices[i], self, entry));
        d->parent = self->id;
        d->*record = props;
        d->partition_index = i;
        Hold(d, self);
        out_devices[i] = reinterpret_cast<cl_device_id>(d);
    }
    return r;
}

}  // namespace

cl_int CL_API_CALL clCreateSubDevices(cl_device_id in_device, const cl_device_partition_property* properties,
                                      cl_uint num_devices, cl_device_id* out_devices,
                                      cl_uint* num_devices_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(in_device);
        if (self == nullptr) return CL_INVALID_DEVICE;
        if (self->next->clCreateSubDevices == nullptr) return CL_INVALID_OPERATION;
        return CreateSubDevices(self, self->next->clCreateSubDevices, "clCreateSubDevices", properties, num_devices,
                                out_devices, num_devices_ret, &Device::partition);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clCreateSubDevicesEXT(cl_device_id in_device, const cl_device_partition_property_ext* properties,
                                         cl_uint num_entries, cl_device_id* out_devices,
                                         cl_uint* num_devices) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(in_device);
        if (self == nullptr) return CL_INVALID_DEVICE;
        auto fn = self->next->clCreateSubDevicesEXT;
        if (fn == nullptr) fn = reinterpret_cast<decltype(fn)>(ExtensionFunction(self, "clCreateSubDevicesEXT"));
        if (fn == nullptr) return CL_INVALID_OPERATION;
        return CreateSubDevices(self, fn, "clCreateSubDevicesEXT", properties, num_entries, out_devices, num_devices,
                                &Device::partition_ext);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace entry

const cl_icd_dispatch* ShimDispatch() {
    // Static storage (not heap): a handle's first word then points into this library, which is how
    // tests and tools tell the shim's handles from the real ICD's (dladdr).
    static cl_icd_dispatch table{};
    static std::once_flag once;
    std::call_once(once, [] { FillDispatch(&table); });
    return &table;
}

const EntryPoint* FindEntryPoint(const char* name) {
    for (size_t i = 0; i < kEntryPointCount; ++i) {
        if (std::strcmp(kEntryPoints[i].name, name) == 0) return &kEntryPoints[i];
    }
    return nullptr;
}

namespace {

cl_int CL_API_CALL IcdGetPlatformIDs(cl_uint num_entries, cl_platform_id* platforms, cl_uint* num_platforms) noexcept {
    try {
        return GetPlatforms(num_entries, platforms, num_platforms);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

// The loader asks every platform for CL_PLATFORM_ICD_SUFFIX_KHR through the exported
// clGetPlatformInfo; with GPUCR_DISABLE=1 the platforms are the real ones, so it dispatches on the handle.
cl_int CL_API_CALL LoaderGetPlatformInfo(cl_platform_id platform, cl_platform_info param_name, size_t param_value_size,
                                         void* param_value, size_t* param_value_size_ret) noexcept {
    try {
        if (platform == nullptr) {
            if (Disabled()) return CL_INVALID_PLATFORM;
            return entry::clGetPlatformInfo(nullptr, param_name, param_value_size, param_value, param_value_size_ret);
        }
        return DispatchOf(platform)->clGetPlatformInfo(platform, param_name, param_value_size, param_value,
                                                       param_value_size_ret);
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace

void* GetExtensionFunctionAddress(const char* func_name) noexcept {
    try {
        if (func_name == nullptr) return nullptr;
        void* real = nullptr;
        for (Icd* icd : Icds()) {
            if (icd->get_extension_function != nullptr && (real = icd->get_extension_function(func_name)) != nullptr) {
                break;
            }
        }
        if (Disabled()) return real;
        return ShimFunction(func_name, real != nullptr);
    } catch (...) {
        return nullptr;
    }
}

}  // namespace gpucr::cl

// Marks a gpucr shim, so that a shim never loads another one as its real ICD.
GPUCR_EXPORT const int gpucr_opencl_shim = 1;

GPUCR_EXPORT cl_int CL_API_CALL clIcdGetPlatformIDsKHR(cl_uint num_entries, cl_platform_id* platforms,
                                                       cl_uint* num_platforms) {
    return gpucr::cl::IcdGetPlatformIDs(num_entries, platforms, num_platforms);
}

GPUCR_EXPORT void* CL_API_CALL clGetExtensionFunctionAddress(const char* func_name) {
    return gpucr::cl::GetExtensionFunctionAddress(func_name);
}

GPUCR_EXPORT cl_int CL_API_CALL clGetPlatformInfo(cl_platform_id platform, cl_platform_info param_name,
                                                  size_t param_value_size, void* param_value,
                                                  size_t* param_value_size_ret) {
    return gpucr::cl::LoaderGetPlatformInfo(platform, param_name, param_value_size, param_value, param_value_size_ret);
}
