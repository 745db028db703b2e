// cl_read_bw — device-to-host read bandwidth of an OpenCL device, the yardstick for the
// capture throughput of OpenCL dumps (what bench/memcpy_bw is for Vulkan on lavapipe).
//
// Creates a buffer of N MiB on device D of platform P, fills it on the device, then times
// blocking clEnqueueReadBuffer of all of it:
//   pageable        into ordinary host memory (mmap, pages present): what gpucr's capture does,
//                   its snapshot buffers being pre-populated anonymous memory;
//   pageable pieces the same in pieces of --piece-mib (default 4, the engine's copier's step);
//   first touch     into fresh pages (not yet faulted in);
//   pinned          into a CL_MEM_ALLOC_HOST_PTR buffer mapped for the host (page-locked where
//                   the platform pins such memory, as NVIDIA's does).
// Each is the best of --repeat runs, in GiB/s. Prints one JSON object naming the platform and
// device; --list prints the platforms and their devices instead (index, name, vendor, version),
// so that scripts can find a platform by name.
//
//   cl_read_bw --mib 1024 --platform 1
//   cl_read_bw --list
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr cl_int kPlatformNotFoundKhr = -1001;  // CL_PLATFORM_NOT_FOUND_KHR, from the ICD loader

struct Args {
    size_t mib = 1024;
    size_t piece_mib = 4;
    unsigned platform = 0;
    unsigned device = 0;
    int repeat = 3;
    bool list = false;
};

[[noreturn]] void Fail(const std::string& what, cl_int error = CL_SUCCESS) {
    if (error != CL_SUCCESS) {
        std::fprintf(stderr, "cl_read_bw: %s failed (%d)\n", what.c_str(), error);
    } else {
        std::fprintf(stderr, "cl_read_bw: %s\n", what.c_str());
    }
    std::exit(1);
}

void Check(cl_int error, const char* what) {
    if (error != CL_SUCCESS) Fail(what, error);
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
            a.mib = value();
        } else if (arg == "--piece-mib") {
            a.piece_mib = std::max(1ul, value());
        } else if (arg == "--platform") {
            a.platform = static_cast<unsigned>(value());
        } else if (arg == "--device") {
            a.device = static_cast<unsigned>(value());
        } else if (arg == "--repeat") {
            a.repeat = static_cast<int>(std::max(1ul, value()));
        } else if (arg == "--list") {
            a.list = true;
        } else if (arg == "-h" || arg == "--help") {
            std::printf(
                "usage: cl_read_bw [--mib N] [--platform P] [--device D] [--piece-mib M] [--repeat R] | --list\n");
            std::exit(0);
        } else {
            Fail("unknown argument " + arg);
        }
    }
    return a;
}

std::string PlatformString(cl_platform_id p, cl_platform_info what) {
    size_t size = 0;
    if (clGetPlatformInfo(p, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "?";
    std::string s(size, '\0');
    if (clGetPlatformInfo(p, what, size, s.data(), nullptr) != CL_SUCCESS) return "?";
    return s.c_str();
}

std::string DeviceString(cl_device_id d, cl_device_info what) {
    size_t size = 0;
    if (clGetDeviceInfo(d, what, 0, nullptr, &size) != CL_SUCCESS || size == 0) return "?";
    std::string s(size, '\0');
    if (clGetDeviceInfo(d, what, size, s.data(), nullptr) != CL_SUCCESS) return "?";
    return s.c_str();
}

// JSON string literal (names are plain ASCII; quotes, backslashes and controls escaped).
std::string Quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::vector<cl_platform_id> Platforms() {
    cl_uint count = 0;
    const cl_int error = clGetPlatformIDs(0, nullptr, &count);
    if (error == kPlatformNotFoundKhr || (error == CL_SUCCESS && count == 0)) return {};
    Check(error, "clGetPlatformIDs");
    std::vector<cl_platform_id> platforms(count);
    Check(clGetPlatformIDs(count, platforms.data(), nullptr), "clGetPlatformIDs");
    return platforms;
}

std::vector<cl_device_id> Devices(cl_platform_id p) {
    cl_uint count = 0;
    const cl_int error = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &count);
    if (error == CL_DEVICE_NOT_FOUND || (error == CL_SUCCESS && count == 0)) return {};
    Check(error, "clGetDeviceIDs");
    std::vector<cl_device_id> devices(count);
    Check(clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, count, devices.data(), nullptr), "clGetDeviceIDs");
    return devices;
}

std::string DeviceJson(cl_device_id d) {
    cl_ulong global = 0, max_alloc = 0;
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(global), &global, nullptr);
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(max_alloc), &max_alloc, nullptr);
    return "{\"name\": " + Quote(DeviceString(d, CL_DEVICE_NAME)) +
           ", \"driver\": " + Quote(DeviceString(d, CL_DRIVER_VERSION)) +
           ", \"global_mem_bytes\": " + std::to_string(global) + ", \"max_alloc_bytes\": " + std::to_string(max_alloc) +
           "}";
}

std::string PlatformJson(cl_platform_id p) {
    return "\"name\": " + Quote(PlatformString(p, CL_PLATFORM_NAME)) +
           ", \"vendor\": " + Quote(PlatformString(p, CL_PLATFORM_VENDOR)) +
           ", \"version\": " + Quote(PlatformString(p, CL_PLATFORM_VERSION));
}

