#include "layers/opencl/wrap.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "dag/log.h"
#include "layers/opencl/dispatch.h"
#include "layers/opencl/icd.h"

namespace gpucr::cl {
namespace {

const cl_icd_dispatch* RealDispatch(const void* real) { return *static_cast<cl_icd_dispatch* const*>(real); }

Object* Allocate(ObjectType type) {
    switch (type) {
        case ObjectType::kPlatform:
            return new Platform();
        case ObjectType::kDevice:
            return new Device();
        case ObjectType::kContext:
            return new Context();
        case ObjectType::kCommandQueue:
            return new CommandQueue();
        case ObjectType::kMem:
            return new Mem();
        case ObjectType::kSampler:
            return new Sampler();
        case ObjectType::kProgram:
            return new Program();
        case ObjectType::kKernel:
            return new Kernel();
        case ObjectType::kEvent:
            return new Event();
    }
    return nullptr;
}

void Delete(Object* o) {
    switch (o->type) {
        case ObjectType::kPlatform:
            delete static_cast<Platform*>(o);
            return;
        case ObjectType::kDevice:
            delete static_cast<Device*>(o);
            return;
        case ObjectType::kContext:
            delete static_cast<Context*>(o);
            return;
        case ObjectType::kCommandQueue:
            delete static_cast<CommandQueue*>(o);
            return;
        case ObjectType::kMem:
            delete static_cast<Mem*>(o);
            return;
        case ObjectType::kSampler:
            delete static_cast<Sampler*>(o);
            return;
        case ObjectType::kProgram:
            delete static_cast<Program*>(o);
            return;
        case ObjectType::kKernel:
            delete static_cast<Kernel*>(o);
            return;
        case ObjectType::kEvent:
            delete static_cast<Event*>(o);
            return;
    }
}

void ForgetReleaseCallbacks(Object* o);

void Destroy(Object* o) {
    ObjectTable::Get().Remove(o);
    ForgetReleaseCallbacks(o);
    std::vector<Object*> holds;
    {
        std::lock_guard lock(o->mu);
        holds.swap(o->holds);
    }
    GPUCR_LOG_DEBUG("cl", "{} {} freed", TypeName(o->type), o->id);
    o->magic = 0;
    Delete(o);
    for (Object* h : holds) Unref(h);
}

// The real ICD destroyed a memory object: its wrapper may go (it was registered first, so the
// application's destructor callbacks, called before it, still found the wrapper).
void CL_CALLBACK OnRealMemDestroyed(cl_mem, void* user_data) { Unref(static_cast<Object*>(user_data)); }

// Application callbacks on the destruction of a real object (AddReleaseCallback). A Ticket is one
// registration on one real object; a cancelled ticket (its real object released for a re-create) does
// nothing when the real ICD calls it, and is kept for ever since the ICD may call it late.
struct ReleaseRecord {
    Object* object = nullptr;
    ReleaseFn fn = nullptr;
    void* user_data = nullptr;
    bool hold = false;
};

struct ReleaseTicket {
    std::shared_ptr<ReleaseRecord> record;
    std::atomic<bool> done{false};  // ran or cancelled
};

struct ReleaseTickets {
    std::mutex mu;
    std::unordered_map<const Object*, std::vector<std::shared_ptr<ReleaseTicket>>> live;  // in registration order
    std::vector<std::shared_ptr<ReleaseTicket>> cancelled;
};

ReleaseTickets& Tickets() {
    static auto* t = new ReleaseTickets();  // never destroyed: the ICD may call back at exit
    return *t;
}

bool HasReleaseCallbacks(ObjectType type) {
    return type == ObjectType::kMem || type == ObjectType::kContext || type == ObjectType::kProgram;
}

void RunTicket(void* user_data) {
    auto* t = static_cast<ReleaseTicket*>(user_data);
    if (t->done.exchange(true)) return;
    const ReleaseRecord& r = *t->record;
    Object* o = r.object;
    bool hold = r.hold;
    switch (o->type) {
        case ObjectType::kMem:
            reinterpret_cast<void(CL_CALLBACK*)(cl_mem, void*)>(r.fn)(reinterpret_cast<cl_mem>(o), r.user_data);
            break;
        case ObjectType::kContext:
            reinterpret_cast<void(CL_CALLBACK*)(cl_context, void*)>(r.fn)(reinterpret_cast<cl_context>(o),
                                                                          r.user_data);
            break;
        default:
            reinterpret_cast<void(CL_CALLBACK*)(cl_program, void*)>(r.fn)(reinterpret_cast<cl_program>(o),
                                                                          r.user_data);
            break;
    }
    if (hold) Unref(o);  // last: may free the wrapper and this ticket
}

void CL_CALLBACK OnMemGone(cl_mem, void* user_data) { RunTicket(user_data); }
void CL_CALLBACK OnContextGone(cl_context, void* user_data) { RunTicket(user_data); }
void CL_CALLBACK OnProgramGone(cl_program, void* user_data) { RunTicket(user_data); }

cl_int RegisterTicket(Object* o, ReleaseTicket* t) {
    switch (o->type) {
        case ObjectType::kMem:
            if (o->next->clSetMemObjectDestructorCallback == nullptr) return CL_INVALID_OPERATION;
            return o->next->clSetMemObjectDestructorCallback(static_cast<cl_mem>(o->real), OnMemGone, t);
        case ObjectType::kContext:
            if (o->next->clSetContextDestructorCallback == nullptr) return CL_INVALID_OPERATION;
            return o->next->clSetContextDestructorCallback(static_cast<cl_context>(o->real), OnContextGone, t);
        case ObjectType::kProgram:
            if (o->next->clSetProgramReleaseCallback == nullptr) return CL_INVALID_OPERATION;
            return o->next->clSetProgramReleaseCallback(static_cast<cl_program>(o->real), OnProgramGone, t);
        default:
            return CL_INVALID_OPERATION;
    }
}

void ForgetReleaseCallbacks(Object* o) {
    if (!HasReleaseCallbacks(o->type)) return;
    std::vector<std::shared_ptr<ReleaseTicket>> gone;  // freed outside the lock
    std::lock_guard lock(Tickets().mu);
    auto it = Tickets().live.find(o);
    if (it == Tickets().live.end()) return;
    gone.swap(it->second);
    Tickets().live.erase(it);
}

void InitDevice(Device* d) {
    if (d->next->clGetDeviceInfo == nullptr) return;
    auto real = static_cast<cl_device_id>(d->real);
    size_t n = 0;
    if (d->next->clGetDeviceInfo(real, CL_DEVICE_NAME, 0, nullptr, &n) == CL_SUCCESS && n > 0) {
        std::string name(n, '\0');
        if (d->next->clGetDeviceInfo(real, CL_DEVICE_NAME, n, name.data(), nullptr) == CL_SUCCESS) {
            name.resize(name.find('\0') == std::string::npos ? n : name.find('\0'));
            d->name = std::move(name);
        }
    }
    d->next->clGetDeviceInfo(real, CL_DEVICE_TYPE, sizeof(d->device_type), &d->device_type, nullptr);
}

}  // namespace

uint64_t NextObjectId() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1);
}

