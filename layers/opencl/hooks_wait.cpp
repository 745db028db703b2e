// hooks_wait.cpp — host waits that never hold a suspend up: clWaitForEvents and clFinish.
//
// A thread blocked in the real clWaitForEvents or clFinish inside the gate would stop a suspend for as
// long as the commands run, or forever: it may wait for a user event that another application thread
// completes, and that thread waits at the closed gate. These overrides poll instead. Each poll enters the
// gate, reads the execution status of the real events (looked up again every time: a suspend between two
// polls re-creates them) and leaves; between polls the thread waits outside the gate until a polled event
// completes (a callback the poll registers) or one slice has passed. Input the shim does not judge itself
// goes to the real call, so the error codes are the ICD's.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "cl_entry.h"
#include "layers/opencl/gate.h"
#include "layers/opencl/wrap.h"

namespace gpucr::cl {
namespace {

constexpr std::chrono::milliseconds kSlice{20};
// When the ICD cannot call back on completion, polls come this often instead.
constexpr std::chrono::milliseconds kShortSlice{1};

// Completions of polled events anywhere in the process: the callback counts them and wakes every
// waiter, which polls its own events again.
struct Completions {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t epoch = 0;
};

Completions& TheCompletions() {
    static auto* c = new Completions();  // never destroyed: the ICD's threads may call back during exit
    return *c;
}

void CL_CALLBACK OnCompleted(cl_event, cl_int, void*) {
    Completions& c = TheCompletions();
    {
        std::lock_guard lock(c.mu);
        ++c.epoch;
    }
    c.cv.notify_all();
}

uint64_t CompletionEpoch() {
    Completions& c = TheCompletions();
    std::lock_guard lock(c.mu);
    return c.epoch;
}

void WaitForCompletion(uint64_t seen, std::chrono::milliseconds slice) {
    Completions& c = TheCompletions();
    std::unique_lock lock(c.mu);
    c.cv.wait_for(lock, slice, [&] { return c.epoch != seen; });
}

// The real events one wait has registered OnCompleted on (once each: a callback stays until it runs).
class Watch {
public:
    // False when the ICD cannot call back (OpenCL 1.0, or it refused).
    bool Add(const cl_icd_dispatch* next, cl_event real) {
        if (std::find(watched_.begin(), watched_.end(), real) != watched_.end()) return true;
        if (next->clSetEventCallback == nullptr ||
            next->clSetEventCallback(real, CL_COMPLETE, OnCompleted, nullptr) != CL_SUCCESS) {
            return false;
        }
        watched_.push_back(real);
        return true;
    }

private:
    std::vector<cl_event> watched_;
};

// What one poll found: the call's result once it is over, else whether a completion will wake the waiter.
struct Polled {
    std::optional<cl_int> result;
    bool wakes = true;
};

cl_int ExecutionStatus(Object* e, cl_int* status) {
    return e->next->clGetEventInfo(static_cast<cl_event>(e->real), CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(*status),
                                   status, nullptr);
}

// Calls poll() inside the gate until it has a result, waiting outside the gate in between.
template <typename Poll>
cl_int WaitInSlices(Poll poll) {
    for (;;) {
        const uint64_t seen = CompletionEpoch();
        Polled p;
        {
            GateScope gate;
            p = poll();
        }
        if (p.result) return *p.result;
        WaitForCompletion(seen, p.wakes ? kSlice : kShortSlice);
    }
}

// One clWaitForEvents.
class EventsWait {
public:
    EventsWait(cl_uint count, const cl_event* events) : count_(count), events_(events) {}

    Polled Poll() {
        if (first_) {
            first_ = false;
            if (!Usual()) return {Real()};
            Flush();
        }
        bool failed = false, pending = false, wakes = true;
        for (cl_uint i = 0; i < count_; ++i) {
            Object* e = Lookup(events_[i]);
            if (e == nullptr) return {CL_INVALID_EVENT};  // released while waited for
            cl_int status = CL_COMPLETE;
            if (ExecutionStatus(e, &status) != CL_SUCCESS) return {Real()};
            if (status < 0) failed = true;
            if (status > CL_COMPLETE) {
                pending = true;
                wakes = watch_.Add(e->next, static_cast<cl_event>(e->real)) && wakes;
            }
        }
        // A failed event ends the wait: the others may never complete.
        if (failed) return {CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST};
        if (pending) return {std::nullopt, wakes};
        return {CL_SUCCESS};
    }

private:
    // Events the shim can poll: its own, of one ICD and one context. Anything else (an invalid handle,
    // events of two contexts) is the real call's to judge.
    bool Usual() const {
        Object* first = Lookup(events_[0]);
        for (cl_uint i = 0; i < count_; ++i) {
            Object* e = Lookup(events_[i]);
            if (e == nullptr || e->type != ObjectType::kEvent || e->next != first->next || e->context == nullptr ||
                e->context != first->context) {
                return false;
            }
        }
        return true;
    }

