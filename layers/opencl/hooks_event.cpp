// hooks_event.cpp — events (user events, callbacks with the application's handle) and the SVM free
// callback. Waits are in hooks_wait.cpp.
#include <memory>
#include <vector>

#include "cl_entry.h"
#include "cl_hooks.h"
#include "dag/log.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

struct EventCallbackRecord {
    void(CL_CALLBACK* fn)(cl_event, cl_int, void*);
    void* user_data;
    Object* event;
};

// Holds a reference on the event until it has run (each registered callback runs once).
void CL_CALLBACK OnEventStatus(cl_event, cl_int status, void* user_data) {
    auto* r = static_cast<EventCallbackRecord*>(user_data);
    Object* e = r->event;
    r->fn(reinterpret_cast<cl_event>(e), status, r->user_data);
    Unref(e);  // last: may free the wrapper and this record
}

struct SvmFreeRecord {
    void(CL_CALLBACK* fn)(cl_command_queue, cl_uint, void**, void*);
    void* user_data;
    Object* queue;
};

void CL_CALLBACK OnSvmFree(cl_command_queue, cl_uint num_svm_pointers, void** svm_pointers, void* user_data) {
    auto* r = static_cast<SvmFreeRecord*>(user_data);
    Object* q = r->queue;
    r->fn(reinterpret_cast<cl_command_queue>(q), num_svm_pointers, svm_pointers, r->user_data);
    Unref(q);
}

}  // namespace

namespace entry {

cl_int CL_API_CALL clSetEventCallback(cl_event event, cl_int command_exec_callback_type,
                                      void(CL_CALLBACK* pfn_notify)(cl_event, cl_int, void*),
                                      void* user_data) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(event);
        if (self == nullptr) return CL_INVALID_EVENT;
        auto real = static_cast<cl_event>(self->real);
        if (pfn_notify == nullptr) {
            return self->next->clSetEventCallback(real, command_exec_callback_type, nullptr, user_data);
        }
        auto record = std::make_shared<EventCallbackRecord>(EventCallbackRecord{pfn_notify, user_data, self});
        {
            std::lock_guard lock(self->mu);
            self->keep.push_back(record);
        }
        AddRef(self);
        cl_int r = self->next->clSetEventCallback(real, command_exec_callback_type, OnEventStatus, record.get());
        if (r != CL_SUCCESS) Unref(self);
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clEnqueueSVMFree(cl_command_queue command_queue, cl_uint num_svm_pointers, void* svm_pointers[],
                                    void(CL_CALLBACK* pfn_free_func)(cl_command_queue, cl_uint, void**, void*),
                                    void* user_data, cl_uint num_events_in_wait_list, const cl_event* event_wait_list,
                                    cl_event* event) noexcept {
    try {
        GateScope gate;
        Object* self = Lookup(command_queue);
        if (self == nullptr) return CL_INVALID_COMMAND_QUEUE;
        if (self->next->clEnqueueSVMFree == nullptr) return CL_INVALID_OPERATION;
        UnwrappedArray<cl_event> waits(event_wait_list, num_events_in_wait_list);
        std::shared_ptr<SvmFreeRecord> record;
        if (pfn_free_func != nullptr) {
            record = std::make_shared<SvmFreeRecord>(SvmFreeRecord{pfn_free_func, user_data, self});
            std::lock_guard lock(self->mu);
            self->keep.push_back(record);
        }
        if (record) AddRef(self);
        cl_int r = self->next->clEnqueueSVMFree(static_cast<cl_command_queue>(self->real), num_svm_pointers,
                                                svm_pointers, record ? OnSvmFree : nullptr, record.get(),
                                                num_events_in_wait_list, waits.data(), event);
        if (r != CL_SUCCESS) {
            if (record) Unref(self);
            return r;
        }
        if (event != nullptr) *event = WrapEvent(*event, self, "clEnqueueSVMFree");
        return r;
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace entry

namespace hooks {

void PostCall_clCreateUserEvent(Object*, cl_event result, cl_context, cl_int*) noexcept {
    auto* e = static_cast<Event*>(reinterpret_cast<Object*>(result));
    std::lock_guard lock(e->mu);
    e->user = true;
}

void PostCall_clSetUserEventStatus(Object* self, cl_int result, cl_event, cl_int execution_status) noexcept {
    if (result != CL_SUCCESS) return;
    std::lock_guard lock(self->mu);
    static_cast<Event*>(self)->user_status = execution_status;
}

}  // namespace hooks
}  // namespace gpucr::cl
