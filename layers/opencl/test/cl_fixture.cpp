#include "layers/opencl/test/cl_fixture.h"

#include <dirent.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace gpucr::cl::test {

const char* const kVectorAdd = R"CLC(
__kernel void vadd(__global const int* a, __global const int* b, __global int* c, int k) {
    int i = get_global_id(0);
    c[i] = a[i] * k + (b[i] ^ i);
}
)CLC";

const char* const kArgKinds = R"CLC(
__kernel void kinds(__global int* out, __local int* scratch, int k, sampler_t s, __read_only image2d_t img) {
    int i = get_global_id(0);
    scratch[get_local_id(0)] = k;
    barrier(CLK_LOCAL_MEM_FENCE);
    out[i] = scratch[get_local_id(0)] + read_imagei(img, s, (int2)(0, 0)).x;
}
)CLC";

namespace {

namespace fs = std::filesystem;

std::string g_vendor_dir;

// Before the first OpenCL call: the loader reads OCL_ICD_VENDORS once.
void SetUpVendorDir() {
    const char* keep = std::getenv("GPUCR_TEST_KEEP_VENDORS");
    if (keep != nullptr && std::strcmp(keep, "1") == 0) return;
    char tmpl[] = "/tmp/gpucr-cl-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    g_vendor_dir = tmpl;
    std::ofstream(g_vendor_dir + "/gpucr.icd") << GPUCR_TEST_SHIM_PATH << "\n";
    const char* disabled = std::getenv("GPUCR_DISABLE");
    if (disabled == nullptr || std::strcmp(disabled, "1") != 0) {
        const char* path = std::getenv("OPENCL_VENDOR_PATH");
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(path != nullptr ? path : "/etc/OpenCL/vendors", ec)) {
            std::string name = e.path().filename().string();
            if (e.path().extension() == ".icd" && name.find("gpucr") == std::string::npos) {
                fs::copy_file(e.path(), fs::path(g_vendor_dir) / ("real-" + name), ec);
            }
        }
    }
    ::setenv("OCL_ICD_VENDORS", g_vendor_dir.c_str(), 1);
}

void RemoveVendorDir() {
    std::error_code ec;
    if (!g_vendor_dir.empty()) fs::remove_all(g_vendor_dir, ec);
}

}  // namespace

const ShimExports& Shim() {
    static ShimExports e = [] {
        ShimExports x;
        AllPlatforms();  // makes the loader load the ICDs
        void* h = ::dlopen(GPUCR_TEST_SHIM_PATH, RTLD_NOW | RTLD_NOLOAD);
        if (h == nullptr) return x;
        x.disabled = reinterpret_cast<int (*)()>(::dlsym(h, "gpucr_cl_test_disabled"));
        x.is_wrapper = reinterpret_cast<int (*)(const void*)>(::dlsym(h, "gpucr_cl_test_is_wrapper"));
        x.real = reinterpret_cast<void* (*)(const void*)>(::dlsym(h, "gpucr_cl_test_real"));
        x.live_count = reinterpret_cast<int64_t (*)()>(::dlsym(h, "gpucr_cl_test_live_count"));
        x.describe = reinterpret_cast<int64_t (*)(const void*, char*, size_t)>(::dlsym(h, "gpucr_cl_test_describe"));
        x.not_capturable = reinterpret_cast<int64_t (*)(char*, size_t)>(::dlsym(h, "gpucr_cl_test_not_capturable"));
        x.describe_process = reinterpret_cast<int64_t (*)(char*, size_t)>(::dlsym(h, "gpucr_cl_test_describe_process"));
        x.gate_close = reinterpret_cast<int (*)(int)>(::dlsym(h, "gpucr_cl_test_gate_close"));
        x.gate_open = reinterpret_cast<void (*)()>(::dlsym(h, "gpucr_cl_test_gate_open"));
        x.gate_waiting = reinterpret_cast<int64_t (*)()>(::dlsym(h, "gpucr_cl_test_gate_waiting"));
        return x;
    }();
    return e;
}

bool IsWrapper(const void* handle) { return Shim().is_wrapper != nullptr && Shim().is_wrapper(handle) != 0; }

nlohmann::json Describe(const void* handle) {
    if (Shim().describe == nullptr) return nullptr;
    int64_t n = Shim().describe(handle, nullptr, 0);
    if (n < 0) return nullptr;
    std::string s(static_cast<size_t>(n) + 1, '\0');
    Shim().describe(handle, s.data(), s.size());
    s.resize(static_cast<size_t>(n));
    return nlohmann::json::parse(s);
}

std::vector<std::string> NotCapturable() {
    if (Shim().not_capturable == nullptr) return {};
    int64_t n = Shim().not_capturable(nullptr, 0);
    std::string s(static_cast<size_t>(n) + 1, '\0');
    Shim().not_capturable(s.data(), s.size());
    s.resize(static_cast<size_t>(n));
    return nlohmann::json::parse(s).get<std::vector<std::string>>();
}

