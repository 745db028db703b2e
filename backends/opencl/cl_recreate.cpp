// cl_recreate.cpp — Teardown and Recreate of the OpenCL objects behind the shim's wrappers
// (cl_recreate.h).
//
// Reference counts: the application's clRetain/clRelease reach the real ICD one for one, so a real
// object holds `app_refs` references of the application, plus those the ICD keeps for dependent real
// objects (a sub-buffer its parent, a kernel its program, everything its context). Teardown releases
// the application's share, dependents first, so that the ICD frees each real object; Recreate creates
// each again with one reference and brings it to the application's share once its dependents exist
// (retains, or a release that leaves it to its dependents when the application holds none).
// Every torn-down wrapper holds one more reference from Teardown to the end of Recreate: the real ICD
// reports the destruction of a memory object to the shim (WatchRealMem), which drops that reference.
#include "backends/opencl/cl_recreate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>

#include "dag/log.h"
#include "layers/opencl/icd.h"
#include "layers/opencl/object_table.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

const cl_icd_dispatch* RealDispatch(const void* real) { return *static_cast<cl_icd_dispatch* const*>(real); }

const char* ClErrorName(cl_int e) {
    switch (e) {
        case CL_DEVICE_NOT_AVAILABLE:
            return "CL_DEVICE_NOT_AVAILABLE";
        case CL_COMPILER_NOT_AVAILABLE:
            return "CL_COMPILER_NOT_AVAILABLE";
        case CL_MEM_OBJECT_ALLOCATION_FAILURE:
            return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
        case CL_OUT_OF_RESOURCES:
            return "CL_OUT_OF_RESOURCES";
        case CL_OUT_OF_HOST_MEMORY:
            return "CL_OUT_OF_HOST_MEMORY";
        case CL_IMAGE_FORMAT_NOT_SUPPORTED:
            return "CL_IMAGE_FORMAT_NOT_SUPPORTED";
        case CL_BUILD_PROGRAM_FAILURE:
            return "CL_BUILD_PROGRAM_FAILURE";
        case CL_MISALIGNED_SUB_BUFFER_OFFSET:
            return "CL_MISALIGNED_SUB_BUFFER_OFFSET";
        case CL_INVALID_VALUE:
            return "CL_INVALID_VALUE";
        case CL_INVALID_DEVICE:
            return "CL_INVALID_DEVICE";
        case CL_INVALID_QUEUE_PROPERTIES:
            return "CL_INVALID_QUEUE_PROPERTIES";
        case CL_INVALID_HOST_PTR:
            return "CL_INVALID_HOST_PTR";
        case CL_INVALID_IMAGE_FORMAT_DESCRIPTOR:
            return "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR";
        case CL_INVALID_IMAGE_SIZE:
            return "CL_INVALID_IMAGE_SIZE";
        case CL_INVALID_BINARY:
            return "CL_INVALID_BINARY";
        case CL_INVALID_BUILD_OPTIONS:
            return "CL_INVALID_BUILD_OPTIONS";
        case CL_INVALID_KERNEL_NAME:
            return "CL_INVALID_KERNEL_NAME";
        case CL_INVALID_ARG_INDEX:
            return "CL_INVALID_ARG_INDEX";
        case CL_INVALID_ARG_VALUE:
            return "CL_INVALID_ARG_VALUE";
        case CL_INVALID_ARG_SIZE:
            return "CL_INVALID_ARG_SIZE";
        case CL_INVALID_OPERATION:
            return "CL_INVALID_OPERATION";
        case CL_INVALID_BUFFER_SIZE:
            return "CL_INVALID_BUFFER_SIZE";
        case CL_INVALID_PROPERTY:
            return "CL_INVALID_PROPERTY";
        default:
            return "CL error";
    }
}

std::string ClError(cl_int e) { return fmt::format("{} ({})", ClErrorName(e), e); }

std::string NameOf(const Object& o) { return fmt::format("{} {}", TypeName(o.type), o.id); }

std::string Join(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
}

// Every live wrapper, each with a reference held until the snapshot goes.
class Snapshot {
public:
    Snapshot() : objects_(ObjectTable::Get().RetainAll()) {
        for (Object* o : objects_) by_id_[o->id] = o;
    }
    ~Snapshot() {
        for (Object* o : objects_) Unref(o);
    }
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;

    const std::vector<Object*>& objects() const { return objects_; }
    Object* Find(uint64_t id, ObjectType type) const {
        auto it = by_id_.find(id);
        return it != by_id_.end() && it->second->type == type ? it->second : nullptr;
    }

private:
    std::vector<Object*> objects_;
    std::map<uint64_t, Object*> by_id_;
};

// Creation order of the types that are torn down and re-created; -1 for the others.
int Rank(ObjectType type) {
    switch (type) {
        case ObjectType::kContext:
            return 0;
        case ObjectType::kCommandQueue:
            return 1;
        case ObjectType::kMem:
            return 2;
        case ObjectType::kSampler:
            return 3;
        case ObjectType::kProgram:
            return 4;
        case ObjectType::kKernel:
            return 5;
        case ObjectType::kEvent:
            return 6;
        default:
            return -1;
    }
}

uint64_t MemParent(Object* o) {
    std::lock_guard lock(o->mu);
    return static_cast<Mem*>(o)->parent;
}

// Sub-buffers and images after the memory object they are made from.
int MemDepth(Object* o, const Snapshot& snap) {
    int depth = 0;
    for (Object* m = o; m != nullptr && depth < 16; ++depth) m = snap.Find(MemParent(m), ObjectType::kMem);
    return depth;
}

// Every wrapper the application holds and what those depend on (contexts, the program of a kernel,
// the parent of a sub-buffer or image), in creation order.
std::vector<Object*> Collect(const Snapshot& snap) {
    std::set<Object*> needed;
    std::function<void(Object*)> need = [&](Object* o) {
        if (o == nullptr || o->permanent || Rank(o->type) < 0 || !needed.insert(o).second) return;
        need(o->context);
        if (o->type == ObjectType::kMem) need(snap.Find(MemParent(o), ObjectType::kMem));
        if (o->type == ObjectType::kKernel) {
            uint64_t program = 0;
            {
                std::lock_guard lock(o->mu);
                program = static_cast<Kernel*>(o)->program;
            }
            need(snap.Find(program, ObjectType::kProgram));
        }
    };
    for (Object* o : snap.objects()) {
        if (o->app_refs.load() > 0) need(o);
    }
    std::vector<std::pair<std::tuple<int, int, uint64_t>, Object*>> order;
    for (Object* o : needed) {
        int depth = o->type == ObjectType::kMem ? MemDepth(o, snap) : 0;
        order.push_back({{Rank(o->type), depth, o->id}, o});
    }
    std::sort(order.begin(), order.end());
    std::vector<Object*> out;
    for (const auto& [key, o] : order) out.push_back(o);
    return out;
}

