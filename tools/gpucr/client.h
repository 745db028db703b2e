// client.h — the CLI side of the agent protocol (docs/protocol.md).
//
//   GPUCR_ASSIGN_OR_RETURN(UniqueFd fd, client::Connect(pid));
//   GPUCR_ASSIGN_OR_RETURN(nlohmann::json result,
//                          client::Request(fd.get(), {{"cmd", "describe"}}, on_progress));
//
// Request returns the "result" object of an ok reply, or the reply's error as a Status with the
// agent's code; progress events go to on_progress.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "dag/protocol.h"
#include "dag/status.h"

namespace gpucr::client {

using ProgressCallback = std::function<void(const nlohmann::json& event)>;

// "123" -> 123; kInvalidArgument for anything but a positive decimal number.
Result<int> ParsePid(std::string_view text);

// True while a process with this pid exists (including one we may not signal).
bool ProcessAlive(int pid);

// The agent socket of `pid` in this user's runtime directory, if one exists.
Result<std::string> AgentSocket(int pid);

// Connects to the agent socket at `path` (a restored process's, recorded in its image);
// kUnavailable when nothing listens there.
Result<UniqueFd> ConnectPath(const std::string& path);

// Connects to the agent of `pid`; kNotFound ("no gpucr agent for process <pid> ...") when
// there is none or it no longer answers.
Result<UniqueFd> Connect(int pid);

// Sends `request` and reads events until the final reply. timeout_s = 0: wait forever.
Result<nlohmann::json> Request(int fd, const nlohmann::json& request, const ProgressCallback& on_progress = {},
                               int timeout_s = 0);

// Pids that have a socket in the runtime directory, ascending. With remove_dead, sockets of
// processes that no longer exist are deleted and not listed.
Result<std::vector<int>> ListAgents(bool remove_dead);

}  // namespace gpucr::client
