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
constexpr const char* kOpenClIcd = "gpucr.icd";

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

// True when an OCL_ICD_VENDORS value names gpucr's own shim only (a vendor directory holding just
// gpucr.icd, or that file): passing it on as the real vendors would leave the shim with none.
bool IsGpucrVendorSpec(const std::string& spec) {
    std::error_code ec;
    fs::path p(spec);
    if (p.filename() == kOpenClIcd) return true;
    if (!fs::is_directory(p, ec)) return false;
    bool any = false;
    for (const auto& e : fs::directory_iterator(p, ec)) {
        if (e.path().extension() != ".icd") continue;
        if (e.path().filename() != kOpenClIcd) return false;
        any = true;
    }
    return any;
}

// The ICD loader (ocl-icd) reads OCL_ICD_VENDORS: a directory holding only gpucr.icd makes the shim
// the only vendor it loads. The shim finds the real vendors where the application would have:
// the application's own OCL_ICD_VENDORS goes on in GPUCR_OPENCL_VENDORS; without it the shim reads
// $OPENCL_VENDOR_PATH or /etc/OpenCL/vendors itself.
Status EnableOpenCl() {
    std::string dir = OpenClVendorDir();
    std::error_code ec;
    if (!fs::exists(fs::path(dir) / kOpenClIcd, ec)) {
        return NotFound(std::string("OpenCL vendor file ") + kOpenClIcd + " not found in " + dir);
    }
    std::string original = GetEnv("OCL_ICD_VENDORS");
    if (!original.empty() && !IsGpucrVendorSpec(original) && GetEnv("GPUCR_OPENCL_VENDORS").empty()) {
        ::setenv("GPUCR_OPENCL_VENDORS", original.c_str(), 1);
    }
    ::setenv("OCL_ICD_VENDORS", dir.c_str(), 1);
    return Status::Ok();
}

// The CUDA interposer is preloaded: it then sees the application's own cu* calls, the runtime's
// cuGetProcAddress lookups and libraries' dlsym(libcuda, ...) alike.
Status EnableCuda() {
    std::string lib = CudaInterposerPath();
    std::error_code ec;
    if (!fs::exists(lib, ec)) {
        return NotFound("CUDA interposer " + lib + " not found (gpucr was built without cuda.h?)");
    }
    AddToEnvList("LD_PRELOAD", ':', lib, /*prepend=*/true);
    return Status::Ok();
}

// "vulkan,opencl" -> {"vulkan", "opencl"}; empty items dropped.
std::vector<std::string> SplitList(const std::string& list) {
    std::vector<std::string> items;
    size_t pos = 0;
    while (pos <= list.size()) {
        size_t end = list.find(',', pos);
        if (end == std::string::npos) end = list.size();
        if (end > pos) items.push_back(list.substr(pos, end - pos));
        pos = end + 1;
    }
    return items;
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

std::string OpenClVendorDir() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path build_dir = (self.parent_path() / ".." / "layers" / "opencl" / "vendors").lexically_normal();
        if (fs::exists(build_dir / kOpenClIcd, ec)) return build_dir.string();
    }
    return std::string(GPUCR_PREFIX) + "/" + GPUCR_DATADIR + "/gpucr/opencl/vendors";
}

std::string CudaInterposerPath() {
    constexpr const char* kLib = "libgpucr_cuda.so";
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path build = (self.parent_path() / ".." / "layers" / "cuda" / kLib).lexically_normal();
        if (fs::exists(build, ec)) return build.string();
    }
    return std::string(GPUCR_PREFIX) + "/" + GPUCR_LIBDIR + "/gpucr/" + kLib;
}

Status EnableFrontEnd(const std::string& api) {
    if (api == "vulkan") return EnableVulkan();
    if (api == "opencl") return EnableOpenCl();
    if (api == "cuda") return EnableCuda();
    return Unsupported("api " + api + " is not supported");
}

void AddRunCommand(CLI::App& app, int* exit_code) {
    struct Options {
        std::string apis = "vulkan";
        std::vector<std::string> command;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* run = app.add_subcommand("run", "Start a program with gpucr's front-ends enabled");
    // One string, split here: a list-valued option would take "--" as the end of its values, and
    // PROG's own options would then be read as gpucr's.
    run->add_option("--api", opts->apis, "APIs to intercept (comma-separated: vulkan, opencl, cuda)")
        ->check([](const std::string& list) -> std::string {
            for (const std::string& api : SplitList(list)) {
                if (api != "vulkan" && api != "opencl" && api != "cuda") {
                    return api + " not in {vulkan,opencl,cuda}";
                }
            }
            return SplitList(list).empty() ? "no API given" : "";
        })
        ->capture_default_str();
    run->add_option("command", opts->command, "PROG ARGS... (after --)")->required();
    run->callback([opts, exit_code] {
        for (const std::string& api : SplitList(opts->apis)) {
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
