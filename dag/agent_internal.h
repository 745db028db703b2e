// agent_internal.h — pieces of the agent shared by its source files and its tests; not an API.
//
// agent.cpp owns the provider registry and the socket thread; agent_commands.cpp turns one
// request into one reply; agent_paths.cpp knows where sockets live.
//
//   std::vector<Provider> providers = internal::ProvidersSnapshot();
//   Result<nlohmann::json> r = internal::HandleRequest(request, providers, emit_event);
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dag/agent.h"
#include "dag/status.h"

namespace gpucr::agent::internal {

// Creates `dir` with mode 0700 if missing; otherwise requires a real directory (not a link)
// owned by this euid with no group/other permission. kPermissionDenied names what is wrong.
Status EnsurePrivateDir(const std::string& dir);

// A copy of the registered providers, in registration order.
std::vector<Provider> ProvidersSnapshot();

// Sends one progress event line to the requesting client (best effort).
using EmitFn = std::function<void(const nlohmann::json& event)>;

// Executes one request ({"cmd": ...}) against `providers`; the result object or an error.
Result<nlohmann::json> HandleRequest(const nlohmann::json& request, const std::vector<Provider>& providers,
                                     const EmitFn& emit);

// This process, as reported by hello/describe and recorded in manifests.
struct SelfInfo {
    int pid = 0;
    std::string exe;
    nlohmann::json cmdline = nlohmann::json::array();
    std::string host;
};
SelfInfo ReadSelfInfo();

}  // namespace gpucr::agent::internal
