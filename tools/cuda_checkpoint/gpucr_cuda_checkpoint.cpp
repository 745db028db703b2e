// gpucr-cuda-checkpoint — drives the NVIDIA driver's own checkpoint of a CUDA process
// (cuCheckpointProcessLock / Checkpoint / Restore / Unlock), one JSON line of timings per command.
//
// gpucr's CUDA interposer runs it on its own process at suspend (after gpucr has captured and
// released the device memory, what is left is a few MiB of contexts, modules and streams) and at
// resume, optionally onto another GPU (--pair OLD_UUID:NEW_UUID, 32 hex digits each). A process
// cannot lock itself, hence a helper. The benchmarks use it as the stop-the-world baseline.
//
//   gpucr-cuda-checkpoint suspend PID            lock + checkpoint
//   gpucr-cuda-checkpoint resume PID [--pair A:B]...   restore + unlock
//   gpucr-cuda-checkpoint lock|checkpoint|restore|unlock|state PID
//   gpucr-cuda-checkpoint uuids                  the GPUs this machine has, by ordinal
//
// Exit 0 with {"lock_ms":..., ...} on stdout; 1 with one line on stderr; 2 on usage errors.
#include <cuda.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Api {
    CUresult (*init)(unsigned int) = nullptr;
    CUresult (*error_string)(CUresult, const char**) = nullptr;
    CUresult (*lock)(int, CUcheckpointLockArgs*) = nullptr;
    CUresult (*checkpoint)(int, CUcheckpointCheckpointArgs*) = nullptr;
    CUresult (*restore)(int, CUcheckpointRestoreArgs*) = nullptr;
    CUresult (*unlock)(int, CUcheckpointUnlockArgs*) = nullptr;
    CUresult (*state)(int, CUprocessState*) = nullptr;
    CUresult (*device_count)(int*) = nullptr;
    CUresult (*device_get)(CUdevice*, int) = nullptr;
    CUresult (*device_uuid)(CUuuid*, CUdevice) = nullptr;
};

[[noreturn]] void Die(const std::string& msg, int code = 1) {
    std::fprintf(stderr, "gpucr-cuda-checkpoint: %s\n", msg.c_str());
    std::exit(code);
}

std::string ErrorText(const Api& api, CUresult r) {
    const char* s = nullptr;
    if (api.error_string != nullptr && api.error_string(r, &s) == CUDA_SUCCESS && s != nullptr) {
        return std::string(s) + " (" + std::to_string(static_cast<int>(r)) + ")";
    }
    return "CUDA error " + std::to_string(static_cast<int>(r));
}

Api Load() {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (lib == nullptr) Die(std::string("the NVIDIA driver (libcuda.so.1) is not loadable: ") + dlerror());
    Api api;
    auto sym = [&](auto& field, const char* name, bool required) {
        field = reinterpret_cast<std::remove_reference_t<decltype(field)>>(dlsym(lib, name));
        if (field == nullptr && required) Die(std::string("this driver has no ") + name + " (driver 550 or newer needed)");
    };
    sym(api.init, "cuInit", true);
    sym(api.error_string, "cuGetErrorString", false);
    sym(api.lock, "cuCheckpointProcessLock", true);
    sym(api.checkpoint, "cuCheckpointProcessCheckpoint", true);
    sym(api.restore, "cuCheckpointProcessRestore", true);
    sym(api.unlock, "cuCheckpointProcessUnlock", true);
    sym(api.state, "cuCheckpointProcessGetState", true);
    sym(api.device_count, "cuDeviceGetCount", true);
    sym(api.device_get, "cuDeviceGet", true);
    sym(api.device_uuid, "cuDeviceGetUuid_v2", true);
    return api;
}

bool ParseUuid(const std::string& hex, CUuuid* out) {
    std::string h;
    for (char c : hex) {
        if (c != '-') h += c;
    }
    if (h.rfind("GPU", 0) == 0) h = h.substr(3);
    if (h.size() != 32) return false;
    for (size_t i = 0; i < 16; ++i) {
        char* end = nullptr;
        const std::string byte = h.substr(2 * i, 2);
        long v = std::strtol(byte.c_str(), &end, 16);
        if (end == nullptr || *end != '\0') return false;
        out->bytes[i] = static_cast<char>(v);
    }
    return true;
}