    cl_int Real() const {
        Object* first = Lookup(events_[0]);
        if (first == nullptr) return CL_INVALID_EVENT;
        UnwrappedArray<cl_event> real(events_, count_);
        return first->next->clWaitForEvents(count_, real.data());
    }

    // As clWaitForEvents does: the queues of the events flushed, so that their commands run.
    void Flush() const {
        cl_command_queue last = nullptr;
        for (cl_uint i = 0; i < count_; ++i) {
            Object* e = Lookup(events_[i]);
            cl_command_queue q = nullptr;
            if (e == nullptr ||
                e->next->clGetEventInfo(static_cast<cl_event>(e->real), CL_EVENT_COMMAND_QUEUE, sizeof(q), &q,
                                        nullptr) != CL_SUCCESS ||
                q == nullptr || q == last) {
                continue;  // user events have no queue
            }
            e->next->clFlush(q);
            last = q;
        }
    }

    cl_uint count_;
    const cl_event* events_;
    bool first_ = true;
    Watch watch_;
};

// One clFinish: a marker after everything on the real queue, polled. A suspend between polls
// re-creates the queue: the marker is then made again on the new one.
class FinishWait {
public:
    explicit FinishWait(cl_command_queue queue) : queue_(queue) {}
    ~FinishWait() { Drop(); }
    FinishWait(const FinishWait&) = delete;
    FinishWait& operator=(const FinishWait&) = delete;

    Polled Poll() {
        Object* q = Lookup(queue_);
        if (q == nullptr || q->type != ObjectType::kCommandQueue) {
            Drop();
            return {CL_INVALID_COMMAND_QUEUE};
        }
        auto real = static_cast<cl_command_queue>(q->real);
        if (marker_ == nullptr || marker_queue_ != real) {
            Drop();
            if (EnqueueMarker(q, real) != CL_SUCCESS) return {q->next->clFinish(real)};
        }
        cl_int status = CL_COMPLETE;
        if (next_->clGetEventInfo(marker_, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status), &status, nullptr) !=
            CL_SUCCESS) {
            Drop();
            return {q->next->clFinish(real)};
        }
        if (status <= CL_COMPLETE) {
            Drop();  // failed commands are not clFinish's to report
            return {CL_SUCCESS};
        }
        return {std::nullopt, watch_.Add(next_, marker_)};
    }

private:
    cl_int EnqueueMarker(Object* q, cl_command_queue real) {
        cl_event marker = nullptr;
        cl_int r = q->next->clEnqueueMarkerWithWaitList != nullptr
                       ? q->next->clEnqueueMarkerWithWaitList(real, 0, nullptr, &marker)
                       : q->next->clEnqueueMarker(real, &marker);
        if (r != CL_SUCCESS) return r;
        marker_ = marker;
        marker_queue_ = real;
        next_ = q->next;
        q->next->clFlush(real);  // the marker too
        return CL_SUCCESS;
    }

    void Drop() {
        if (marker_ != nullptr) next_->clReleaseEvent(marker_);
        marker_ = nullptr;
    }

    cl_command_queue queue_;
    cl_event marker_ = nullptr;
    cl_command_queue marker_queue_ = nullptr;
    const cl_icd_dispatch* next_ = nullptr;
    Watch watch_;
};

}  // namespace

namespace entry {

cl_int CL_API_CALL clWaitForEvents(cl_uint num_events, const cl_event* event_list) noexcept {
    try {
        if (num_events == 0 || event_list == nullptr) return CL_INVALID_VALUE;
        EventsWait wait(num_events, event_list);
        return WaitInSlices([&] { return wait.Poll(); });
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

cl_int CL_API_CALL clFinish(cl_command_queue command_queue) noexcept {
    try {
        FinishWait wait(command_queue);
        return WaitInSlices([&] { return wait.Poll(); });
    } catch (...) {
        return CL_OUT_OF_HOST_MEMORY;
    }
}

}  // namespace entry
}  // namespace gpucr::cl
