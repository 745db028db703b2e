// criu.h — how gpucr finds and runs CRIU for process checkpoints (docs/criu.md).
//
//   GPUCR_ASSIGN_OR_RETURN(Criu criu, FindCriu());          // GPUCR_CRIU, .deps/criu, PATH
//   GPUCR_ASSIGN_OR_RETURN(std::string plugins, PluginDir()); // the directory with gpucr_criu.so
//   int status = RunCriu(criu, {"dump", "-t", "123", ...}, {{"GPUCR_CRIU_MODE", "dirty"}});
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dag/status.h"

namespace gpucr::cli {

struct Criu {
    std::string path;
    std::string version;  // "4.1.1"
};

// The CRIU to use: $GPUCR_CRIU when set (it must work), else the private one scripts/criu.sh
// unpacks (.deps/criu/criu), else `criu` on PATH; each must report version 4.0 or newer.
// kNotFound / kFailedPrecondition with one line saying what is missing and how to get it.
Result<Criu> FindCriu();

// The directory holding gpucr's CRIU plugin (build tree or installed); kNotFound without it.
Result<std::string> PluginDir();

// Runs CRIU with `args` and the extra environment; returns its wait status (or -1 and errno).
// Its stdin, stdout and stderr are this process's.
int RunCriu(const Criu& criu, const std::vector<std::string>& args,
            const std::vector<std::pair<std::string, std::string>>& env);

// The first error CRIU wrote to its log, without the time stamp and source location; empty if none.
std::string CriuLogError(const std::string& log_path);

// 16 random hex digits.
std::string RandomToken();

}  // namespace gpucr::cli
