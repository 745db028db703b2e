#include "dag/gate.h"

#include <array>
#include <thread>

#include "dag/log.h"

namespace gpucr::gate {
namespace {

// The gates the calling thread is inside, with its nesting depth in each. A thread is inside one
// gate per API at most, so a few slots suffice.
struct Entered {
    const Gate* gate = nullptr;
    int depth = 0;
};
constexpr size_t kMaxGatesPerThread = 8;
thread_local std::array<Entered, kMaxGatesPerThread> t_entered{};
thread_local int t_owner = 0;

constexpr size_t kApiCount = static_cast<size_t>(Api::kCuda) + 1;

Entered* FindEntered(const Gate* gate) noexcept {
    for (Entered& e : t_entered) {
        if (e.gate == gate) return &e;
    }
    return nullptr;
}

}  // namespace

bool Gate::Enter() noexcept {
    if (t_owner > 0) return false;
    if (Entered* e = FindEntered(this); e != nullptr) {
        ++e->depth;
        return true;
    }
    Entered* slot = FindEntered(nullptr);
    if (slot == nullptr) {
        // Not reached with one gate per API; passing ungated beats failing the application's call.
        GPUCR_LOG_ERROR_ONCE("gate", "a thread is inside more than {} gates; this entry is not gated",
                             kMaxGatesPerThread);
        return false;
    }
    *slot = Entered{this, 1};
    for (;;) {
        inside_.fetch_add(1);
        if (!closed_.load()) return true;
        // Closed: step out again (Close() may be waiting for zero) and wait for Open().
        inside_.fetch_sub(1);
        waiting_.fetch_add(1);
        closed_.wait(true);
        waiting_.fetch_sub(1);
    }
}

void Gate::Leave() noexcept {
    Entered* e = FindEntered(this);
    if (--e->depth > 0) return;
    *e = Entered{};
    inside_.fetch_sub(1);
}

bool Gate::Close(std::chrono::milliseconds timeout) noexcept {
    closed_.store(true);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // The closing thread may itself be inside (entries it made as an owner did not count).
    const int64_t self = FindEntered(this) != nullptr ? 1 : 0;
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

Gate& ForApi(Api api) noexcept {
    static Gate* const gates = new Gate[kApiCount];  // never destroyed: entry points may run during exit
    return gates[static_cast<size_t>(api)];
}

Owner::Owner() noexcept { ++t_owner; }
Owner::~Owner() { --t_owner; }
bool Owner::IsOwner() noexcept { return t_owner > 0; }

}  // namespace gpucr::gate
