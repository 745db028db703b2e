// gpucr — command-line tool: run, ps, dump, restore, suspend, resume, migrate, and the image commands.
// Exit status: 0 success, 1 failure (one "gpucr: <message>" line on stderr), 2 usage error.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "tools/gpucr/cli_util.h"
#include "tools/gpucr/cmd_image.h"
#include "tools/gpucr/cmd_process.h"
#include "tools/gpucr/cmd_run.h"

namespace {

int UsageError(CLI::App& app, const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    std::fprintf(stderr, "gpucr: %s (see gpucr --help)\n", e.what());
    return gpucr::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"gpucr: checkpoint and restore of GPU applications", "gpucr"};
    app.set_version_flag("--version", GPUCR_VERSION);
    app.require_subcommand(1);
    int exit_code = gpucr::cli::kExitOk;
    gpucr::cli::AddRunCommand(app, &exit_code);
    gpucr::cli::AddPsCommand(app, &exit_code);
    gpucr::cli::AddDumpCommand(app, &exit_code);
    gpucr::cli::AddSuspendCommands(app, &exit_code);
    gpucr::cli::AddRestoreCommand(app, &exit_code);
    AddImageCommands(app, &exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return UsageError(app, e);
    } catch (const std::exception& e) {
        return gpucr::cli::Fail(std::string("internal error: ") + e.what());
    }
    return exit_code;
}