const char* TypeName(ObjectType type) {
    switch (type) {
        case ObjectType::kPlatform:
            return "cl_platform_id";
        case ObjectType::kDevice:
            return "cl_device_id";
        case ObjectType::kContext:
            return "cl_context";
        case ObjectType::kCommandQueue:
            return "cl_command_queue";
        case ObjectType::kMem:
            return "cl_mem";
        case ObjectType::kSampler:
            return "cl_sampler";
        case ObjectType::kProgram:
            return "cl_program";
        case ObjectType::kKernel:
            return "cl_kernel";
        case ObjectType::kEvent:
            return "cl_event";
    }
    return "?";
}

void AddRef(Object* o) { o->refs.fetch_add(1); }

void Unref(Object* o) {
    if (o == nullptr) return;
    if (o->refs.fetch_sub(1) == 1) Destroy(o);
}

void RetainApp(Object* o) {
    if (o->permanent) return;
    o->app_refs.fetch_add(1);
    o->refs.fetch_add(1);
}

void ReleaseApp(Object* o) {
    if (o->permanent) return;
    o->app_refs.fetch_sub(1);
    Unref(o);
}

void Hold(Object* holder, Object* held) {
    if (held == nullptr || held->permanent) return;
    AddRef(held);
    std::lock_guard lock(holder->mu);
    holder->holds.push_back(held);
}