// Where one of the application's devices goes.
struct Dest {
    cl_device_id real = nullptr;
    cl_platform_id platform_real = nullptr;
    Platform* platform = nullptr;
    const cl_icd_dispatch* dispatch = nullptr;
    std::string name;
    cl_device_type device_type = 0;
    bool moved = false;  // another real device than the wrapper's current one
};

Result<Dest> Resolve(uint64_t device_id, const RecreateTarget& target, const std::vector<TargetDevice>& all,
                     const Snapshot& snap) {
    auto* d = static_cast<Device*>(snap.Find(device_id, ObjectType::kDevice));
    if (d == nullptr) return NotFound(fmt::format("cl_device_id {}: no such device", device_id));
    auto it = target.devices.find(device_id);
    if (it != target.devices.end()) {
        if (it->second >= all.size()) {
            return InvalidArgument(fmt::format("cl_device_id {}: target device {} does not exist ({} devices)",
                                               device_id, it->second, all.size()));
        }
        const TargetDevice& t = all[it->second];
        return Dest{t.device_real,   t.platform_real, t.platform_wrapper, t.dispatch, t.device_name,
                    t.device_type, t.device_real != d->real};
    }
    if (d->real == nullptr || d->platform == nullptr) {
        return NotFound(fmt::format("cl_device_id {}: no real device behind it", device_id));
    }
    std::lock_guard lock(d->mu);
    return Dest{static_cast<cl_device_id>(d->real), static_cast<cl_platform_id>(d->platform->real), d->platform,
                RealDispatch(d->real), d->name, d->device_type, false};
}

bool DeviceBool(const Dest& d, cl_device_info what) {
    cl_bool v = CL_FALSE;
    return d.dispatch->clGetDeviceInfo(d.real, what, sizeof(v), &v, nullptr) == CL_SUCCESS && v == CL_TRUE;
}

