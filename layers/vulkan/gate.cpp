#include "layers/vulkan/gate.h"

#include <thread>

namespace gpucr::vk {
namespace {

thread_local int t_depth = 0;
thread_local int t_owner = 0;

}  // namespace

Gate& Gate::Get() {
    static Gate* gate = new Gate();  // never destroyed: entry points may run during exit
    return *gate;
}

void Gate::Enter() noexcept {
    if (t_owner > 0 || t_depth++ > 0) return;
    for (;;) {
        inside_.fetch_add(1);
        if (!closed_.load()) return;
        // Closed: step out again (Close() may be waiting for zero) and wait for Open().
        if (inside_.fetch_sub(1) == 1) inside_.notify_all();
        waiting_.fetch_add(1);
        closed_.wait(true);
        waiting_.fetch_sub(1);
    }
}

void Gate::Leave() noexcept {
    if (t_owner > 0 || --t_depth > 0) return;
    if (inside_.fetch_sub(1) == 1 && closed_.load()) inside_.notify_all();
}

bool Gate::Close(std::chrono::milliseconds timeout) noexcept {
    closed_.store(true);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // The closing thread may itself be inside (an owner never is).
    const int64_t self = t_owner > 0 ? 0 : (t_depth > 0 ? 1 : 0);
    while (inside_.load() > self) {
        if (std::chrono::steady_clock::now() >= deadline) {
            Open();
            return false;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

void Gate::Open() noexcept {
    closed_.store(false);
    closed_.notify_all();
}

GateOwner::GateOwner() noexcept { ++t_owner; }
GateOwner::~GateOwner() { --t_owner; }
bool GateOwner::IsOwner() noexcept { return t_owner > 0; }

}  // namespace gpucr::vk