Object* NewWrapper(ObjectType type, void* real, Object* creator, const char* entry) {
    Object* o = Allocate(type);
    o->dispatch = ShimDispatch();
    o->type = type;
    o->id = NextObjectId();
    o->real = real;
    o->next = RealDispatch(real);
    o->created_by = entry;
    o->refs.store(1);
    o->app_refs.store(1);
    if (creator != nullptr) {
        o->platform = creator->type == ObjectType::kPlatform ? static_cast<Platform*>(creator) : creator->platform;
        if (type != ObjectType::kContext && type != ObjectType::kDevice && type != ObjectType::kPlatform) {
            o->context = creator->type == ObjectType::kContext ? static_cast<Context*>(creator) : creator->context;
            Hold(o, o->context);
        }
    }
    if (type == ObjectType::kMem) WatchRealMem(o);
    if (type == ObjectType::kDevice) InitDevice(static_cast<Device*>(o));
    if (type == ObjectType::kEvent) static_cast<Event*>(o)->command = entry;
    ObjectTable::Get().Add(o);
    GPUCR_LOG_DEBUG("cl", "{} {} created by {}", TypeName(type), o->id, entry);
    return o;
}

bool WatchRealMem(Object* m) {
    auto* mem = static_cast<Mem*>(m);
    if (m->next->clSetMemObjectDestructorCallback == nullptr) return false;
    m->refs.fetch_add(1);
    if (m->next->clSetMemObjectDestructorCallback(static_cast<cl_mem>(m->real), OnRealMemDestroyed, m) != CL_SUCCESS) {
        m->refs.fetch_sub(1);
        return false;
    }
    std::lock_guard lock(m->mu);
    mem->real_watched = true;
    return true;
}

cl_int AddReleaseCallbackImpl(Object* o, ReleaseFn fn, void* user_data, bool hold) {
    if (!HasReleaseCallbacks(o->type)) return CL_INVALID_OPERATION;
    auto t = std::make_shared<ReleaseTicket>();
    t->record = std::make_shared<ReleaseRecord>(ReleaseRecord{o, fn, user_data, hold});
    if (hold) AddRef(o);
    {
        std::lock_guard lock(Tickets().mu);
        Tickets().live[o].push_back(t);
    }
    cl_int r = RegisterTicket(o, t.get());
    if (r != CL_SUCCESS) {
        {
            std::lock_guard lock(Tickets().mu);
            auto& v = Tickets().live[o];
            v.erase(std::remove(v.begin(), v.end(), t), v.end());
        }
        if (hold) Unref(o);
    }
    return r;
}

void CancelReleaseCallbacks(Object* o) {
    if (!HasReleaseCallbacks(o->type)) return;
    std::lock_guard lock(Tickets().mu);
    auto it = Tickets().live.find(o);
    if (it == Tickets().live.end()) return;
    for (std::shared_ptr<ReleaseTicket>& t : it->second) {
        if (t->done.exchange(true)) continue;  // already ran: nothing to carry over
        auto fresh = std::make_shared<ReleaseTicket>();
        fresh->record = t->record;
        Tickets().cancelled.push_back(std::move(t));
        t = std::move(fresh);
    }
    std::erase_if(it->second, [](const std::shared_ptr<ReleaseTicket>& t) { return t->done.load(); });
}

size_t RearmReleaseCallbacks(Object* o) {
    if (!HasReleaseCallbacks(o->type)) return 0;
    std::vector<std::shared_ptr<ReleaseTicket>> tickets;
    {
        std::lock_guard lock(Tickets().mu);
        auto it = Tickets().live.find(o);
        if (it != Tickets().live.end()) tickets = it->second;
    }
    size_t failed = 0;
    for (const std::shared_ptr<ReleaseTicket>& t : tickets) {
        if (RegisterTicket(o, t.get()) != CL_SUCCESS) {
            ++failed;
            GPUCR_LOG_WARN("cl", "{} {}: an application destructor callback could not be registered again",
                           TypeName(o->type), o->id);
        }
    }
    return failed;
}