std::string DeviceText(const Dest& d, cl_device_info what) {
    size_t n = 0;
    if (d.dispatch->clGetDeviceInfo(d.real, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
    std::string s(n, '\0');
    if (d.dispatch->clGetDeviceInfo(d.real, what, n, s.data(), nullptr) != CL_SUCCESS) return "";
    s.resize(std::strlen(s.c_str()));
    return s;
}

std::vector<uint64_t> ContextDeviceIds(Object* o) {
    Object* c = o->type == ObjectType::kContext ? o : o->context;
    if (c == nullptr) return {};
    std::lock_guard lock(c->mu);
    return static_cast<Context*>(c)->devices;
}

bool IsSubDevice(const Snapshot& snap, uint64_t device_id) {
    auto* d = static_cast<Device*>(snap.Find(device_id, ObjectType::kDevice));
    return d != nullptr && d->parent != 0;
}

// What CheckRecreatable says about `objects` (those Collect found, or those torn down).
class Checker {
public:
    Checker(const RecreateTarget& target, const std::vector<TargetDevice>& all, const Snapshot& snap)
        : target_(target), all_(all), snap_(snap) {}

    std::vector<std::string> Run(const std::vector<Object*>& objects) {
        out_ = NotCapturableReasons();
        for (const auto& [id, index] : target_.devices) {
            if (index >= all_.size()) {
                Add("cl_device_id {}: target device {} does not exist ({} devices)", id, index, all_.size());
            } else if (IsSubDevice(snap_, id) && all_[index].device_real != DeviceReal(id)) {
                Add("cl_device_id {}: a sub-device; it can stay only on its own device", id);
            }
        }
        for (Object* o : objects) {
            switch (o->type) {
                case ObjectType::kContext:
                    CheckContext(o);
                    break;
                case ObjectType::kMem:
                    CheckMem(static_cast<Mem*>(o));
                    break;
                case ObjectType::kProgram:
                    CheckProgram(static_cast<Program*>(o));
                    break;
                case ObjectType::kKernel:
                    CheckKernel(static_cast<Kernel*>(o));
                    break;
                case ObjectType::kEvent:
                    CheckEvent(static_cast<Event*>(o));
                    break;
                default:
                    break;
            }
        }
        return std::move(out_);
    }

private:
    template <typename... Args>
    void Add(fmt::format_string<Args...> f, Args&&... args) {
        out_.push_back(fmt::format(f, std::forward<Args>(args)...));
    }

    void* DeviceReal(uint64_t id) const {
        Object* d = snap_.Find(id, ObjectType::kDevice);
        return d != nullptr ? d->real : nullptr;
    }

    // The context's devices where they go; devices that cannot be resolved are left out (reported
    // with the target's range check, or by the context).
    std::vector<Dest> Dests(Object* o) {
        std::vector<Dest> out;
        for (uint64_t id : ContextDeviceIds(o)) {
            Result<Dest> d = Resolve(id, target_, all_, snap_);
            if (d.ok()) out.push_back(std::move(*d));
        }
        return out;
    }

    void CheckContext(Object* c) {
        std::vector<uint64_t> ids = ContextDeviceIds(c);
        std::set<cl_device_id> reals;
        size_t resolved = 0;
        for (uint64_t id : ids) {
            Result<Dest> d = Resolve(id, target_, all_, snap_);
            if (!d.ok()) {
                if (d.status().code() != Code::kInvalidArgument) Add("{}: {}", NameOf(*c), d.status().message());
                continue;
            }
            reals.insert(d->real);
            ++resolved;
        }
        if (reals.size() < resolved) {
            Add("{}: its {} devices would collapse onto {}", NameOf(*c), resolved, reals.size());
        }
    }

    void CheckMem(Mem* m) {
        MemKind kind;
        std::string created_by;
        {
            std::lock_guard lock(m->mu);
            kind = m->kind;
            created_by = m->created_by;
        }
        if (kind == MemKind::kPipe) Add("{}: a pipe; pipes are not re-created (their packets cannot be saved)", NameOf(*m));
        if (kind == MemKind::kOther) Add("{}: created by {}; such memory objects are not re-created", NameOf(*m), created_by);
        if (kind != MemKind::kImage) return;
        for (const Dest& d : Dests(m)) {
            if (!DeviceBool(d, CL_DEVICE_IMAGE_SUPPORT)) {
                Add("{}: an image, and device '{}' has no image support", NameOf(*m), d.name);
            }
        }
    }

    void CheckProgram(Program* p) {
        ProgramOrigin origin;
        std::vector<uint64_t> devices;
        std::map<uint64_t, std::string> build_kinds;
        {
            std::lock_guard lock(p->mu);
            origin = p->origin;
            devices = p->devices;
            for (const auto& [dev, b] : p->builds) build_kinds[dev] = b.kind;
        }
        std::string name = NameOf(*p);
        if (origin == ProgramOrigin::kLinked) {
            Add("{}: linked by clLinkProgram; linked programs are not re-created", name);
            return;
        }
        for (const auto& [dev, kind] : build_kinds) {
            if (kind != "build") {
                Add("{}: compiled by clCompileProgram; separately compiled programs are not re-created", name);
                return;
            }
        }
        if (origin == ProgramOrigin::kBinary || origin == ProgramOrigin::kBuiltInKernels) {
            for (uint64_t id : devices) {
                Result<Dest> d = Resolve(id, target_, all_, snap_);
                if (d.ok() && d->moved) {
                    Add("{}: created from {} only; it can come back only on the device it was built for", name,
                        origin == ProgramOrigin::kBinary ? "a binary" : "built-in kernels");
                    return;
                }
            }
            return;
        }
        for (const auto& [dev, kind] : build_kinds) {
            Result<Dest> d = Resolve(dev, target_, all_, snap_);
            if (!d.ok()) continue;
            if (!DeviceBool(*d, CL_DEVICE_COMPILER_AVAILABLE)) {
                Add("{}: device '{}' has no compiler to build it again", name, d->name);
            } else if (origin == ProgramOrigin::kIL && DeviceText(*d, CL_DEVICE_IL_VERSION).empty()) {
                Add("{}: device '{}' takes no intermediate language (IL) programs", name, d->name);
            }
        }
    }

    void CheckKernel(Kernel* k) {
        std::lock_guard lock(k->mu);
        for (size_t i = 0; i < k->args.size(); ++i) {
            if (k->args[i].kind == KernelArg::Kind::kSvm) {
                Add("{}: argument {} is a shared virtual memory pointer; not re-created", NameOf(*k), i);
            }
        }
    }

    // Event callbacks (Object::keep of an event holds their records) are not carried over; those of a
    // user event not set yet have not run.
    void CheckEvent(Event* e) {
        bool pending = false;
        {
            std::lock_guard lock(e->mu);
            pending = e->user && !e->keep.empty();
        }
        cl_int status = CL_COMPLETE;
        if (pending && e->real != nullptr &&
            e->next->clGetEventInfo(static_cast<cl_event>(e->real), CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status),
                                    &status, nullptr) == CL_SUCCESS &&
            status > CL_COMPLETE) {
            Add("{}: a user event not set yet, with callbacks of the application (clSetEventCallback); they are "
                "not carried over",
                NameOf(*e));
        }
    }

    const RecreateTarget& target_;
    const std::vector<TargetDevice>& all_;
    const Snapshot& snap_;
    std::vector<std::string> out_;
};

cl_int ReleaseReal(ObjectType type, const cl_icd_dispatch* d, void* real) {
    switch (type) {
        case ObjectType::kContext:
            return d->clReleaseContext(static_cast<cl_context>(real));
        case ObjectType::kCommandQueue:
            return d->clReleaseCommandQueue(static_cast<cl_command_queue>(real));
        case ObjectType::kMem:
            return d->clReleaseMemObject(static_cast<cl_mem>(real));
        case ObjectType::kSampler:
            return d->clReleaseSampler(static_cast<cl_sampler>(real));
        case ObjectType::kProgram:
            return d->clReleaseProgram(static_cast<cl_program>(real));
        case ObjectType::kKernel:
            return d->clReleaseKernel(static_cast<cl_kernel>(real));
        case ObjectType::kEvent:
            return d->clReleaseEvent(static_cast<cl_event>(real));
        default:
            return CL_INVALID_VALUE;
    }
}

cl_int RetainReal(ObjectType type, const cl_icd_dispatch* d, void* real) {
    switch (type) {
        case ObjectType::kContext:
            return d->clRetainContext(static_cast<cl_context>(real));
        case ObjectType::kCommandQueue:
            return d->clRetainCommandQueue(static_cast<cl_command_queue>(real));
        case ObjectType::kMem:
            return d->clRetainMemObject(static_cast<cl_mem>(real));
        case ObjectType::kSampler:
            return d->clRetainSampler(static_cast<cl_sampler>(real));
        case ObjectType::kProgram:
            return d->clRetainProgram(static_cast<cl_program>(real));
        case ObjectType::kKernel:
            return d->clRetainKernel(static_cast<cl_kernel>(real));
        case ObjectType::kEvent:
            return d->clRetainEvent(static_cast<cl_event>(real));
        default:
            return CL_INVALID_VALUE;
    }
}

// One torn-down object: what Recreate needs beyond its wrapper's records.
struct Entry {
    Object* object = nullptr;
    int64_t app_refs = 0;
    cl_int event_status = CL_COMPLETE;  // events: CL_COMPLETE, an error (< 0), or CL_SUBMITTED (user event not set)
};

struct State {
    std::mutex mu;
    bool torn_down = false;
    std::vector<Entry> entries;  // creation order; each wrapper holds a reference of Teardown's
};

State& GetState() {
    static auto* s = new State();  // never destroyed: the application may call in at exit
    return *s;
}

Result<cl_int> EventStatus(Object* e) {
    cl_int status = CL_COMPLETE;
    cl_int r = e->next->clGetEventInfo(static_cast<cl_event>(e->real), CL_EVENT_COMMAND_EXECUTION_STATUS,
                                       sizeof(status), &status, nullptr);
    if (r != CL_SUCCESS) return Internal(fmt::format("{}: clGetEventInfo failed: {}", NameOf(*e), ClError(r)));
    bool user = false;
    std::string command;
    {
        std::lock_guard lock(e->mu);
        user = static_cast<Event*>(e)->user;
        command = static_cast<Event*>(e)->command;
    }
    if (!user && status > CL_COMPLETE) {
        return FailedPrecondition(fmt::format("{}: its command ({}) has not completed; drain the queues first",
                                              NameOf(*e), command));
    }
    return status;
}

// A user event not set yet, before its release: NVIDIA's clReleaseContext hangs on a user event
// released unset. Nothing waits on it (the queues are drained) and it has no callbacks (Checker).
void CompleteUnsetUserEvent(Object* e) {
    auto event = static_cast<cl_event>(e->real);
    if (e->next->clSetUserEventStatus(event, CL_COMPLETE) == CL_SUCCESS) e->next->clWaitForEvents(1, &event);
}

void ReleaseForTeardown(const Entry& e) {
    Object* o = e.object;
    void* real = o->real;
    const cl_icd_dispatch* next = o->next;
    ObjectTable::Get().SetReal(o, nullptr);
    if (o->type == ObjectType::kMem) {
        std::lock_guard lock(o->mu);
        static_cast<Mem*>(o)->real_watched = false;  // the real ICD reports its destruction (Unref) once
    }
    GPUCR_LOG_DEBUG("cl", "{}: releasing its real object ({} references)", NameOf(*o), e.app_refs);
    for (int64_t i = 0; i < e.app_refs; ++i) {
        cl_int r = ReleaseReal(o->type, next, real);
        if (r != CL_SUCCESS) {
            GPUCR_LOG_WARN("cl", "{}: releasing the real object failed: {}", NameOf(*o), ClError(r));
            break;
        }
    }
}

// Creates the torn-down objects again without touching their wrappers (staging), then points the
// wrappers at them (Commit), or releases them all (Discard).
class Builder {
public:
    Builder(const RecreateTarget& target, const std::vector<TargetDevice>& all, const Snapshot& snap)
        : target_(target), all_(all), snap_(snap) {}

    Status CreateAll(const std::vector<Entry>& entries) {
        for (const auto& [id, index] : target_.devices) GPUCR_RETURN_IF_ERROR(DestOf(id).status());
        for (const Entry& e : entries) {
            Result<Made> made = Create(e);
            if (!made.ok()) return made.status();
            index_[e.object->id] = created_.size();
            created_.push_back(*made);
        }
        return Status::Ok();
    }

    void Discard() {
        for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
            ReleaseReal(it->object->type, RealDispatch(it->real), it->real);
        }
        created_.clear();
        index_.clear();
    }

    void Commit(const std::vector<Entry>& entries) {
        for (const Made& m : created_) {
            m.object->next = RealDispatch(m.real);
            m.object->platform = m.platform;
            ObjectTable::Get().SetReal(m.object, m.real);
        }
        // The shim's destructor callback first: the real ICD calls the application's before it.
        for (const Made& m : created_) {
            if (m.object->type == ObjectType::kMem) WatchRealMem(m.object);
            RearmReleaseCallbacks(m.object);
        }
        MoveDevices();
        // The application's share of references, once every dependent exists.
        for (const Entry& e : entries) {
            for (int64_t i = 1; i < e.app_refs; ++i) RetainReal(e.object->type, e.object->next, e.object->real);
        }
        for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
            if (it->app_refs == 0) ReleaseReal(it->object->type, it->object->next, it->object->real);
        }
    }

