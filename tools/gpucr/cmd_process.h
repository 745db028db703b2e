// cmd_process.h — commands that talk to running processes through their agent:
// `gpucr ps` (cmd_ps.cpp), `gpucr dump` (cmd_dump.cpp), `gpucr suspend`, `resume` and
// `migrate` (cmd_suspend.cpp), process dumps through CRIU and `gpucr restore` (cmd_criu.cpp).
//
//   int exit_code = 0;
//   AddPsCommand(app, &exit_code);
//   AddDumpCommand(app, &exit_code);
//   AddSuspendCommands(app, &exit_code);
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "dag/status.h"

namespace gpucr::cli {

void AddPsCommand(CLI::App& app, int* exit_code);
void AddDumpCommand(CLI::App& app, int* exit_code);
void AddSuspendCommands(CLI::App& app, int* exit_code);  // suspend, resume, migrate
void AddRestoreCommand(CLI::App& app, int* exit_code);   // cmd_criu.cpp

// PID as given on the command line: a number that has an agent socket.
Result<int> ProcessWithAgent(const std::string& pid_text);
// DIR made absolute (lexically normal, no trailing slash).
Result<std::string> AbsoluteDir(const std::string& dir);
// The same, for an image about to be written: DIR must not exist or be an empty directory.
Result<std::string> NewImageDir(const std::string& dir);
// Reports a failed request. When the process exited meanwhile, says so instead, and removes
// the partial image it may have left beside `image_dir` (if not empty). Returns kExitFailure.
int FailRequest(const Status& status, int pid, const std::string& what, const std::string& image_dir);

struct DumpOptions {
    std::string pid;
    std::string dir;
    std::string mode = "cow";
    std::string backend = "auto";
    std::string background = "low";
    bool leave_running = false;
    bool gpu_only = false;
    bool compress = false;
    bool json = false;
};

// Checks done before the process is contacted; fills the absolute directory and the pid.
Status ValidateDump(const DumpOptions& options, int* pid, std::string* abs_dir);

// `gpucr dump` without --gpu-only: the GPU through the agent, the process through CRIU.
// mode_given: --mode was on the command line (the default is dirty here, cow for --gpu-only).
int RunProcessDump(const DumpOptions& options, bool mode_given);

// The dump request sent to the agent (docs/protocol.md).
nlohmann::json DumpRequest(const DumpOptions& options, const std::string& abs_dir);

// The human summary printed after a dump, from the agent's result.
std::string DumpSummary(const nlohmann::json& result);

// The summaries of suspend, resume and migrate, from the agent's results (docs/protocol.md).
// Statistics a front-end did not report show as "-".
std::string SuspendSummary(const nlohmann::json& result, int pid);
std::string ResumeSummary(const nlohmann::json& result);
std::string MigrateSummary(const nlohmann::json& result);

}  // namespace gpucr::cli