cl_event WrapEvent(cl_event real, Object* creator, const char* entry) {
    auto* e = static_cast<Event*>(NewWrapper(ObjectType::kEvent, real, creator, entry));
    if (creator->type == ObjectType::kCommandQueue) {
        e->queue = creator->id;
        Hold(e, creator);
    }
    return reinterpret_cast<cl_event>(e);
}

Object* WrapRetrieved(ObjectType type, void* real, Object* from) {
    if (real == nullptr) return nullptr;
    Object* o = ObjectTable::Get().FindReal(real);
    if (o != nullptr && o->type == type) return o;
    static std::mutex retrieve_mu;  // two threads retrieving the same new handle make one wrapper
    std::lock_guard lock(retrieve_mu);
    o = ObjectTable::Get().FindReal(real);
    if (o != nullptr && o->type == type) return o;
    Object* creator = from;
    if (type == ObjectType::kPlatform) creator = nullptr;
    o = NewWrapper(type, real, creator, "retrieved");
    o->permanent = true;
    if (type == ObjectType::kPlatform) {
        o->platform = static_cast<Platform*>(o);
    } else if (type == ObjectType::kDevice) {
        // Root devices are not reference counted; a sub-device the shim did not create is unknown.
        cl_device_id parent = nullptr;
        o->next->clGetDeviceInfo(static_cast<cl_device_id>(real), CL_DEVICE_PARENT_DEVICE, sizeof(parent), &parent,
                                 nullptr);
        if (parent != nullptr) MarkUnsupported(o, "sub-device not created through gpucr");
    } else {
        MarkUnsupported(o, "retrieved by a query, never created through gpucr");
    }
    return o;
}

void WrapInfoHandles(ObjectType type, Object* from, void* values, size_t bytes) {
    auto* v = static_cast<void**>(values);
    for (size_t i = 0; i < bytes / sizeof(void*); ++i) {
        if (v[i] != nullptr) v[i] = WrapRetrieved(type, v[i], from);
    }
}

void MarkUnsupported(Object* o, std::string_view reason) {
    if (o == nullptr) return;
    std::lock_guard lock(o->mu);
    if (o->unsupported.empty()) {
        o->unsupported = std::string(reason);
        GPUCR_LOG_INFO("cl", "{} {} not capturable: {}", TypeName(o->type), o->id, reason);
    }
}

void MarkProcessNotCapturable(std::string_view entry, std::string_view reason) {
    ObjectTable::Get().MarkProcess(entry, reason);
}

void* ExtensionFunction(Object* self, const char* name) {
    Platform* p = self->platform;
    if (p == nullptr) return nullptr;
    std::lock_guard lock(p->ext_mu);
    auto it = p->ext_functions.find(name);
    if (it != p->ext_functions.end()) return it->second;
    void* fn = nullptr;
    if (p->next->clGetExtensionFunctionAddressForPlatform != nullptr) {
        fn = p->next->clGetExtensionFunctionAddressForPlatform(static_cast<cl_platform_id>(p->real), name);
    }
    if (fn == nullptr && p->icd != nullptr && p->icd->get_extension_function != nullptr) {
        fn = p->icd->get_extension_function(name);
    }
    p->ext_functions.emplace(name, fn);
    return fn;
}

cl_int ToClError(const Status& status) {
    switch (status.code()) {
        case Code::kOk:
            return CL_SUCCESS;
        case Code::kInvalidArgument:
            return CL_INVALID_VALUE;
        case Code::kUnsupported:
        case Code::kFailedPrecondition:
            return CL_INVALID_OPERATION;
        default:
            return CL_OUT_OF_HOST_MEMORY;
    }
}

std::vector<uint64_t> IdsOf(const cl_device_id* devices, cl_uint count) {
    std::vector<uint64_t> ids;
    if (devices == nullptr) return ids;
    for (cl_uint i = 0; i < count; ++i) ids.push_back(IdOf(devices[i]));
    return ids;
}

uint64_t IdOf(const void* handle) {
    Object* o = Lookup(handle);
    return o != nullptr ? o->id : 0;
}

}  // namespace gpucr::cl