private:
    struct Made {
        Object* object = nullptr;
        void* real = nullptr;
        Platform* platform = nullptr;
    };

    Result<Dest> DestOf(uint64_t device_id) {
        auto it = dests_.find(device_id);
        if (it != dests_.end()) return it->second;
        GPUCR_ASSIGN_OR_RETURN(Dest d, Resolve(device_id, target_, all_, snap_));
        dests_[device_id] = d;
        return d;
    }

    const Made* MadeOf(uint64_t id) const {
        auto it = index_.find(id);
        return it != index_.end() ? &created_[it->second] : nullptr;
    }

    // The new real context of o (created before it) and its platform.
    Result<Made> ContextOf(Object* o) const {
        const Made* c = o->context != nullptr ? MadeOf(o->context->id) : nullptr;
        if (c == nullptr) return Internal(fmt::format("{}: its context was not re-created", NameOf(*o)));
        return *c;
    }

    Status Failed(Object* o, const char* entry, cl_int err) {
        std::string where;
        std::vector<uint64_t> ids = ContextDeviceIds(o);
        if (!ids.empty()) {
            Result<Dest> d = DestOf(ids.front());
            if (d.ok()) where = fmt::format(" on '{}'", d->name);
        }
        return Internal(fmt::format("{}: {} failed{}: {}", NameOf(*o), entry, where, ClError(err)));
    }

    Result<Made> Create(const Entry& e) {
        switch (e.object->type) {
            case ObjectType::kContext:
                return CreateContext(static_cast<Context*>(e.object));
            case ObjectType::kCommandQueue:
                return CreateQueue(static_cast<CommandQueue*>(e.object));
            case ObjectType::kMem:
                return CreateMem(static_cast<Mem*>(e.object));
            case ObjectType::kSampler:
                return CreateSampler(static_cast<Sampler*>(e.object));
            case ObjectType::kProgram:
                return CreateProgram(static_cast<Program*>(e.object));
            case ObjectType::kKernel:
                return CreateKernel(static_cast<Kernel*>(e.object));
            case ObjectType::kEvent:
                return CreateEvent(static_cast<Event*>(e.object), e.event_status);
            default:
                return Internal(fmt::format("{}: not a re-created type", NameOf(*e.object)));
        }
    }

    Result<Made> CreateContext(Context* c) {
        std::vector<uint64_t> ids;
        std::vector<cl_context_properties> props;
        decltype(c->notify) notify = nullptr;
        void* user_data = nullptr;
        {
            std::lock_guard lock(c->mu);
            ids = c->devices;
            props = c->properties;
            notify = c->notify;
            user_data = c->notify_user_data;
        }
        if (ids.empty()) return Internal(fmt::format("{}: no device recorded", NameOf(*c)));
        std::vector<cl_device_id> devices;
        Dest first;
        for (uint64_t id : ids) {
            GPUCR_ASSIGN_OR_RETURN(Dest d, DestOf(id));
            if (devices.empty()) first = d;
            devices.push_back(d.real);
        }
        for (size_t i = 0; i + 1 < props.size(); i += 2) {
            if (props[i] == CL_CONTEXT_PLATFORM) props[i + 1] = reinterpret_cast<cl_context_properties>(first.platform_real);
        }
        cl_int err = CL_SUCCESS;
        cl_context real = first.dispatch->clCreateContext(props.empty() ? nullptr : props.data(),
                                                          static_cast<cl_uint>(devices.size()), devices.data(), notify,
                                                          user_data, &err);
        if (real == nullptr) return Failed(c, "clCreateContext", err);
        return Made{c, real, first.platform};
    }

    // The queue's property list with CL_QUEUE_PROPERTIES set to `bits` (0-terminated, or empty).
    static std::vector<cl_queue_properties> QueueList(const std::vector<cl_queue_properties>& recorded,
                                                      cl_command_queue_properties bits) {
        std::vector<cl_queue_properties> out;
        for (size_t i = 0; i + 1 < recorded.size() && recorded[i] != 0; i += 2) {
            if (recorded[i] != CL_QUEUE_PROPERTIES) out.insert(out.end(), {recorded[i], recorded[i + 1]});
        }
        if (bits != 0) out.insert(out.end(), {CL_QUEUE_PROPERTIES, bits});
        if (!out.empty()) out.push_back(0);
        return out;
    }

    Result<Made> CreateQueue(CommandQueue* q) {
        uint64_t device = 0;
        cl_command_queue_properties bits = 0;
        bool with_properties = false;
        std::vector<cl_queue_properties> recorded;
        {
            std::lock_guard lock(q->mu);
            device = q->device;
            bits = q->properties;
            with_properties = q->with_properties;
            recorded = q->property_list;
        }
        GPUCR_ASSIGN_OR_RETURN(Made ctx, ContextOf(q));
        GPUCR_ASSIGN_OR_RETURN(Dest dev, DestOf(device));
        const cl_icd_dispatch* d = RealDispatch(ctx.real);
        auto context = static_cast<cl_context>(ctx.real);
        cl_int err = CL_SUCCESS;
        auto make = [&](cl_command_queue_properties b) -> cl_command_queue {
            if ((with_properties || d->clCreateCommandQueue == nullptr) && d->clCreateCommandQueueWithProperties) {
                std::vector<cl_queue_properties> list = QueueList(recorded, b);
                return d->clCreateCommandQueueWithProperties(context, dev.real, list.empty() ? nullptr : list.data(),
                                                             &err);
            }
            return d->clCreateCommandQueue(context, dev.real, b, &err);
        };
        cl_command_queue real = make(bits);
        if (real == nullptr && err == CL_INVALID_QUEUE_PROPERTIES && (bits & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)) {
            // In order is one valid execution of an out-of-order queue.
            GPUCR_LOG_WARN("cl", "{}: '{}' has no out-of-order queues; re-created in order", NameOf(*q), dev.name);
            real = make(bits & ~static_cast<cl_command_queue_properties>(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE));
        }
        if (real == nullptr) return Failed(q, "clCreateCommandQueueWithProperties", err);
        return Made{q, real, ctx.platform};
    }

    Result<Made> CreateMem(Mem* m) {
        Mem r;  // the record, copied under the lock
        {
            std::lock_guard lock(m->mu);
            r.kind = m->kind;
            r.flags = m->flags;
            r.size = m->size;
            r.host_ptr = m->host_ptr;
            r.with_properties = m->with_properties;
            r.properties = m->properties;
            r.parent = m->parent;
            r.region = m->region;
            r.image_format = m->image_format;
            r.image_desc = m->image_desc;
        }
        GPUCR_ASSIGN_OR_RETURN(Made ctx, ContextOf(m));
        const cl_icd_dispatch* d = RealDispatch(ctx.real);
        auto context = static_cast<cl_context>(ctx.real);
        // Contents come back separately: no copy at creation.
        cl_mem_flags flags = r.flags & ~static_cast<cl_mem_flags>(CL_MEM_COPY_HOST_PTR);
        void* host_ptr = (r.flags & CL_MEM_USE_HOST_PTR) != 0 ? r.host_ptr : nullptr;
        const cl_mem_properties* props = r.properties.empty() ? nullptr : r.properties.data();
        const Made* parent = r.parent != 0 ? MadeOf(r.parent) : nullptr;
        if (r.parent != 0 && parent == nullptr) {
            return Internal(fmt::format("{}: its parent cl_mem {} was not re-created", NameOf(*m), r.parent));
        }
        cl_int err = CL_SUCCESS;
        cl_mem real = nullptr;
        const char* entry = "clCreateBuffer";
        if (r.kind == MemKind::kBuffer) {
            if (r.with_properties && d->clCreateBufferWithProperties != nullptr) {
                entry = "clCreateBufferWithProperties";
                real = d->clCreateBufferWithProperties(context, props, flags, r.size, host_ptr, &err);
            } else {
                real = d->clCreateBuffer(context, flags, r.size, host_ptr, &err);
            }
        } else if (r.kind == MemKind::kSubBuffer) {
            entry = "clCreateSubBuffer";
            real = RealDispatch(parent->real)
                       ->clCreateSubBuffer(static_cast<cl_mem>(parent->real), flags, CL_BUFFER_CREATE_TYPE_REGION,
                                           &r.region, &err);
        } else if (r.kind == MemKind::kImage) {
            entry = "clCreateImage";
            cl_image_desc desc = r.image_desc;
            if (parent != nullptr) desc.mem_object = static_cast<cl_mem>(parent->real);
            if (host_ptr == nullptr && parent == nullptr) desc.image_row_pitch = desc.image_slice_pitch = 0;
            if (r.with_properties && d->clCreateImageWithProperties != nullptr) {
                entry = "clCreateImageWithProperties";
                real = d->clCreateImageWithProperties(context, props, flags, &r.image_format, &desc, host_ptr, &err);
            } else if (d->clCreateImage != nullptr) {
                real = d->clCreateImage(context, flags, &r.image_format, &desc, host_ptr, &err);
            } else {
                err = CL_INVALID_OPERATION;
            }
        } else {
            return Unsupported(fmt::format("{}: a {} is not re-created", NameOf(*m), MemKindName(r.kind)));
        }
        if (real == nullptr) return Failed(m, entry, err);
        return Made{m, real, ctx.platform};
    }

    Result<Made> CreateSampler(Sampler* s) {
        Sampler r;
        {
            std::lock_guard lock(s->mu);
            r.normalized_coords = s->normalized_coords;
            r.addressing_mode = s->addressing_mode;
            r.filter_mode = s->filter_mode;
            r.with_properties = s->with_properties;
            r.properties = s->properties;
        }
        GPUCR_ASSIGN_OR_RETURN(Made ctx, ContextOf(s));
        const cl_icd_dispatch* d = RealDispatch(ctx.real);
        auto context = static_cast<cl_context>(ctx.real);
        cl_int err = CL_SUCCESS;
        cl_sampler real = nullptr;
        if ((r.with_properties || d->clCreateSampler == nullptr) && d->clCreateSamplerWithProperties != nullptr) {
            std::vector<cl_sampler_properties> props = {
                CL_SAMPLER_NORMALIZED_COORDS, r.normalized_coords, CL_SAMPLER_ADDRESSING_MODE, r.addressing_mode,
                CL_SAMPLER_FILTER_MODE,       r.filter_mode,       0};
            if (r.with_properties && !r.properties.empty()) props = r.properties;
            real = d->clCreateSamplerWithProperties(context, props.data(), &err);
        } else {
            real = d->clCreateSampler(context, r.normalized_coords, r.addressing_mode, r.filter_mode, &err);
        }
        if (real == nullptr) return Failed(s, "clCreateSampler", err);
        return Made{s, real, ctx.platform};
    }

    Result<cl_program> NewProgram(Program* p, const Program& r, cl_context context, const cl_icd_dispatch* d) {
        cl_int err = CL_SUCCESS;
        cl_program real = nullptr;
        switch (r.origin) {
            case ProgramOrigin::kSource: {
                const char* text = r.source.c_str();
                size_t length = r.source.size();
                real = d->clCreateProgramWithSource(context, 1, &text, &length, &err);
                if (real == nullptr) return Failed(p, "clCreateProgramWithSource", err);
                return real;
            }
            case ProgramOrigin::kIL:
                if (d->clCreateProgramWithIL == nullptr) return Failed(p, "clCreateProgramWithIL", CL_INVALID_OPERATION);
                real = d->clCreateProgramWithIL(context, r.il.data(), r.il.size(), &err);
                if (real == nullptr) return Failed(p, "clCreateProgramWithIL", err);
                return real;
            case ProgramOrigin::kBinary:
            case ProgramOrigin::kBuiltInKernels: {
                std::vector<cl_device_id> devices;
                std::vector<size_t> lengths;
                std::vector<const unsigned char*> binaries;
                for (uint64_t id : r.devices) {
                    auto b = r.binaries.find(id);
                    if (r.origin == ProgramOrigin::kBinary && b == r.binaries.end()) continue;
                    GPUCR_ASSIGN_OR_RETURN(Dest dev, DestOf(id));
                    devices.push_back(dev.real);
                    if (b != r.binaries.end()) {
                        lengths.push_back(b->second.size());
                        binaries.push_back(b->second.data());
                    }
                }
                auto n = static_cast<cl_uint>(devices.size());
                if (r.origin == ProgramOrigin::kBuiltInKernels) {
                    real = d->clCreateProgramWithBuiltInKernels(context, n, devices.data(), r.kernel_names.c_str(), &err);
                    if (real == nullptr) return Failed(p, "clCreateProgramWithBuiltInKernels", err);
                    return real;
                }
                real = d->clCreateProgramWithBinary(context, n, devices.data(), lengths.data(), binaries.data(),
                                                    nullptr, &err);
                if (real == nullptr) return Failed(p, "clCreateProgramWithBinary", err);
                return real;
            }
            default:
                return Unsupported(fmt::format("{}: a {} program is not re-created", NameOf(*p),
                                               ProgramOriginName(r.origin)));
        }
    }

    std::string BuildLog(const cl_icd_dispatch* d, cl_program program, cl_device_id device) {
        size_t n = 0;
        if (d->clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n) != CL_SUCCESS || n == 0) {
            return "";
        }
        std::string log(n, '\0');
        d->clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
        log.resize(std::min<size_t>(std::strlen(log.c_str()), 400));
        return log;
    }

    // clBuildProgram again, for each device with the options recorded for it (devices with the same
    // options together). A build that failed before may fail again.
    Status Build(Program* p, const Program& r, cl_program real, const cl_icd_dispatch* d) {
        std::map<std::string, std::pair<std::vector<cl_device_id>, bool>> groups;  // options -> devices, must succeed
        for (const auto& [id, b] : r.builds) {
            GPUCR_ASSIGN_OR_RETURN(Dest dev, DestOf(id));
            auto& g = groups[b.options];
            g.first.push_back(dev.real);
            g.second = g.second || b.result == CL_SUCCESS;
        }
        for (const auto& [options, g] : groups) {
            cl_int err = d->clBuildProgram(real, static_cast<cl_uint>(g.first.size()), g.first.data(),
                                           options.c_str(), nullptr, nullptr);
            if (err != CL_SUCCESS && g.second) {
                std::string log = BuildLog(d, real, g.first.front());
                Status s = Failed(p, "clBuildProgram", err);
                return Internal(log.empty() ? s.message() : s.message() + "; build log: " + log);
            }
        }
        return Status::Ok();
    }

    Result<Made> CreateProgram(Program* p) {
        Program r;
        {
            std::lock_guard lock(p->mu);
            r.origin = p->origin;
            r.source = p->source;
            r.il = p->il;
            r.binaries = p->binaries;
            r.kernel_names = p->kernel_names;
            r.devices = p->devices;
            r.builds = p->builds;
            r.spec_constants = p->spec_constants;
        }
        GPUCR_ASSIGN_OR_RETURN(Made ctx, ContextOf(p));
        const cl_icd_dispatch* d = RealDispatch(ctx.real);
        GPUCR_ASSIGN_OR_RETURN(cl_program real, NewProgram(p, r, static_cast<cl_context>(ctx.real), d));
        Status s;
        for (const auto& [id, value] : r.spec_constants) {
            cl_int err = d->clSetProgramSpecializationConstant != nullptr
                             ? d->clSetProgramSpecializationConstant(real, id, value.size(), value.data())
                             : CL_INVALID_OPERATION;
            if (err != CL_SUCCESS) {
                s = Failed(p, "clSetProgramSpecializationConstant", err);
                break;
            }
        }
        if (s.ok()) s = Build(p, r, real, d);
        if (!s.ok()) {
            d->clReleaseProgram(real);
            return s;
        }
        return Made{p, real, ctx.platform};
    }

    // Every recorded argument again, handles mapped to the new real objects. An argument naming an
    // object that is gone (released by the application) stays unset, as the application must set it
    // again before an enqueue.
    Status SetArgs(Kernel* k, const std::vector<KernelArg>& args, cl_kernel real, const cl_icd_dispatch* d) {
        for (size_t i = 0; i < args.size(); ++i) {
            const KernelArg& a = args[i];
            auto index = static_cast<cl_uint>(i);
            cl_int err = CL_SUCCESS;
            switch (a.kind) {
                case KernelArg::Kind::kUnset:
                case KernelArg::Kind::kSvm:
                    continue;
                case KernelArg::Kind::kValue:
                    err = d->clSetKernelArg(real, index, a.size, a.value.data());
                    break;
                case KernelArg::Kind::kLocal:
                    err = d->clSetKernelArg(real, index, a.size, nullptr);
                    break;
                case KernelArg::Kind::kMem:
                case KernelArg::Kind::kSampler:
                case KernelArg::Kind::kHandle: {
                    void* handle = nullptr;
                    if (a.object != 0) {
                        const Made* o = MadeOf(a.object);
                        if (o == nullptr) {
                            GPUCR_LOG_DEBUG("cl", "{}: argument {} names object {}, which is gone; left unset",
                                            NameOf(*k), i, a.object);
                            continue;
                        }
                        handle = o->real;
                    }
                    err = d->clSetKernelArg(real, index, sizeof(handle), &handle);
                    break;
                }
            }
            if (err != CL_SUCCESS) return Failed(k, fmt::format("clSetKernelArg({})", i).c_str(), err);
        }
        return Status::Ok();
    }

    Result<Made> CreateKernel(Kernel* k) {
        uint64_t program = 0;
        std::string name;
        std::vector<KernelArg> args;
        std::vector<std::pair<cl_kernel_exec_info, std::vector<uint8_t>>> exec_info;
        {
            std::lock_guard lock(k->mu);
            program = k->program;
            name = k->name;
            args = k->args;
            exec_info = k->exec_info;
        }
        const Made* p = MadeOf(program);
        if (p == nullptr) return Internal(fmt::format("{}: its cl_program {} was not re-created", NameOf(*k), program));
        const cl_icd_dispatch* d = RealDispatch(p->real);
        cl_int err = CL_SUCCESS;
        cl_kernel real = d->clCreateKernel(static_cast<cl_program>(p->real), name.c_str(), &err);
        if (real == nullptr) return Failed(k, "clCreateKernel", err);
        Status s = SetArgs(k, args, real, d);
        for (size_t i = 0; s.ok() && i < exec_info.size(); ++i) {
            const auto& [param, value] = exec_info[i];
            err = d->clSetKernelExecInfo != nullptr ? d->clSetKernelExecInfo(real, param, value.size(), value.data())
                                                    : CL_INVALID_OPERATION;
            if (err != CL_SUCCESS) s = Failed(k, "clSetKernelExecInfo", err);
        }
        if (!s.ok()) {
            d->clReleaseKernel(real);
            return s;
        }
        return Made{k, real, p->platform};
    }

    // Every event is complete (or failed) at teardown, or a user event: a user event of the new
    // context carries its status.
    Result<Made> CreateEvent(Event* e, cl_int status) {
        GPUCR_ASSIGN_OR_RETURN(Made ctx, ContextOf(e));
        const cl_icd_dispatch* d = RealDispatch(ctx.real);
        cl_int err = CL_SUCCESS;
        cl_event real = d->clCreateUserEvent(static_cast<cl_context>(ctx.real), &err);
        if (real == nullptr) return Failed(e, "clCreateUserEvent", err);
        if (status <= CL_COMPLETE) {
            err = d->clSetUserEventStatus(real, status);
            if (err != CL_SUCCESS) {
                d->clReleaseEvent(real);
                return Failed(e, "clSetUserEventStatus", err);
            }
        }
        return Made{e, real, ctx.platform};
    }

    // The application's device handles the target moves answer about their new device from now on.
    void MoveDevices() {
        for (const auto& [id, dest] : dests_) {
            auto* dev = static_cast<Device*>(snap_.Find(id, ObjectType::kDevice));
            if (dev == nullptr || !dest.moved) continue;
            dev->next = dest.dispatch;
            dev->platform = dest.platform;
            ObjectTable::Get().SetReal(dev, dest.real);
            std::string from;
            {
                std::lock_guard lock(dev->mu);
                from = dev->name;
                dev->name = dest.name;
                dev->device_type = dest.device_type;
            }
            GPUCR_LOG_INFO("cl", "cl_device_id {} moved from '{}' to '{}'", id, from, dest.name);
        }
    }

    const RecreateTarget& target_;
    const std::vector<TargetDevice>& all_;
    const Snapshot& snap_;
    std::map<uint64_t, Dest> dests_;
    std::vector<Made> created_;
    std::map<uint64_t, size_t> index_;  // object id -> created_
};

