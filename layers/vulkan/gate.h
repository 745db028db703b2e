// gate.h — the suspend gate: every entry point that reaches a driver object passes through it.
//
// While gpucr suspends, resumes or migrates a process, the driver objects behind the
// application's handles are destroyed and created again. The gate keeps application threads
// out of the driver meanwhile: Close() waits until no thread is inside an entry point and
// makes later ones wait in Enter() until Open(). A closed gate is not owned by a thread (suspend
// closes it, a later resume opens it, from other requests); the thread doing that work marks
// itself with GateOwner so that the layer's own calls through entry points (command-buffer
// re-recording) pass.
//
//   VkResult vkQueueSubmit(...) { GateScope gate; ... }          // application threads
//   { GateOwner owner; if (!Gate::Get().Close(10s)) fail; ... }  // suspend
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gpucr::vk {

class Gate {
public:
    static Gate& Get();

    // Application threads, around one call into the driver. Nested calls on a thread count once.
    void Enter() noexcept;
    void Leave() noexcept;

    // Makes new Enter() calls wait and waits until no thread is inside; false (gate open again)
    // when threads are still inside after `timeout`.
    bool Close(std::chrono::milliseconds timeout) noexcept;
    void Open() noexcept;
    bool closed() const noexcept { return closed_.load(); }
    // Threads waiting in Enter() now (for tests and status).
    int64_t waiting() const noexcept { return waiting_.load(); }

private:
    std::atomic<int64_t> inside_{0};
    std::atomic<int64_t> waiting_{0};
    std::atomic<bool> closed_{false};
};

class GateScope {
public:
    GateScope() noexcept { Gate::Get().Enter(); }
    ~GateScope() { Gate::Get().Leave(); }
    GateScope(const GateScope&) = delete;
    GateScope& operator=(const GateScope&) = delete;
};

// Marks the calling thread as the one suspending or resuming: its Enter() calls pass.
class GateOwner {
public:
    GateOwner() noexcept;
    ~GateOwner();
    GateOwner(const GateOwner&) = delete;
    GateOwner& operator=(const GateOwner&) = delete;
    static bool IsOwner() noexcept;
};

}  // namespace gpucr::vk
