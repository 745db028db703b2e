// cmd_process.h — commands that talk to running processes through their agent:
// `gpucr ps` (cmd_ps.cpp) and `gpucr dump` (cmd_dump.cpp). Later: restore, suspend, resume, migrate.
//
//   int exit_code = 0;
//   AddPsCommand(app, &exit_code);
//   AddDumpCommand(app, &exit_code);
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "dag/status.h"

namespace gpucr::cli {

void AddPsCommand(CLI::App& app, int* exit_code);
void AddDumpCommand(CLI::App& app, int* exit_code);

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

// The dump request sent to the agent (docs/protocol.md).
nlohmann::json DumpRequest(const DumpOptions& options, const std::string& abs_dir);

// The human summary printed after a dump, from the agent's result.
std::string DumpSummary(const nlohmann::json& result);

}  // namespace gpucr::cli