std::vector<Object*> ObjectsOf(const std::vector<Entry>& entries) {
    std::vector<Object*> out;
    for (const Entry& e : entries) out.push_back(e.object);
    return out;
}

std::string DeviceName(const cl_icd_dispatch* d, cl_device_id device) {
    Dest dest;
    dest.dispatch = d;
    dest.real = device;
    return DeviceText(dest, CL_DEVICE_NAME);
}

// The root device wrapper of a (sub-)device.
Device* RootOf(Device* d, const Snapshot& snap) {
    for (int i = 0; d != nullptr && d->parent != 0 && i < 16; ++i) {
        d = static_cast<Device*>(snap.Find(d->parent, ObjectType::kDevice));
    }
    return d;
}

}  // namespace

std::vector<TargetDevice> AllDevices() {
    std::vector<TargetDevice> out;
    for (Platform* p : Platforms()) {
        auto platform = static_cast<cl_platform_id>(p->real);
        cl_uint n = 0;
        if (p->next->clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, nullptr, &n) != CL_SUCCESS || n == 0) continue;
        std::vector<cl_device_id> devices(n);
        if (p->next->clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, n, devices.data(), nullptr) != CL_SUCCESS) continue;
        for (cl_device_id d : devices) {
            TargetDevice t;
            t.platform_real = platform;
            t.device_real = d;
            t.dispatch = RealDispatch(d);
            t.platform_name = p->name;
            t.device_name = DeviceName(t.dispatch, d);
            t.platform_wrapper = p;
            t.dispatch->clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(t.device_type), &t.device_type, nullptr);
            out.push_back(std::move(t));
        }
    }
    return out;
}

