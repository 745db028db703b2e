// cu_d2h_bw — device-to-host copy bandwidth of a CUDA device, the yardstick for the capture
// throughput of CUDA dumps (what bench/cl_read_bw is for OpenCL, bench/memcpy_bw for lavapipe).
//
// Allocates N MiB of device memory (cudaMalloc, filled on the device), then times a blocking
// cudaMemcpy of all of it into
//   pinned    a page-locked host buffer (cudaHostAlloc): what a capture through pinned staging
//             can reach;
//   pageable  ordinary host memory (mmap, every page touched first, as gpucr pre-populates its
//             snapshot buffers): the driver stages such copies itself.
// Each is the best of --repeat timed copies (after one untimed warm-up), in GB/s (1e9 bytes/s).
// Prints one JSON object:
//   {"device", "device_name", "bytes", "repeat", "pinned_d2h_gbs", "pageable_d2h_gbs",
//    "pinned_runs_gbs": [...], "pageable_runs_gbs": [...]}
//
//   cu_d2h_bw --mib 1024 --repeat 5 --device 0
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Args {
    size_t mib = 1024;
    int repeat = 5;
    int device = 0;
};

[[noreturn]] void Fail(const std::string& what) {
    std::fprintf(stderr, "cu_d2h_bw: %s\n", what.c_str());
    std::exit(1);
}

void Check(cudaError_t error, const char* what) {
    if (error != cudaSuccess) Fail(std::string(what) + " failed: " + cudaGetErrorString(error));
}

Args Parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> unsigned long {
            if (i + 1 >= argc) Fail(arg + " needs a value");
            char* end = nullptr;
            const unsigned long v = std::strtoul(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0') Fail(arg + ": not a number: " + argv[i]);
            return v;
        };
        if (arg == "--mib") {
            a.mib = std::max(1ul, value());
        } else if (arg == "--repeat") {
            a.repeat = static_cast<int>(std::max(1ul, value()));
        } else if (arg == "--device") {
            a.device = static_cast<int>(value());
        } else if (arg == "-h" || arg == "--help") {
            std::printf("usage: cu_d2h_bw [--mib N] [--repeat R] [--device D]\n");
            std::exit(0);
        } else {
            Fail("unknown argument " + arg + " (usage: cu_d2h_bw [--mib N] [--repeat R] [--device D])");
        }
    }
    return a;
}

// One blocking device-to-host copy of `bytes`, in GB/s.
double CopyGBs(void* dst, const void* src, size_t bytes) {
    const auto t0 = std::chrono::steady_clock::now();
    Check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
    Check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(bytes) / s / 1e9;
}

// Best of `repeat` copies after one warm-up; every run's figure into `runs`.
double Best(void* dst, const void* src, size_t bytes, int repeat, std::vector<double>& runs) {
    CopyGBs(dst, src, bytes);
    double best = 0;
    for (int r = 0; r < repeat; ++r) {
        runs.push_back(CopyGBs(dst, src, bytes));
        best = std::max(best, runs.back());
    }
    return best;
}

std::string JsonList(const std::vector<double>& v) {
    std::string s = "[";
    char buf[32];
    for (size_t i = 0; i < v.size(); ++i) {
        std::snprintf(buf, sizeof(buf), "%s%.3f", i ? ", " : "", v[i]);
        s += buf;
    }
    return s + "]";
}

std::string JsonEscape(const std::string& in) {
    std::string out;
    for (char c : in) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = Parse(argc, argv);
    const size_t bytes = a.mib << 20;
    int count = 0;
    Check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (a.device < 0 || a.device >= count) {
        Fail("--device " + std::to_string(a.device) + ": only " + std::to_string(count) + " CUDA device(s)");
    }
    Check(cudaSetDevice(a.device), "cudaSetDevice");
    cudaDeviceProp props{};
    Check(cudaGetDeviceProperties(&props, a.device), "cudaGetDeviceProperties");

    void* device = nullptr;
    Check(cudaMalloc(&device, bytes), "cudaMalloc");
    Check(cudaMemset(device, 0x5a, bytes), "cudaMemset");
    Check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");

    std::vector<double> pinned_runs;
    std::vector<double> pageable_runs;
    void* pinned = nullptr;
    Check(cudaHostAlloc(&pinned, bytes, cudaHostAllocDefault), "cudaHostAlloc");
    std::memset(pinned, 0, bytes);
    const double pinned_best = Best(pinned, device, bytes, a.repeat, pinned_runs);
    Check(cudaFreeHost(pinned), "cudaFreeHost");

    void* pageable = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pageable == MAP_FAILED) Fail(std::string("mmap: ") + std::strerror(errno));
    std::memset(pageable, 0, bytes);  // every page present, as gpucr's pre-populated snapshot buffers
    const double pageable_best = Best(pageable, device, bytes, a.repeat, pageable_runs);
    munmap(pageable, bytes);
    Check(cudaFree(device), "cudaFree");

    std::printf(
        "{\"device\": %d, \"device_name\": \"%s\", \"bytes\": %zu, \"repeat\": %d, \"pinned_d2h_gbs\": %.3f, "
        "\"pageable_d2h_gbs\": %.3f, \"pinned_runs_gbs\": %s, \"pageable_runs_gbs\": %s}\n",
        a.device, JsonEscape(props.name).c_str(), bytes, a.repeat, pinned_best, pageable_best,
        JsonList(pinned_runs).c_str(), JsonList(pageable_runs).c_str());
    return 0;
}
