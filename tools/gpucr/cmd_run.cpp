#include "tools/gpucr/cmd_run.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/gpucr/cli_util.h"

namespace gpucr::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVulkanLayerName = "VK_LAYER_GPUCR_checkpoint";
constexpr const char* kVulkanManifest = "VkLayer_gpucr.json";

std::string GetEnv(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

bool ListContains(const std::string& list, char sep, const std::string& item) {
    size_t pos = 0;
    while (pos <= list.size()) {
        size_t end = list.find(sep, pos);
        if (end == std::string::npos) end = list.size();
        if (list.compare(pos, end - pos, item) == 0) return true;
        pos = end + 1;
    }
    return false;
}

// Adds `item` to the list in `name` (front or back), unless it is there already.
void AddToEnvList(const char* name, char sep, const std::string& item, bool prepend) {
    std::string list = GetEnv(name);
    if (ListContains(list, sep, item)) return;
    if (list.empty()) {
        list = item;
    } else {
        list = prepend ? item + sep + list : list + sep + item;
    }
    ::setenv(name, list.c_str(), 1);
}

Status EnableVulkan() {
    std::string dir = VulkanLayerDir();
    std::error_code ec;
    if (!fs::exists(fs::path(dir) / kVulkanManifest, ec)) {
        return NotFound(std::string("Vulkan layer manifest ") + kVulkanManifest + " not found in " + dir);
    }
    AddToEnvList("VK_ADD_LAYER_PATH", ':', dir, /*prepend=*/true);
    AddToEnvList("VK_LOADER_LAYERS_ENABLE", ',', kVulkanLayerName, /*prepend=*/false);
    return Status::Ok();
}

int Exec(const std::vector<std::string>& command) {
    std::vector<char*> argv;
    for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    return Fail(command[0] + ": " + std::strerror(errno));
}

}  // namespace

std::string VulkanLayerDir() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path build_dir = (self.parent_path() / ".." / "layers" / "vulkan").lexically_normal();
        if (fs::exists(build_dir / kVulkanManifest, ec)) return build_dir.string();
    }
    return std::string(GPUCR_PREFIX) + "/" + GPUCR_DATADIR + "/vulkan/explicit_layer.d";
}

Status EnableFrontEnd(const std::string& api) {
    if (api == "vulkan") return EnableVulkan();
    // opencl: OCL_ICD_VENDORS -> directory holding gpucr.icd; cuda: LD_PRELOAD libgpucr_cuda.so.
    return Unsupported("api " + api + " is not supported yet");
}

void AddRunCommand(CLI::App& app, int* exit_code) {
    struct Options {
        std::vector<std::string> apis{"vulkan"};
        std::vector<std::string> command;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* run = app.add_subcommand("run", "Start a program with gpucr's front-ends enabled");
    run->add_option("--api", opts->apis, "APIs to intercept (comma-separated)")
        ->delimiter(',')
        ->check(CLI::IsMember({"vulkan", "opencl", "cuda"}))
        ->capture_default_str();
    run->add_option("command", opts->command, "PROG ARGS... (after --)")->required();
    run->callback([opts, exit_code] {
        for (const std::string& api : opts->apis) {
            Status st = EnableFrontEnd(api);
            if (!st.ok()) {
                *exit_code = Fail(st);
                return;
            }
        }
        *exit_code = Exec(opts->command);
    });
}

}  // namespace gpucr::cli