Result<RecreateTarget> TargetForDevice(size_t index) {
    std::vector<TargetDevice> all = AllDevices();
    if (index >= all.size()) {
        return InvalidArgument(fmt::format("no OpenCL device {} (the process sees {})", index, all.size()));
    }
    const TargetDevice& to = all[index];
    Snapshot snap;
    RecreateTarget target;
    for (Object* o : Collect(snap)) {
        if (o->type != ObjectType::kContext) continue;
        std::vector<uint64_t> ids = ContextDeviceIds(o);
        size_t mapped = 0;
        for (uint64_t id : ids) {
            auto* d = static_cast<Device*>(snap.Find(id, ObjectType::kDevice));
            if (d == nullptr) continue;
            Device* root = RootOf(d, snap);
            if (d->parent != 0 && root != nullptr && root->real == to.device_real) continue;  // stays
            target.devices[id] = index;
            ++mapped;
        }
        if (mapped > 1) {
            return Unsupported(fmt::format("{}: its {} devices cannot all go to device {} ('{}')", NameOf(*o),
                                           ids.size(), index, to.device_name));
        }
    }
    return target;
}

std::vector<std::string> CheckRecreatable(const RecreateTarget& target) {
    State& state = GetState();
    std::lock_guard lock(state.mu);
    std::vector<TargetDevice> all = AllDevices();
    Snapshot snap;
    std::vector<Object*> objects = state.torn_down ? ObjectsOf(state.entries) : Collect(snap);
    return Checker(target, all, snap).Run(objects);
}

