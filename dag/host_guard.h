// host_guard.h — catches CPU writes to memory the application has mapped, during a dump.
//
// A checkpoint must see host writes to mapped GPU memory that happen after its cut. The
// engine write-protects those ranges; the first write to a protected page faults, and the
// registered handler runs in the faulting thread (signal context: async-signal-safe code
// only), copies or marks what it must, makes the page writable and returns, after which the
// write proceeds. Faults outside registered ranges go to the handler that was installed before.
//
//   GPUCR_RETURN_IF_ERROR(hostguard::Install());
//   int slot = hostguard::AddRange(base, size, &OnFault, ctx);
//   GPUCR_RETURN_IF_ERROR(hostguard::SetWritable(base, size, false));
//   ...
//   hostguard::RemoveRange(slot);   // waits until no handler runs for it
#pragma once

#include <cstdint>

#include "dag/status.h"

namespace gpucr::hostguard {

// Called on a write fault at `offset` bytes into the range. Must leave the page writable.
using FaultHandler = void (*)(void* ctx, uint64_t offset);

Status Install();
// Returns a slot, or -1 when the table is full.
int AddRange(void* base, uint64_t size, FaultHandler handler, void* ctx);
void RemoveRange(int slot);
// mprotect wrapper (page-aligned range); async-signal-safe.
Status SetWritable(void* base, uint64_t size, bool writable);
bool SetWritableRaw(void* base, uint64_t size, bool writable) noexcept;

}  // namespace gpucr::hostguard
