// gate.h — the suspend gate: every front-end entry point that reaches a driver object passes through
// its API's gate.
//
// While gpucr suspends, resumes or migrates a process, the driver objects behind the application's
// handles are destroyed and created again. A gate keeps application threads out of the driver
// meanwhile: Close() waits until no thread is inside and makes later ones wait at the gate until
// Open(). There is one gate per API (ForApi), so that holding OpenCL does not stop Vulkan calls.
// A closed gate is not owned by a thread (suspend closes it, a later resume opens it, from other
// requests); the thread doing that work marks itself with Owner so that its own calls through
// entry points (command-buffer re-recording, queue drains) pass every gate.
//
//   cl_int clFinish(...) { gate::Scope in(gate::ForApi(gate::Api::kOpenCl)); ... }  // application
//   { gate::Owner owner; if (!gate.Close(10s)) fail; ... }                          // suspend
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gpucr::gate {

class Gate {
public:
    Gate() = default;
    Gate(const Gate&) = delete;
    Gate& operator=(const Gate&) = delete;

    // Makes new entries wait and waits until no thread is inside; false (gate open again) when
    // threads are still inside after `timeout`. The calling thread's own entry does not count.
    bool Close(std::chrono::milliseconds timeout) noexcept;
    void Open() noexcept;
    bool closed() const noexcept { return closed_.load(); }
    // Threads waiting at the gate now (for tests and status).
    int64_t waiting() const noexcept { return waiting_.load(); }

private:
    friend class Scope;
    // True when this entry counts (the first on this thread, not an owner): Leave() must follow.
    bool Enter() noexcept;
    void Leave() noexcept;

    std::atomic<int64_t> inside_{0};
    std::atomic<int64_t> waiting_{0};
    std::atomic<bool> closed_{false};
};

enum class Api : uint8_t { kVulkan, kOpenCl, kCuda };
// The process's gate for `api` (never destroyed: entry points may run during exit).
Gate& ForApi(Api api) noexcept;

// Inside `gate` for the scope of one call into the driver: waits while the gate is closed. Nested
// scopes of one thread on one gate count once; entering never throws.
class Scope {
public:
    explicit Scope(Gate& gate) noexcept : gate_(gate), counted_(gate.Enter()) {}
    ~Scope() {
        if (counted_) gate_.Leave();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    Gate& gate_;
    bool counted_;
};

// Marks the calling thread as the one suspending or resuming: it passes every gate.
class Owner {
public:
    Owner() noexcept;
    ~Owner();
    Owner(const Owner&) = delete;
    Owner& operator=(const Owner&) = delete;
    static bool IsOwner() noexcept;
};

}  // namespace gpucr::gate