Status Teardown() {
    State& state = GetState();
    std::lock_guard lock(state.mu);
    if (state.torn_down) return FailedPrecondition("the OpenCL objects are already torn down");
    std::vector<TargetDevice> all = AllDevices();
    Snapshot snap;
    std::vector<Object*> objects = Collect(snap);
    std::vector<std::string> why = Checker(RecreateTarget{}, all, snap).Run(objects);
    if (!why.empty()) return Unsupported("the OpenCL objects cannot be torn down and created again: " + Join(why));
    std::vector<Entry> entries;
    for (Object* o : objects) {
        Entry e{o, o->app_refs.load()};
        if (o->type == ObjectType::kEvent) {
            GPUCR_ASSIGN_OR_RETURN(e.event_status, EventStatus(o));
        }
        entries.push_back(e);
    }
    for (const Entry& e : entries) {
        AddRef(e.object);
        CancelReleaseCallbacks(e.object);
        if (e.object->type == ObjectType::kEvent && e.event_status > CL_COMPLETE) CompleteUnsetUserEvent(e.object);
    }
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) ReleaseForTeardown(*it);
    GPUCR_LOG_INFO("cl", "{} OpenCL objects torn down", entries.size());
    state.entries = std::move(entries);
    state.torn_down = true;
    return Status::Ok();
}