void List() {
    std::string out = "{\"platforms\": [";
    const std::vector<cl_platform_id> platforms = Platforms();
    for (size_t i = 0; i < platforms.size(); ++i) {
        out += (i ? ", " : "") + std::string("{\"index\": ") + std::to_string(i) + ", " + PlatformJson(platforms[i]) +
               ", \"devices\": [";
        const std::vector<cl_device_id> devices = Devices(platforms[i]);
        for (size_t k = 0; k < devices.size(); ++k) out += (k ? ", " : "") + DeviceJson(devices[k]);
        out += "]}";
    }
    std::printf("%s]}\n", out.c_str());
}

void* Map(size_t bytes, bool populate) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0),
                   -1, 0);
    if (p == MAP_FAILED) Fail("mmap of " + std::to_string(bytes) + " bytes failed");
    return p;
}

// Seconds taken by blocking reads of [0, bytes) of `buf` into `dst`, in pieces of `piece`.
double TimedRead(cl_command_queue q, cl_mem buf, size_t bytes, size_t piece, void* dst) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t off = 0; off < bytes; off += piece) {
        const size_t len = std::min(piece, bytes - off);
        Check(clEnqueueReadBuffer(q, buf, CL_TRUE, off, len, static_cast<char*>(dst) + off, 0, nullptr, nullptr),
              "clEnqueueReadBuffer");
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double GiBs(size_t bytes, double seconds) { return static_cast<double>(bytes) / seconds / (1u << 30); }

}  // namespace

int main(int argc, char** argv) {
    const Args a = Parse(argc, argv);
    if (a.list) {
        List();
        return 0;
    }
    const std::vector<cl_platform_id> platforms = Platforms();
    if (platforms.empty()) Fail("no OpenCL platform found");
    if (a.platform >= platforms.size()) {
        Fail("--platform " + std::to_string(a.platform) + ": only " + std::to_string(platforms.size()) +
             " platform(s)");
    }
    const cl_platform_id platform = platforms[a.platform];
    const std::vector<cl_device_id> devices = Devices(platform);
    if (a.device >= devices.size()) {
        Fail("--device " + std::to_string(a.device) + ": platform has " + std::to_string(devices.size()) +
             " device(s)");
    }
    cl_device_id device = devices[a.device];

    cl_int error = CL_SUCCESS;
    const cl_context_properties props[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(platform), 0};
    cl_context ctx = clCreateContext(props, 1, &device, nullptr, nullptr, &error);
    Check(error, "clCreateContext");
    cl_command_queue q = clCreateCommandQueue(ctx, device, 0, &error);
    Check(error, "clCreateCommandQueue");

    const size_t bytes = a.mib << 20;
    const size_t piece = std::min(bytes, a.piece_mib << 20);
    cl_mem buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, nullptr, &error);
    Check(error, "clCreateBuffer");
    const cl_uint pattern = 0x5a5a5a5a;
    Check(clEnqueueFillBuffer(q, buf, &pattern, sizeof(pattern), 0, bytes, 0, nullptr, nullptr), "clEnqueueFillBuffer");
    Check(clFinish(q), "clFinish");

    void* cold = Map(bytes, false);
    const double first_touch = GiBs(bytes, TimedRead(q, buf, bytes, bytes, cold));
    munmap(cold, bytes);

    void* warm = Map(bytes, true);
    double pageable = 0, pieces = 0;
    for (int i = 0; i < a.repeat; ++i) {
        pageable = std::max(pageable, GiBs(bytes, TimedRead(q, buf, bytes, bytes, warm)));
        pieces = std::max(pieces, GiBs(bytes, TimedRead(q, buf, bytes, piece, warm)));
    }
    if (static_cast<const unsigned char*>(warm)[bytes - 1] != 0x5a) Fail("read-back does not hold the fill pattern");
    munmap(warm, bytes);

    // Pinned: a host-allocated buffer, mapped once, as the destination of the reads.
    cl_mem host_buf = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, bytes, nullptr, &error);
    Check(error, "clCreateBuffer(CL_MEM_ALLOC_HOST_PTR)");
    void* pinned =
        clEnqueueMapBuffer(q, host_buf, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0, bytes, 0, nullptr, nullptr, &error);
    Check(error, "clEnqueueMapBuffer");
    std::memset(pinned, 0, bytes);  // pages present, as a staging buffer in use would be
    double pinned_gibs = 0;
    for (int i = 0; i < a.repeat; ++i) {
        pinned_gibs = std::max(pinned_gibs, GiBs(bytes, TimedRead(q, buf, bytes, bytes, pinned)));
    }
    Check(clEnqueueUnmapMemObject(q, host_buf, pinned, 0, nullptr, nullptr), "clEnqueueUnmapMemObject");
    Check(clFinish(q), "clFinish");

    std::printf(
        "{\"platform_index\": %u, %s, \"device_index\": %u, \"device\": %s, \"bytes\": %zu, \"piece_bytes\": %zu, "
        "\"repeat\": %d, \"pageable_gib_s\": %.3f, \"pageable_pieces_gib_s\": %.3f, \"first_touch_gib_s\": %.3f, "
        "\"pinned_gib_s\": %.3f}\n",
        a.platform, PlatformJson(platform).c_str(), a.device, DeviceJson(device).c_str(), bytes, piece, a.repeat,
        pageable, pieces, first_touch, pinned_gibs);
    clReleaseMemObject(host_buf);
    clReleaseMemObject(buf);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    return 0;
}
