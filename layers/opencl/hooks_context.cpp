// hooks_context.cpp — contexts (property lists with platform handles, devices, destructor callbacks)
// and command queues.
#include <cstring>
#include <vector>

#include "cl_entry.h"
#include "cl_hooks.h"
#include "dag/agent.h"
#include "dag/log.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/icd.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

// A context property list for the real ICD (platform handles unwrapped) and as recorded (platform
// handles replaced by their ids). Properties other than the platform and user sync are interop
// (GL, EGL, D3D, VA): forwarded, and the context marked.
struct ContextProperties {
    std::vector<cl_context_properties> real;
    std::vector<cl_context_properties> recorded;
    Object* platform = nullptr;
    std::string unsupported;

    explicit ContextProperties(const cl_context_properties* app) {
        if (app == nullptr) return;
        for (const cl_context_properties* p = app; *p != 0; p += 2) {
            cl_context_properties key = p[0], value = p[1], recorded_value = value;
            if (key == CL_CONTEXT_PLATFORM) {
                platform = Lookup(reinterpret_cast<void*>(value));
                if (platform != nullptr) {
                    value = reinterpret_cast<cl_context_properties>(platform->real);
                    recorded_value = static_cast<cl_context_properties>(platform->id);
                }
            } else if (key != CL_CONTEXT_INTEROP_USER_SYNC && unsupported.empty()) {
                unsupported = "context property 0x" + fmt::format("{:x}", key) + " (interoperability) is not captured";
            }
            real.insert(real.end(), {key, value});
            recorded.insert(recorded.end(), {key, recorded_value});
        }
        real.push_back(0);
        recorded.push_back(0);
    }
    const cl_context_properties* data() const { return real.empty() ? nullptr : real.data(); }
};

Object* DefaultPlatform() { return Platforms().empty() ? nullptr : Platforms().front(); }

void RecordDevices(Context* c, const std::vector<Object*>& devices) {
    std::vector<uint64_t> ids;
    for (Object* d : devices) {
        ids.push_back(d->id);
        Hold(c, d);
    }
    std::lock_guard lock(c->mu);
    c->devices = std::move(ids);
}

using ContextNotify = void(CL_CALLBACK*)(const char*, const void*, size_t, void*);

Context* NewContext(cl_context real, Object* creator, const char* entry, const ContextProperties& props,
                    ContextNotify notify, void* user_data) {
    auto* c = static_cast<Context*>(NewWrapper(ObjectType::kContext, real, creator, entry));
    {
        std::lock_guard lock(c->mu);
        c->properties = props.recorded;
        c->notify = notify;
        c->notify_user_data = user_data;
    }
    if (!props.unsupported.empty()) MarkUnsupported(c, props.unsupported);
    agent::EnsureRunning();
    return c;
}

// The devices of a real context, as the application's wrappers.
std::vector<Object*> ContextDevices(Context* c) {
    auto real = static_cast<cl_context>(c->real);
    size_t n = 0;
    std::vector<Object*> out;
    if (c->next->clGetContextInfo(real, CL_CONTEXT_DEVICES, 0, nullptr, &n) != CL_SUCCESS) return out;
    std::vector<cl_device_id> ids(n / sizeof(cl_device_id));
    if (c->next->clGetContextInfo(real, CL_CONTEXT_DEVICES, n, ids.data(), nullptr) != CL_SUCCESS) return out;
    for (cl_device_id d : ids) out.push_back(WrapRetrieved(ObjectType::kDevice, d, c));
    return out;
}

}  // namespace

