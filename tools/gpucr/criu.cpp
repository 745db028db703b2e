// Finding and running CRIU (criu.h).
#include "tools/gpucr/criu.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace gpucr::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHowToGet = "scripts/setup.sh provides one; or set GPUCR_CRIU, or dump with --gpu-only";

// Runs `argv` and returns its stdout (stderr discarded); empty when it cannot run.
std::string Capture(const std::vector<std::string>& argv) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return {};
    pid_t child = ::fork();
    if (child < 0) {
        ::close(pipefd[0]);
        ::close(pipefd[1]);
        return {};
    }
    if (child == 0) {
        ::dup2(pipefd[1], STDOUT_FILENO);
        int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDERR_FILENO);
        }
        std::vector<char*> args;
        for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) out.append(buf, static_cast<size_t>(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return out;
}

bool Executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// "Version: 4.1.1" -> "4.1.1"; empty when the output has no version line.
std::string ParseVersion(const std::string& out) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Version:", 0) == 0) {
            std::string v = line.substr(8);
            size_t b = v.find_first_not_of(" \t");
            return b == std::string::npos ? std::string() : v.substr(b);
        }
    }
    return {};
}

// A usable CRIU at `path`, or why not.
Result<Criu> Probe(const std::string& path, const std::string& what) {
    if (!Executable(path)) return NotFound(what + " " + path + " is not an executable file; " + kHowToGet);
    std::string version = ParseVersion(Capture({path, "--version"}));
    if (version.empty()) return FailedPrecondition(what + " " + path + " does not run; " + kHowToGet);
    int major = std::atoi(version.c_str());
    if (major < 4) {
        return FailedPrecondition(what + " " + path + " is CRIU " + version +
                                  "; gpucr needs 4.0 or newer (its device plugin hooks); " + kHowToGet);
    }
    return Criu{path, version};
}

std::string SearchPath(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    size_t pos = 0;
    while (pos <= dirs.size()) {
        size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(pos, end - pos);
        if (!dir.empty() && Executable(dir + "/" + name)) return dir + "/" + name;
        pos = end + 1;
    }
    return {};
}

}  // namespace

Result<Criu> FindCriu() {
    if (const char* env = std::getenv("GPUCR_CRIU"); env != nullptr && env[0] != '\0') {
        return Probe(env, "GPUCR_CRIU:");
    }
    Status private_status = NotFound("");
    if (Executable(GPUCR_CRIU_PRIVATE)) {
        Result<Criu> c = Probe(GPUCR_CRIU_PRIVATE, "CRIU");
        if (c.ok()) return c;
        private_status = c.status();
    }
    std::string system = SearchPath("criu");
    if (!system.empty()) {
        Result<Criu> c = Probe(system, "CRIU");
        if (c.ok() || private_status.message().empty()) return c;
    }
    if (!private_status.message().empty()) return private_status;
    return NotFound(std::string("no CRIU (4.0 or newer) was found, and a process dump needs one: ") + kHowToGet);
}

Result<std::string> PluginDir() {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    std::vector<fs::path> candidates;
    if (!ec) candidates.push_back((self.parent_path() / "criu").lexically_normal());
    candidates.push_back(fs::path(GPUCR_PREFIX) / GPUCR_LIBDIR / "gpucr" / "criu");
    for (const fs::path& dir : candidates) {
        if (fs::exists(dir / "gpucr_criu.so", ec)) return dir.string();
    }
    return NotFound("gpucr's CRIU plugin (gpucr_criu.so) is not built: run scripts/setup.sh, which provides "
                    "criu-plugin.h, and build again");
}

int RunCriu(const Criu& criu, const std::vector<std::string>& args,
            const std::vector<std::pair<std::string, std::string>>& env) {
    pid_t child = ::fork();
    if (child < 0) return -1;
    if (child == 0) {
        for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(criu.path.c_str()));
        for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::fprintf(stderr, "gpucr: cannot run %s: %s\n", criu.path.c_str(), std::strerror(errno));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

std::string CriuLogError(const std::string& log_path) {
    std::ifstream in(log_path);
    std::string line, first, first_plugin;
    while (std::getline(in, line)) {
        size_t e = line.find("Error (");
        if (e == std::string::npos) continue;
        size_t colon = line.find("): ", e);
        std::string text = colon == std::string::npos ? line.substr(e) : line.substr(colon + 3);
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        // CRIU reports a failed RLIMIT_NOFILE raise as an error and goes on: not the cause.
        if (text.rfind("rlimit:", 0) == 0) continue;
        if (first_plugin.empty() && line.find("Error (gpucr)") != std::string::npos) first_plugin = text;
        if (first.empty()) first = text;
    }
    return !first_plugin.empty() ? first_plugin : first;
}

std::string RandomToken() {
    std::random_device rd;
    std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(gen()));
    return buf;
}

}  // namespace gpucr::cli
