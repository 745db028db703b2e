#include "dag/host_guard.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace gpucr::hostguard {
namespace {

constexpr int kSlots = 1024;

struct Slot {
    std::atomic<uintptr_t> base{0};
    std::atomic<uint64_t> size{0};
    std::atomic<FaultHandler> handler{nullptr};
    std::atomic<void*> ctx{nullptr};
    std::atomic<int> active{0};  // handlers running for this slot
};

Slot g_slots[kSlots];
std::mutex g_mu;
bool g_installed = false;
struct sigaction g_previous;

void Chain(int sig, siginfo_t* info, void* uctx) {
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction != nullptr) {
            g_previous.sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    // Default action: re-raise with the default disposition once we return.
    signal(sig, SIG_DFL);
}

void OnSegv(int sig, siginfo_t* info, void* uctx) {
    const int saved_errno = errno;
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Slot& s : g_slots) {
        s.active.fetch_add(1, std::memory_order_acquire);
        const uintptr_t base = s.base.load(std::memory_order_acquire);
        const uint64_t size = s.size.load(std::memory_order_acquire);
        if (base != 0 && addr >= base && addr < base + size) {
            FaultHandler h = s.handler.load(std::memory_order_acquire);
            if (h != nullptr) h(s.ctx.load(std::memory_order_acquire), addr - base);
            s.active.fetch_sub(1, std::memory_order_release);
            errno = saved_errno;
            return;
        }
        s.active.fetch_sub(1, std::memory_order_release);
    }
    errno = saved_errno;
    Chain(sig, info, uctx);
}

}  // namespace

Status Install() {
    std::lock_guard lock(g_mu);
    if (g_installed) return Status::Ok();
    struct sigaction sa = {};
    sa.sa_sigaction = &OnSegv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &g_previous) != 0) return ErrnoError("sigaction(SIGSEGV)", errno);
    g_installed = true;
    return Status::Ok();
}

int AddRange(void* base, uint64_t size, FaultHandler handler, void* ctx) {
    std::lock_guard lock(g_mu);
    for (int i = 0; i < kSlots; ++i) {
        Slot& s = g_slots[i];
        if (s.base.load() != 0) continue;
        s.handler.store(handler);
        s.ctx.store(ctx);
        s.size.store(size);
        s.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
        return i;
    }
    return -1;
}

void RemoveRange(int slot) {
    if (slot < 0 || slot >= kSlots) return;
    std::lock_guard lock(g_mu);
    Slot& s = g_slots[slot];
    s.base.store(0, std::memory_order_release);
    while (s.active.load(std::memory_order_acquire) != 0) sched_yield();
    s.handler.store(nullptr);
    s.ctx.store(nullptr);
    s.size.store(0);
}

bool SetWritableRaw(void* base, uint64_t size, bool writable) noexcept {
    return mprotect(base, size, writable ? (PROT_READ | PROT_WRITE) : PROT_READ) == 0;
}

Status SetWritable(void* base, uint64_t size, bool writable) {
    if (!SetWritableRaw(base, size, writable)) return ErrnoError("mprotect", errno);
    return Status::Ok();
}

}  // namespace gpucr::hostguard