namespace entry {

cl_context CL_API_CALL clCreateContext(const cl_context_properties* properties, cl_uint num_devices,
                                       const cl_device_id* devices,
                                       void(CL_CALLBACK* pfn_notify)(const char*, const void*, size_t, void*),
                                       void* user_data, cl_int* errcode_ret) noexcept {
    try {
        GateScope gate;
        ContextProperties props(properties);
        Object* self = devices != nullptr && num_devices > 0 ? Lookup(devices[0]) : props.platform;
        if (self == nullptr) self = props.platform;
        if (self == nullptr) {
            if (errcode_ret != nullptr) *errcode_ret = devices == nullptr ? CL_INVALID_VALUE : CL_INVALID_DEVICE;
            return nullptr;
        }
        UnwrappedArray<cl_device_id> real_devices(devices, num_devices);
        // The notify callback receives no handle: the application's goes down as it is.
        cl_context real = self->next->clCreateContext(props.data(), num_devices, real_devices.data(), pfn_notify,
                                                      user_data, errcode_ret);
        if (real == nullptr) return nullptr;
        Context* c = NewContext(real, self, "clCreateContext", props, pfn_notify, user_data);
        std::vector<Object*> devs;
        for (cl_uint i = 0; i < num_devices; ++i) {
            Object* d = Lookup(devices[i]);
            devs.push_back(d != nullptr ? d : WrapRetrieved(ObjectType::kDevice, real_devices.data()[i], c));
        }
        RecordDevices(c, devs);
        return reinterpret_cast<cl_context>(c);
    } catch (...) {
        if (errcode_ret != nullptr) *errcode_ret = CL_OUT_OF_HOST_MEMORY;
        return nullptr;
    }
}

cl_context CL_API_CALL clCreateContextFromType(const cl_context_properties* properties, cl_device_type device_type,
                                               void(CL_CALLBACK* pfn_notify)(const char*, const void*, size_t, void*),
                                               void* user_data, cl_int* errcode_ret) noexcept {
    try {
        GateScope gate;
        ContextProperties props(properties);
        Object* self = props.platform != nullptr ? props.platform : DefaultPlatform();
        if (self == nullptr) {
            if (errcode_ret != nullptr) *errcode_ret = CL_INVALID_PLATFORM;
            return nullptr;
        }
        cl_context real =
            self->next->clCreateContextFromType(props.data(), device_type, pfn_notify, user_data, errcode_ret);
        if (real == nullptr) return nullptr;
        Context* c = NewContext(real, self, "clCreateContextFromType", props, pfn_notify, user_data);
        {
            std::lock_guard lock(c->mu);
            c->from_type = true;
            c->device_type = device_type;
        }
        RecordDevices(c, ContextDevices(c));
        return reinterpret_cast<cl_context>(c);
    } catch (...) {
        if (errcode_ret != nullptr) *errcode_ret = CL_OUT_OF_HOST_MEMORY;
        return nullptr;
    }
}

cl_int CL_API_CALL clGetContextInfo(cl_context context, cl_context_info param_name, size_t param_value_size,
                                    void* param_value, size_t* param_value_size_ret) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(context);
        if (self == nullptr) return CL_INVALID_CONTEXT;
        size_t own = 0;
        size_t* size_ret = param_value_size_ret != nullptr ? param_value_size_ret : &own;
        cl_int r = self->next->clGetContextInfo(static_cast<cl_context>(self->real), param_name, param_value_size,
                                                param_value, size_ret);
        if (r != CL_SUCCESS || param_value == nullptr) return r;
        size_t bytes = std::min(param_value_size, *size_ret);
        if (param_name == CL_CONTEXT_DEVICES) WrapInfoHandles(ObjectType::kDevice, self, param_value, bytes);
        if (param_name == CL_CONTEXT_PROPERTIES) {
            auto* p = static_cast<cl_context_properties*>(param_value);
            for (size_t i = 0; i + 1 < bytes / sizeof(cl_context_properties) && p[i] != 0; i += 2) {
                if (p[i] == CL_CONTEXT_PLATFORM) {
                    p[i + 1] = reinterpret_cast<cl_context_properties>(
                        WrapRetrieved(ObjectType::kPlatform, reinterpret_cast<void*>(p[i + 1]), self));
                }
            }
        }
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clSetContextDestructorCallback(cl_context context, void(CL_CALLBACK* pfn_notify)(cl_context, void*),
                                                  void* user_data) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(context);
        if (self == nullptr) return CL_INVALID_CONTEXT;
        if (self->next->clSetContextDestructorCallback == nullptr) return CL_INVALID_OPERATION;
        auto real = static_cast<cl_context>(self->real);
        if (pfn_notify == nullptr) return self->next->clSetContextDestructorCallback(real, nullptr, user_data);
        return AddReleaseCallback(self, pfn_notify, user_data, true);  // the wrapper stays until it has run
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clGetGLContextInfoKHR(const cl_context_properties* properties, cl_gl_context_info param_name,
                                         size_t param_value_size, void* param_value,
                                         size_t* param_value_size_ret) noexcept {
    try {
        GateScope gate;
        ContextProperties props(properties);
        Object* self = props.platform != nullptr ? props.platform : DefaultPlatform();
        if (self == nullptr) return CL_INVALID_PLATFORM;
        auto fn = self->next->clGetGLContextInfoKHR;
        if (fn == nullptr) {
            fn = reinterpret_cast<decltype(fn)>(ExtensionFunction(self, "clGetGLContextInfoKHR"));
        }
        if (fn == nullptr) return CL_INVALID_OPERATION;
        size_t own = 0;
        size_t* size_ret = param_value_size_ret != nullptr ? param_value_size_ret : &own;
        cl_int r = fn(props.data(), param_name, param_value_size, param_value, size_ret);
        if (r == CL_SUCCESS && param_value != nullptr &&
            (param_name == CL_CURRENT_DEVICE_FOR_GL_CONTEXT_KHR || param_name == CL_DEVICES_FOR_GL_CONTEXT_KHR)) {
            WrapInfoHandles(ObjectType::kDevice, self, param_value, std::min(param_value_size, *size_ret));
        }
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace entry

namespace hooks {
namespace {

void RecordQueue(Object* result, cl_device_id device, cl_command_queue_properties bits, bool with_properties,
                 const cl_queue_properties* list) {
    auto* q = static_cast<CommandQueue*>(Lookup(result));
    Object* d = Lookup(device);
    if (q == nullptr) return;
    if (d != nullptr) Hold(q, d);
    std::lock_guard lock(q->mu);
    q->device = d != nullptr ? d->id : 0;
    q->properties = bits;
    q->with_properties = with_properties;
    for (const cl_queue_properties* p = list; p != nullptr && *p != 0; p += 2) {
        q->property_list.insert(q->property_list.end(), {p[0], p[1]});
        if (p[0] == CL_QUEUE_PROPERTIES) q->properties = p[1];
    }
    if (list != nullptr) q->property_list.push_back(0);
    if (q->properties & CL_QUEUE_ON_DEVICE) q->unsupported = "device-side queue (CL_QUEUE_ON_DEVICE) is not captured";
}

}  // namespace

void PostCall_clCreateCommandQueue(Object*, cl_command_queue result, cl_context, cl_device_id device,
                                   cl_command_queue_properties properties, cl_int*) noexcept {
    try {
        RecordQueue(reinterpret_cast<Object*>(result), device, properties, false, nullptr);
    } catch (...) {
        MarkUnsupported(Lookup(result), "recording failed (out of memory)");
    }
}

void PostCall_clCreateCommandQueueWithProperties(Object*, cl_command_queue result, cl_context, cl_device_id device,
                                                 const cl_queue_properties* properties, cl_int*) noexcept {
    try {
        RecordQueue(reinterpret_cast<Object*>(result), device, 0, true, properties);
    } catch (...) {
        MarkUnsupported(Lookup(result), "recording failed (out of memory)");
    }
}

void PostCall_clSetCommandQueueProperty(Object* self, cl_int result, cl_command_queue,
                                        cl_command_queue_properties properties, cl_bool enable,
                                        cl_command_queue_properties*) noexcept {
    if (result != CL_SUCCESS) return;
    auto* q = static_cast<CommandQueue*>(self);
    std::lock_guard lock(q->mu);
    q->properties = enable ? (q->properties | properties) : (q->properties & ~properties);
}

}  // namespace hooks
}  // namespace gpucr::cl