std::vector<cl_platform_id> AllPlatforms() {
    cl_uint n = 0;
    if (clGetPlatformIDs(0, nullptr, &n) != CL_SUCCESS || n == 0) return {};
    std::vector<cl_platform_id> ps(n);
    clGetPlatformIDs(n, ps.data(), nullptr);
    return ps;
}

cl_platform_id ShimPlatform() {
    for (cl_platform_id p : AllPlatforms()) {
        if (IsWrapper(p)) return p;
    }
    return nullptr;
}

cl_platform_id DirectPlatform() {
    cl_platform_id shim = ShimPlatform();
    void* real = shim != nullptr && Shim().real != nullptr ? Shim().real(shim) : nullptr;
    for (cl_platform_id p : AllPlatforms()) {
        if (p == real) return p;
    }
    return nullptr;
}

ClSetup::ClSetup(cl_platform_id p) : platform(p) {
    if (p == nullptr) return;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &device, nullptr) != CL_SUCCESS) return;
    cl_int err = CL_SUCCESS;
    context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
    if (context == nullptr) return;
    queue = clCreateCommandQueueWithProperties(context, device, nullptr, &err);
}

ClSetup::~ClSetup() {
    if (queue != nullptr) clReleaseCommandQueue(queue);
    if (context != nullptr) clReleaseContext(context);
}

cl_program Build(const ClSetup& s, const char* source, const char* options, cl_int* err) {
    cl_program p = clCreateProgramWithSource(s.context, 1, &source, nullptr, err);
    if (p == nullptr) return nullptr;
    *err = clBuildProgram(p, 1, &s.device, options, nullptr, nullptr);
    if (*err != CL_SUCCESS) {
        clReleaseProgram(p);
        return nullptr;
    }
    return p;
}

std::vector<int32_t> VectorAddReference(size_t n) {
    std::vector<int32_t> c(n);
    for (size_t i = 0; i < n; ++i) {
        int32_t a = static_cast<int32_t>(i * 7 + 1), b = static_cast<int32_t>(i * 13 + 5);
        c[i] = a * 3 + (b ^ static_cast<int32_t>(i));
    }
    return c;
}

std::vector<int32_t> RunVectorAdd(const ClSetup& s, size_t n) {
    std::vector<int32_t> a(n), b(n), c(n, -1);
    for (size_t i = 0; i < n; ++i) {
        a[i] = static_cast<int32_t>(i * 7 + 1);
        b[i] = static_cast<int32_t>(i * 13 + 5);
    }
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(s, kVectorAdd, nullptr, &err);
    if (prog == nullptr) return {};
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    size_t bytes = n * sizeof(int32_t);
    cl_mem ba = clCreateBuffer(s.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, a.data(), &err);
    cl_mem bb = clCreateBuffer(s.context, CL_MEM_READ_ONLY, bytes, nullptr, &err);
    cl_mem bc = clCreateBuffer(s.context, CL_MEM_WRITE_ONLY, bytes, nullptr, &err);
    cl_int k3 = 3;
    cl_event written = nullptr;
    bool ok = k != nullptr && ba != nullptr && bb != nullptr && bc != nullptr &&
              clEnqueueWriteBuffer(s.queue, bb, CL_FALSE, 0, bytes, b.data(), 0, nullptr, &written) == CL_SUCCESS &&
              clSetKernelArg(k, 0, sizeof(cl_mem), &ba) == CL_SUCCESS &&
              clSetKernelArg(k, 1, sizeof(cl_mem), &bb) == CL_SUCCESS &&
              clSetKernelArg(k, 2, sizeof(cl_mem), &bc) == CL_SUCCESS &&
              clSetKernelArg(k, 3, sizeof(k3), &k3) == CL_SUCCESS &&
              clEnqueueNDRangeKernel(s.queue, k, 1, nullptr, &n, nullptr, 1, &written, nullptr) == CL_SUCCESS &&
              clEnqueueReadBuffer(s.queue, bc, CL_TRUE, 0, bytes, c.data(), 0, nullptr, nullptr) == CL_SUCCESS;
    if (written != nullptr) clReleaseEvent(written);
    for (cl_mem m : {ba, bb, bc}) {
        if (m != nullptr) clReleaseMemObject(m);
    }
    if (k != nullptr) clReleaseKernel(k);
    clReleaseProgram(prog);
    return ok ? c : std::vector<int32_t>{};
}

std::string DeviceString(cl_device_id d, cl_device_info what) {
    size_t n = 0;
    if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS) return "<error>";
    std::string s(n, '\0');
    clGetDeviceInfo(d, what, n, s.data(), nullptr);
    s.resize(std::strlen(s.c_str()));
    return s;
}

std::string PlatformString(cl_platform_id p, cl_platform_info what) {
    size_t n = 0;
    if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS) return "<error>";
    std::string s(n, '\0');
    clGetPlatformInfo(p, what, n, s.data(), nullptr);
    s.resize(std::strlen(s.c_str()));
    return s;
}

}  // namespace gpucr::cl::test

int main(int argc, char** argv) {
    gpucr::cl::test::SetUpVendorDir();
    ::testing::InitGoogleTest(&argc, argv);
    int r = RUN_ALL_TESTS();
    gpucr::cl::test::RemoveVendorDir();
    return r;
}
