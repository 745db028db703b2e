// agent.h — the in-process agent: a thread serving gpucr's control socket.
//
// A front-end (Vulkan layer, OpenCL shim, CUDA interposer) registers a Provider when it loads;
// the first registration starts the agent thread, which listens on
// <runtime dir>/<pid>.sock (runtime dir: $GPUCR_RUNTIME_DIR, else $XDG_RUNTIME_DIR/gpucr,
// else /tmp/gpucr-<uid>; mode 0700) and accepts peers of the same uid or root (SO_PEERCRED).
// Protocol: one JSON object per line, see docs/protocol.md.
//
//   agent::Provider p;
//   p.api = "vulkan";
//   p.describe = [] { return nlohmann::json{{"devices", ...}}; };
//   p.dump = [](image::ImageWriter& w, const nlohmann::json& req, const agent::ProgressFn& progress)
//                -> Result<nlohmann::json> { ... };
//   agent::RegisterProvider(std::move(p));
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "dag/image.h"
#include "dag/status.h"

namespace gpucr::agent {

// phase: short word ("precopy", "cow", "final", "write"); done/total in bytes.
using ProgressFn = std::function<void(std::string_view phase, uint64_t done, uint64_t total)>;

struct Provider {
    std::string api;  // "vulkan", "opencl", "cuda"
    // For `gpucr ps`: {"devices": [...], "objects": N, "resources": N, "bytes": N, ...}.
    std::function<nlohmann::json()> describe;
    // Captures this API's state into the image being written. `request` is the client's dump
    // request ({"mode": "cow"|"dirty"|"stop", ...}). Returns the API's manifest section:
    // {"api", "devices", "cut", "objects", "resources", "dag", "stats"}.
    // Must leave the application running and unharmed when it fails.
    std::function<Result<nlohmann::json>(image::ImageWriter&, const nlohmann::json& request, const ProgressFn&)> dump;

    // Optional: suspend, resume and migrate (gpucr suspend/resume/migrate). A provider without
    // `suspend` makes those commands fail with kUnsupported.
    //
    // Captures this API's state into the image (like dump; request {"mode": "dirty"|"stop", ...}),
    // then releases every driver object: the application keeps running, its API calls wait until
    // resume. Returns the manifest section (same shape as dump's). On failure the application
    // must be running as before.
    std::function<Result<nlohmann::json>(image::ImageWriter&, const nlohmann::json& request, const ProgressFn&)>
        suspend;
    // Re-creates the state from this API's manifest section of a verified image. request:
    // {"device": N (absent: the original), "eager": bool, "t0_ns": CLOCK_MONOTONIC ns when the
    // agent received the request}. Returns stats (a JSON object; the keys gpucr shows are
    // handback_ms, first_op_ms, loaded_ms, waits, wait_ms_total, wait_ms_max, bytes_loaded).
    // On failure the process stays suspended.
    std::function<Result<nlohmann::json>(const image::ImageReader&, const nlohmann::json& section,
                                         const nlohmann::json& request, const ProgressFn&)>
        resume;
    std::function<bool()> suspended;  // true while suspended
    // Two-phase suspend (optional, both or neither): with them, `suspend` captures and holds the
    // application (its API calls wait) but releases nothing; once the agent has committed the
    // image it calls `release` (destroy every driver object; returns stats), or `cancel` when
    // the image could not be written (the application continues as before). Without them,
    // `suspend` releases at once and a failed commit loses the state.
    std::function<Result<nlohmann::json>()> release;
    std::function<void()> cancel;
};

// Registers a provider and starts the agent thread on first call (idempotent, thread-safe,
// never throws). Does nothing when GPUCR_DISABLE=1.
void RegisterProvider(Provider provider) noexcept;

// Starts the agent again if this process is a fork() child of the one that started it (the
// child inherits the providers but not the thread). Cheap when nothing is to do (one getpid());
// front-ends call it at API entry points that a forked child is likely to reach. Never throws.
void EnsureRunning() noexcept;

// The socket this process serves, or "" when the agent is not running in this process.
std::string ActiveSocketPath();

// The socket directory for this uid, created 0700 if missing.
Result<std::string> RuntimeDir();
std::string SocketPath(const std::string& runtime_dir, int pid);

}  // namespace gpucr::agent