Status Recreate(const RecreateTarget& target) {
    State& state = GetState();
    std::lock_guard lock(state.mu);
    if (!state.torn_down) return FailedPrecondition("no OpenCL objects are torn down");
    std::vector<TargetDevice> all = AllDevices();
    Snapshot snap;
    std::vector<std::string> why = Checker(target, all, snap).Run(ObjectsOf(state.entries));
    if (!why.empty()) return Unsupported("the OpenCL objects cannot be created again there: " + Join(why));
    Builder builder(target, all, snap);
    Status s = builder.CreateAll(state.entries);
    if (!s.ok()) {
        builder.Discard();
        GPUCR_LOG_WARN("cl", "re-creating the OpenCL objects failed: {}", s.message());
        return s;
    }
    builder.Commit(state.entries);
    std::vector<Entry> entries = std::move(state.entries);
    state.entries.clear();
    state.torn_down = false;
    for (const Entry& e : entries) Unref(e.object);  // Teardown's references
    GPUCR_LOG_INFO("cl", "{} OpenCL objects created again", entries.size());
    return Status::Ok();
}

bool TornDown() {
    State& state = GetState();
    std::lock_guard lock(state.mu);
    return state.torn_down;
}

Result<RealMemHandles> RealHandlesOf(uint64_t mem_id) {
    RealMemHandles h;
    const Object* context = nullptr;
    ObjectTable::Get().WithId(mem_id, [&](const Object& o) {
        if (o.type != ObjectType::kMem) return;
        h.mem = static_cast<cl_mem>(o.real);
        h.dispatch = o.next;
        context = o.context;
        if (context != nullptr) h.context = static_cast<cl_context>(context->real);
    });
    if (h.mem == nullptr || h.context == nullptr) {
        return NotFound(fmt::format("cl_mem {}: no live memory object with a real object behind it", mem_id));
    }
    std::vector<uint64_t> devices;
    {
        std::lock_guard lock(context->mu);
        devices = static_cast<const Context*>(context)->devices;
    }
    if (!devices.empty()) {
        ObjectTable::Get().WithId(devices.front(), [&](const Object& d) { h.device = static_cast<cl_device_id>(d.real); });
    }
    bool in_order = false;
    ObjectTable::Get().ForEach([&](const Object& o) {
        if (o.type != ObjectType::kCommandQueue || o.context != context || o.real == nullptr || in_order) return;
        std::lock_guard lock(o.mu);
        bool ooo = (static_cast<const CommandQueue&>(o).properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
        if (h.queue == nullptr || !ooo) h.queue = static_cast<cl_command_queue>(o.real);
        in_order = !ooo;
    });
    return h;
}

}  // namespace gpucr::cl