double Ms(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

const char* StateName(CUprocessState s) {
    switch (s) {
        case CU_PROCESS_STATE_RUNNING: return "running";
        case CU_PROCESS_STATE_LOCKED: return "locked";
        case CU_PROCESS_STATE_CHECKPOINTED: return "checkpointed";
        case CU_PROCESS_STATE_FAILED: return "failed";
    }
    return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) Die("usage: gpucr-cuda-checkpoint suspend|resume|lock|checkpoint|restore|unlock|state PID | uuids", 2);
    const std::string cmd = argv[1];
    Api api = Load();
    if (CUresult r = api.init(0); r != CUDA_SUCCESS) Die("cuInit failed: " + ErrorText(api, r));
    if (cmd == "uuids") {
        int n = 0;
        api.device_count(&n);
        std::string out = "{\"uuids\":[";
        for (int i = 0; i < n; ++i) {
            CUdevice d = 0;
            CUuuid u{};
            api.device_get(&d, i);
            api.device_uuid(&u, d);
            char hex[33];
            for (int k = 0; k < 16; ++k) std::snprintf(hex + 2 * k, 3, "%02x", static_cast<unsigned char>(u.bytes[k]));
            out += std::string(i ? "," : "") + "\"" + hex + "\"";
        }
        std::printf("%s]}\n", out.c_str());
        return 0;
    }
    if (argc < 3) Die("usage: gpucr-cuda-checkpoint " + cmd + " PID", 2);
    char* end = nullptr;
    const long pid = std::strtol(argv[2], &end, 10);
    if (end == nullptr || *end != '\0' || pid <= 0) Die(std::string("not a process id: ") + argv[2], 2);
    unsigned timeout_ms = 0;
    std::vector<CUcheckpointGpuPair> pairs;
    for (int i = 3; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--timeout-ms" && i + 1 < argc) {
            timeout_ms = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        } else if (a == "--pair" && i + 1 < argc) {
            const std::string p = argv[++i];
            const size_t colon = p.find(':');
            CUcheckpointGpuPair pair{};
            if (colon == std::string::npos || !ParseUuid(p.substr(0, colon), &pair.oldUuid) ||
                !ParseUuid(p.substr(colon + 1), &pair.newUuid)) {
                Die("--pair wants OLD_UUID:NEW_UUID (32 hex digits each), not " + p, 2);
            }
            pairs.push_back(pair);
        } else {
            Die("unknown argument " + a, 2);
        }
    }
    std::string json = "{";
    auto step = [&](const char* name, auto&& call) {
        const auto t0 = std::chrono::steady_clock::now();
        CUresult r = call();
        if (r != CUDA_SUCCESS) Die(std::string(name) + " of process " + std::to_string(pid) + " failed: " + ErrorText(api, r));
        char buf[96];
        std::snprintf(buf, sizeof(buf), "%s\"%s_ms\":%.3f", json.size() > 1 ? "," : "", name, Ms(t0));
        json += buf;
    };
    auto lock = [&] {
        CUcheckpointLockArgs args{};
        args.timeoutMs = timeout_ms;
        return api.lock(static_cast<int>(pid), &args);
    };
    auto checkpoint = [&] { return api.checkpoint(static_cast<int>(pid), nullptr); };
    auto restore = [&] {
        CUcheckpointRestoreArgs args{};
        args.gpuPairs = pairs.empty() ? nullptr : pairs.data();
        args.gpuPairsCount = static_cast<unsigned>(pairs.size());
        return api.restore(static_cast<int>(pid), pairs.empty() ? nullptr : &args);
    };
    auto unlock = [&] { return api.unlock(static_cast<int>(pid), nullptr); };
    if (cmd == "suspend") {
        step("lock", lock);
        step("checkpoint", checkpoint);
    } else if (cmd == "resume") {
        step("restore", restore);
        step("unlock", unlock);
    } else if (cmd == "lock") {
        step("lock", lock);
    } else if (cmd == "checkpoint") {
        step("checkpoint", checkpoint);
    } else if (cmd == "restore") {
        step("restore", restore);
    } else if (cmd == "unlock") {
        step("unlock", unlock);
    } else if (cmd == "state") {
        CUprocessState s{};
        if (CUresult r = api.state(static_cast<int>(pid), &s); r != CUDA_SUCCESS) Die("state: " + ErrorText(api, r));
        std::printf("{\"state\":\"%s\"}\n", StateName(s));
        return 0;
    } else {
        Die("unknown command " + cmd, 2);
    }
    std::printf("%s}\n", json.c_str());
    return 0;
}
