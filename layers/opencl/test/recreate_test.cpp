// recreate_test.cpp — tearing down every real OpenCL object behind the application's handles and
// creating it again (backends/opencl/cl_recreate.h), on PoCL through the test shim: the same handles
// then give the same results as PoCL without the shim, bit for bit (integer kernels, so that this
// holds across devices too), queries answer as before, events from before report completion, and the
// application's destructor callbacks run once, at its final release. With POCL_DEVICES="pthread
// basic" (the cl_recreate_two_devices test) PoCL offers two devices, and the objects move from one
// to the other and back; with more platforms (OPENCL_VENDOR_PATH), across platforms too.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "layers/opencl/test/cl_fixture.h"

namespace gpucr::cl::test {
namespace {

// The test shim's cl_recreate exports (test_exports.cpp).
struct RecreateExports {
    int (*teardown)(char*, size_t) = nullptr;
    int (*recreate)(int, char*, size_t) = nullptr;
    int64_t (*check)(int, char*, size_t) = nullptr;
    int64_t (*all_devices)(char*, size_t) = nullptr;
    int (*real_mem_handles)(const void*, void**, char*, size_t) = nullptr;
    int (*set_kernel_name)(const void*, const char*) = nullptr;
};

const RecreateExports& Exports() {
    static RecreateExports e = [] {
        RecreateExports x;
        Shim();  // makes the loader load the shim
        void* h = ::dlopen(GPUCR_TEST_SHIM_PATH, RTLD_NOW | RTLD_NOLOAD);
        if (h == nullptr) return x;
        x.teardown = reinterpret_cast<int (*)(char*, size_t)>(::dlsym(h, "gpucr_cl_test_teardown"));
        x.recreate = reinterpret_cast<int (*)(int, char*, size_t)>(::dlsym(h, "gpucr_cl_test_recreate"));
        x.check = reinterpret_cast<int64_t (*)(int, char*, size_t)>(::dlsym(h, "gpucr_cl_test_check_recreatable"));
        x.all_devices = reinterpret_cast<int64_t (*)(char*, size_t)>(::dlsym(h, "gpucr_cl_test_all_devices"));
        x.real_mem_handles = reinterpret_cast<int (*)(const void*, void**, char*, size_t)>(
            ::dlsym(h, "gpucr_cl_test_real_mem_handles"));
        x.set_kernel_name =
            reinterpret_cast<int (*)(const void*, const char*)>(::dlsym(h, "gpucr_cl_test_set_kernel_name"));
        return x;
    }();
    return e;
}

// "" on success, else the error message.
std::string Teardown() {
    char msg[4096] = "";
    return Exports().teardown(msg, sizeof(msg)) == 0 ? "" : (msg[0] != 0 ? msg : "error");
}

std::string Recreate(int device_index) {
    char msg[4096] = "";
    return Exports().recreate(device_index, msg, sizeof(msg)) == 0 ? "" : (msg[0] != 0 ? msg : "error");
}

nlohmann::json JsonFrom(int64_t (*fn)(char*, size_t)) {
    std::string s(static_cast<size_t>(fn(nullptr, 0)) + 1, '\0');
    fn(s.data(), s.size());
    s.resize(std::strlen(s.c_str()));
    return nlohmann::json::parse(s);
}

std::vector<std::string> Check(int device_index) {
    int64_t n = Exports().check(device_index, nullptr, 0);
    std::string s(static_cast<size_t>(n) + 1, '\0');
    Exports().check(device_index, s.data(), s.size());
    s.resize(static_cast<size_t>(n));
    return nlohmann::json::parse(s).get<std::vector<std::string>>();
}

std::vector<std::string> DeviceNames() {
    std::vector<std::string> out;
    for (const auto& d : JsonFrom(Exports().all_devices)) out.push_back(d["device"].get<std::string>());
    return out;
}

// The index (AllDevices) of the application's device, by name; -1 when none matches.
int IndexOf(cl_device_id device) {
    std::vector<std::string> names = DeviceNames();
    std::string name = DeviceString(device, CL_DEVICE_NAME);
    for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) return static_cast<int>(i);
    }
    return -1;
}

// Another device than `own`, one of another name if there is one; -1 when there is none.
int OtherIndex(int own) {
    std::vector<std::string> names = DeviceNames();
    int other = -1;
    for (size_t i = 0; i < names.size(); ++i) {
        if (static_cast<int>(i) == own) continue;
        if (own >= 0 && names[i] != names[static_cast<size_t>(own)]) return static_cast<int>(i);
        if (other < 0) other = static_cast<int>(i);
    }
    return other;
}

bool Contains(const std::vector<std::string>& lines, const std::string& part) {
    for (const std::string& l : lines) {
        if (l.find(part) != std::string::npos) return true;
    }
    return false;
}

std::string JoinLines(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    return out;
}

const char* const kStep = R"CLC(
__kernel void advance(__global const int* a, __global const int* c, __global int* b, __local int* tmp, int k,
                      __global int* counts) {
    size_t i = get_global_id(0), l = get_local_id(0), n = get_local_size(0);
    tmp[l] = a[i] * k + c[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    b[i] = tmp[(l + 1) % n] + (a[i] ^ b[i]) + (b[i] >> 1);
    counts[i] += (int)i + 1;
}
__kernel void fetch(__global int* out, sampler_t s, __read_only image2d_t img, int k) {
    int i = get_global_id(0);
    out[i] = read_imagei(img, s, (int2)(i % 4, i / 4)).x * k + out[i];
}
)CLC";

constexpr size_t kN = 1024;     // work items of step
constexpr size_t kLocal = 64;   // its work-group size
constexpr size_t kPixels = 16;  // 4 x 4 image, one work item of fetch each

struct CallbackCount {
    std::atomic<int> calls{0};
    std::atomic<void*> handle{nullptr};
};

void CL_CALLBACK OnMemGone(cl_mem m, void* u) {
    static_cast<CallbackCount*>(u)->handle = m;
    static_cast<CallbackCount*>(u)->calls++;
}

void CL_CALLBACK OnContextGone(cl_context c, void* u) {
    static_cast<CallbackCount*>(u)->handle = c;
    static_cast<CallbackCount*>(u)->calls++;
}

// The objects of a small application: context, in-order and out-of-order queues, a program built
// from source with two kernels (buffer, value, local, sampler and image arguments), buffers created
// plain, with CL_MEM_COPY_HOST_PTR and CL_MEM_USE_HOST_PTR, a sub-buffer, an image and a sampler.
struct World {
    explicit World(cl_platform_id p) : s(p) {
        if (s.queue == nullptr) return;
        cl_int err = CL_SUCCESS;
        cl_queue_properties ooo_props[] = {CL_QUEUE_PROPERTIES, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, 0};
        ooo = clCreateCommandQueueWithProperties(s.context, s.device, ooo_props, &err);
        prog = Build(s, kStep, "-cl-mad-enable", &err);
        if (prog == nullptr) {
            ADD_FAILURE() << "build: " << err;
            return;
        }
        step = clCreateKernel(prog, "advance", &err);
        fetch = clCreateKernel(prog, "fetch", &err);
        std::vector<cl_int> a_host(kN), b_host(kN);
        c_host.resize(kN);
        for (size_t i = 0; i < kN; ++i) {
            a_host[i] = static_cast<cl_int>(i % 97) - 40;
            b_host[i] = static_cast<cl_int>(i % 13) * 1000;
            c_host[i] = static_cast<cl_int>(i % 7) * 3;
        }
        a = clCreateBuffer(s.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, kN * 4, a_host.data(), &err);
        c = clCreateBuffer(s.context, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, kN * 4, c_host.data(), &err);
        b = clCreateBuffer(s.context, CL_MEM_READ_WRITE, kN * 4, nullptr, &err);
        big = clCreateBuffer(s.context, CL_MEM_READ_WRITE, 2 * kN * 4, nullptr, &err);
        cl_buffer_region region{kN * 4, kN * 4};
        counts = clCreateSubBuffer(big, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
        std::vector<cl_int> pixels(kPixels * 4);
        for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<cl_int>(i * 3 + 1);
        cl_image_format format{CL_RGBA, CL_SIGNED_INT32};
        cl_image_desc desc{};
        desc.image_type = CL_MEM_OBJECT_IMAGE2D;
        desc.image_width = 4;
        desc.image_height = 4;
        img = clCreateImage(s.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, &format, &desc, pixels.data(), &err);
        img_out = clCreateBuffer(s.context, CL_MEM_READ_WRITE, kPixels * 4, nullptr, &err);
        smp = clCreateSampler(s.context, CL_FALSE, CL_ADDRESS_CLAMP_TO_EDGE, CL_FILTER_NEAREST, &err);
        std::vector<cl_int> zeros(2 * kN, 0);
        ok = ooo != nullptr && step != nullptr && fetch != nullptr && a != nullptr && c != nullptr && b != nullptr &&
             counts != nullptr && img != nullptr && img_out != nullptr && smp != nullptr &&
             clEnqueueWriteBuffer(s.queue, b, CL_TRUE, 0, kN * 4, b_host.data(), 0, nullptr, nullptr) == CL_SUCCESS &&
             clEnqueueWriteBuffer(s.queue, big, CL_TRUE, 0, 2 * kN * 4, zeros.data(), 0, nullptr, nullptr) == CL_SUCCESS &&
             clEnqueueWriteBuffer(s.queue, img_out, CL_TRUE, 0, kPixels * 4, zeros.data(), 0, nullptr, nullptr) ==
                 CL_SUCCESS &&
             SetArgs();
    }

    ~World() {
        for (cl_event e : {last, done_user, open_user}) {
            if (e != nullptr) clReleaseEvent(e);
        }
        for (cl_kernel k : {step, fetch}) {
            if (k != nullptr) clReleaseKernel(k);
        }
        for (cl_mem m : {counts, a, c, b, big, img, img_out}) {
            if (m != nullptr) clReleaseMemObject(m);
        }
        if (smp != nullptr) clReleaseSampler(smp);
        if (prog != nullptr) clReleaseProgram(prog);
        if (ooo != nullptr) clReleaseCommandQueue(ooo);
    }

    bool SetArgs() {
        cl_int k = 7;
        cl_int k2 = 3;
        return clSetKernelArg(step, 0, sizeof(cl_mem), &a) == CL_SUCCESS &&
               clSetKernelArg(step, 1, sizeof(cl_mem), &c) == CL_SUCCESS &&
               clSetKernelArg(step, 2, sizeof(cl_mem), &b) == CL_SUCCESS &&
               clSetKernelArg(step, 3, kLocal * sizeof(cl_int), nullptr) == CL_SUCCESS &&
               clSetKernelArg(step, 4, sizeof(k), &k) == CL_SUCCESS &&
               clSetKernelArg(step, 5, sizeof(cl_mem), &counts) == CL_SUCCESS &&
               clSetKernelArg(fetch, 0, sizeof(cl_mem), &img_out) == CL_SUCCESS &&
               clSetKernelArg(fetch, 1, sizeof(cl_sampler), &smp) == CL_SUCCESS &&
               clSetKernelArg(fetch, 2, sizeof(cl_mem), &img) == CL_SUCCESS &&
               clSetKernelArg(fetch, 3, sizeof(k2), &k2) == CL_SUCCESS;
    }

    // step on the in-order queue, fetch on the out-of-order one after it; the contents afterwards.
    std::vector<uint8_t> Run() {
        size_t global = kN, local = kLocal, pixels = kPixels;
        cl_event stepped = nullptr, fetched = nullptr;
        if (clEnqueueNDRangeKernel(s.queue, step, 1, nullptr, &global, &local, 0, nullptr, &stepped) != CL_SUCCESS) {
            return {};
        }
        clFlush(s.queue);
        cl_int r = clEnqueueNDRangeKernel(ooo, fetch, 1, nullptr, &pixels, nullptr, 1, &stepped, &fetched);
        clFinish(ooo);
        clFinish(s.queue);
        clReleaseEvent(stepped);
        if (r != CL_SUCCESS) return {};
        if (last != nullptr) clReleaseEvent(last);
        last = fetched;
        return Contents(false);
    }

    // b, big (with the sub-buffer), img_out; `all`: a, c and the image too (what a dump saves).
    std::vector<uint8_t> Contents(bool all) {
        std::vector<uint8_t> out;
        auto read = [&](cl_mem m, size_t n) {
            std::vector<uint8_t> v(n);
            if (clEnqueueReadBuffer(s.queue, m, CL_TRUE, 0, n, v.data(), 0, nullptr, nullptr) != CL_SUCCESS) return false;
            out.insert(out.end(), v.begin(), v.end());
            return true;
        };
        bool good = read(b, kN * 4) && read(big, 2 * kN * 4) && read(img_out, kPixels * 4);
        if (all) {
            good = good && read(a, kN * 4) && read(c, kN * 4);
            std::vector<uint8_t> pixels(kPixels * 16);
            size_t origin[3] = {0, 0, 0}, region[3] = {4, 4, 1};
            good = good && clEnqueueReadImage(s.queue, img, CL_TRUE, origin, region, 0, 0, pixels.data(), 0, nullptr,
                                              nullptr) == CL_SUCCESS;
            out.insert(out.end(), pixels.begin(), pixels.end());
        }
        return good ? out : std::vector<uint8_t>{};
    }

    // Writes back what Contents(true) read, through the application's handles.
    bool Restore(const std::vector<uint8_t>& saved) {
        size_t at = 0;
        auto write = [&](cl_mem m, size_t n) {
            bool good = at + n <= saved.size() &&
                        clEnqueueWriteBuffer(s.queue, m, CL_TRUE, 0, n, saved.data() + at, 0, nullptr, nullptr) ==
                            CL_SUCCESS;
            at += n;
            return good;
        };
        bool good = write(b, kN * 4) && write(big, 2 * kN * 4) && write(img_out, kPixels * 4) && write(a, kN * 4) &&
                    write(c, kN * 4);
        size_t origin[3] = {0, 0, 0}, region[3] = {4, 4, 1};
        good = good && at + kPixels * 16 <= saved.size() &&
               clEnqueueWriteImage(s.queue, img, CL_TRUE, origin, region, 0, 0, saved.data() + at, 0, nullptr,
                                   nullptr) == CL_SUCCESS;
        return good && clFinish(s.queue) == CL_SUCCESS;
    }

    ClSetup s;
    bool ok = false;
    cl_command_queue ooo = nullptr;
    cl_program prog = nullptr;
    cl_kernel step = nullptr, fetch = nullptr;
    cl_mem a = nullptr, c = nullptr, b = nullptr, big = nullptr, counts = nullptr, img = nullptr, img_out = nullptr;
    cl_sampler smp = nullptr;
    cl_event last = nullptr, done_user = nullptr, open_user = nullptr;
    std::vector<cl_int> c_host;  // the USE_HOST_PTR buffer's memory
};

std::string Line(const char* what, cl_int r, uint64_t v) {
    return std::string(what) + " " + std::to_string(r) + " " + std::to_string(v);
}

// What the application sees of its objects through queries (handles as values).
std::vector<std::string> Answers(World& w) {
    std::vector<std::string> out;
    auto mem = [&](const char* what, cl_mem m, cl_mem_info info, uint64_t mask = ~0ull) {
        uint64_t v = 0;
        cl_int r = clGetMemObjectInfo(m, info, sizeof(v), &v, nullptr);
        out.push_back(Line(what, r, v & mask));
    };
    mem("b size", w.b, CL_MEM_SIZE);
    mem("b flags", w.b, CL_MEM_FLAGS);
    mem("b context", w.b, CL_MEM_CONTEXT);
    mem("a flags without COPY_HOST_PTR", w.a, CL_MEM_FLAGS, ~static_cast<uint64_t>(CL_MEM_COPY_HOST_PTR));
    mem("c flags", w.c, CL_MEM_FLAGS);
    mem("c host_ptr", w.c, CL_MEM_HOST_PTR);
    mem("counts parent", w.counts, CL_MEM_ASSOCIATED_MEMOBJECT);
    mem("counts offset", w.counts, CL_MEM_OFFSET);
    mem("img type", w.img, CL_MEM_TYPE);
    size_t width = 0;
    cl_int r = clGetImageInfo(w.img, CL_IMAGE_WIDTH, sizeof(width), &width, nullptr);
    out.push_back(Line("img width", r, width));
    char name[64] = "";
    r = clGetKernelInfo(w.step, CL_KERNEL_FUNCTION_NAME, sizeof(name), name, nullptr);
    out.push_back(std::string("step name ") + std::to_string(r) + " " + name);
    auto kernel = [&](const char* what, cl_kernel k, cl_kernel_info info) {
        uint64_t v = 0;
        cl_int e = clGetKernelInfo(k, info, sizeof(v), &v, nullptr);
        out.push_back(Line(what, e, info == CL_KERNEL_NUM_ARGS ? static_cast<uint32_t>(v) : v));
    };
    kernel("step args", w.step, CL_KERNEL_NUM_ARGS);
    kernel("step program", w.step, CL_KERNEL_PROGRAM);
    kernel("fetch context", w.fetch, CL_KERNEL_CONTEXT);
    cl_device_id devices[4] = {};
    size_t n = 0;
    r = clGetContextInfo(w.s.context, CL_CONTEXT_DEVICES, sizeof(devices), devices, &n);
    out.push_back(Line("context devices", r, n) + " " + std::to_string(reinterpret_cast<uintptr_t>(devices[0])));
    cl_command_queue_properties props = 0;
    r = clGetCommandQueueInfo(w.ooo, CL_QUEUE_PROPERTIES, sizeof(props), &props, nullptr);
    out.push_back(Line("ooo properties", r, props));
    cl_device_id qdev = nullptr;
    r = clGetCommandQueueInfo(w.ooo, CL_QUEUE_DEVICE, sizeof(qdev), &qdev, nullptr);
    out.push_back(Line("ooo device", r, reinterpret_cast<uintptr_t>(qdev)));
    cl_addressing_mode mode = 0;
    r = clGetSamplerInfo(w.smp, CL_SAMPLER_ADDRESSING_MODE, sizeof(mode), &mode, nullptr);
    out.push_back(Line("sampler addressing", r, mode));
    r = clGetKernelArgInfo(w.step, 0, CL_KERNEL_ARG_NAME, sizeof(name), name, nullptr);
    out.push_back(Line("step arg info", r, 0));
    return out;
}

class RecreateTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (Shim().disabled != nullptr && Shim().disabled() != 0) GTEST_SKIP() << "GPUCR_DISABLE=1";
        ASSERT_NE(Exports().teardown, nullptr) << "the test shim was not loaded by the ICD loader";
        ASSERT_NE(ShimPlatform(), nullptr) << "no platform through the shim";
        ASSERT_NE(DirectPlatform(), nullptr) << "no platform without the shim";
    }
};

// Saves the contents, tears down, creates again on `device` (-1: own devices) and writes them back.
void SuspendResume(World& w, int device, int rounds = 1) {
    std::vector<uint8_t> saved = w.Contents(true);
    ASSERT_FALSE(saved.empty());
    for (int i = 0; i < rounds; ++i) {
        ASSERT_EQ(Teardown(), "");
        ASSERT_EQ(Recreate(device), "");
    }
    ASSERT_TRUE(w.Restore(saved));
}

TEST_F(RecreateTest, SameHandlesSameResultsAfterRecreate) {
    std::vector<std::vector<uint8_t>> expected;
    {
        World direct(DirectPlatform());
        ASSERT_TRUE(direct.ok);
        for (int i = 0; i < 3; ++i) expected.push_back(direct.Run());
    }
    cl_device_id device = nullptr;  // its wrapper is permanent: counted from here on
    ASSERT_EQ(clGetDeviceIDs(ShimPlatform(), CL_DEVICE_TYPE_ALL, 1, &device, nullptr), CL_SUCCESS);
    int64_t live_before = Shim().live_count();
    CallbackCount mem_cb, ctx_cb;
    void* app_b = nullptr;
    void* app_context = nullptr;
    {
        World w(ShimPlatform());
        ASSERT_TRUE(w.ok);
        app_b = w.b;
        app_context = w.s.context;
        ASSERT_EQ(clSetMemObjectDestructorCallback(w.b, OnMemGone, &mem_cb), CL_SUCCESS);
        cl_int ctx_r = clSetContextDestructorCallback(w.s.context, OnContextGone, &ctx_cb);
        cl_int err = CL_SUCCESS;
        w.done_user = clCreateUserEvent(w.s.context, &err);
        w.open_user = clCreateUserEvent(w.s.context, &err);
        ASSERT_EQ(clSetUserEventStatus(w.done_user, CL_COMPLETE), CL_SUCCESS);

        EXPECT_EQ(w.Run(), expected[0]);
        std::vector<std::string> before = Answers(w);
        EXPECT_EQ(Check(-1), std::vector<std::string>{});

        // Torn down: every handle is still the application's, with no real object behind it.
        std::vector<uint8_t> saved = w.Contents(true);
        ASSERT_EQ(Teardown(), "");
        for (const void* h : std::initializer_list<const void*>{w.s.context, w.s.queue, w.ooo, w.prog, w.step, w.fetch,
                                                                 w.a, w.b, w.c, w.big, w.counts, w.img, w.smp, w.last,
                                                                 w.done_user, w.open_user}) {
            EXPECT_TRUE(IsWrapper(h));
            EXPECT_EQ(Shim().real(h), nullptr);
        }
        EXPECT_TRUE(IsWrapper(w.s.device));
        EXPECT_NE(Shim().real(w.s.device), nullptr);  // devices stay
        EXPECT_NE(Teardown(), "");                    // already torn down
        ASSERT_EQ(Recreate(-1), "");
        EXPECT_NE(Recreate(-1), "");  // nothing torn down any more
        ASSERT_TRUE(w.Restore(saved));
        EXPECT_EQ(mem_cb.calls.load(), 0);
        EXPECT_EQ(ctx_cb.calls.load(), 0);

        // The caller's way to the new real objects.
        void* handles[3] = {};
        char msg[256] = "";
        ASSERT_EQ(Exports().real_mem_handles(w.b, handles, msg, sizeof(msg)), 0) << msg;
        EXPECT_EQ(handles[0], Shim().real(w.b));
        EXPECT_EQ(handles[1], Shim().real(w.s.context));
        EXPECT_EQ(handles[2], Shim().real(w.s.queue));  // the in-order one

        // Events from before: complete; user events keep their status.
        cl_int status = -1;
        ASSERT_EQ(clGetEventInfo(w.last, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status), &status, nullptr),
                  CL_SUCCESS);
        EXPECT_EQ(status, CL_COMPLETE);
        EXPECT_EQ(clWaitForEvents(1, &w.last), CL_SUCCESS);
        EXPECT_EQ(clWaitForEvents(1, &w.done_user), CL_SUCCESS);
        clGetEventInfo(w.open_user, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof(status), &status, nullptr);
        EXPECT_EQ(status, CL_SUBMITTED);

        EXPECT_EQ(Answers(w), before);
        // Same handles, arguments not set again.
        EXPECT_EQ(w.Run(), expected[1]);

        // Twice in a row, then once more with work in between.
        SuspendResume(w, -1, 2);
        // (No command waits on it: PoCL's "basic" device deadlocks when a user event releases one.)
        ASSERT_EQ(clSetUserEventStatus(w.open_user, CL_COMPLETE), CL_SUCCESS);
        ASSERT_EQ(clWaitForEvents(1, &w.open_user), CL_SUCCESS);
        int own = IndexOf(w.s.device);
        ASSERT_GE(own, 0);
        SuspendResume(w, own);  // TargetForDevice: the same device
        EXPECT_EQ(w.Run(), expected[2]);
        EXPECT_EQ(Answers(w), before);
        EXPECT_EQ(mem_cb.calls.load(), 0);
        EXPECT_EQ(ctx_cb.calls.load(), 0);
        if (ctx_r != CL_SUCCESS) ctx_cb.calls = 1;  // no context destructor callbacks on this ICD
    }
    // The application's final release: each callback once, with the application's handle.
    for (int i = 0; i < 1000 && (mem_cb.calls.load() == 0 || ctx_cb.calls.load() == 0); ++i) usleep(2000);
    EXPECT_EQ(mem_cb.calls.load(), 1);
    EXPECT_EQ(mem_cb.handle.load(), app_b);
    EXPECT_EQ(ctx_cb.calls.load(), 1);
    if (ctx_cb.handle.load() != nullptr) {
        EXPECT_EQ(ctx_cb.handle.load(), app_context);
    }
    // Every wrapper freed (PoCL may free the context a little later).
    for (int i = 0; i < 1000 && Shim().live_count() != live_before; ++i) usleep(2000);
    EXPECT_EQ(Shim().live_count(), live_before);
}

std::vector<uint8_t> ProgramBinary(cl_program p) {
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, nullptr) != CL_SUCCESS) return {};
    std::vector<uint8_t> bin(size);
    unsigned char* ptr = bin.data();
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(ptr), &ptr, nullptr) != CL_SUCCESS) return {};
    return bin;
}

TEST_F(RecreateTest, TargetsAndBinaryPrograms) {
    std::vector<std::string> devices = DeviceNames();
    ASSERT_FALSE(devices.empty());
    ClSetup s(ShimPlatform());
    ASSERT_NE(s.queue, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program from_source = Build(s, kVectorAdd, nullptr, &err);
    ASSERT_NE(from_source, nullptr);
    std::vector<uint8_t> bin = ProgramBinary(from_source);
    ASSERT_FALSE(bin.empty());
    clReleaseProgram(from_source);
    const unsigned char* bins[] = {bin.data()};
    size_t lengths[] = {bin.size()};
    cl_program prog = clCreateProgramWithBinary(s.context, 1, &s.device, lengths, bins, nullptr, &err);
    ASSERT_NE(prog, nullptr);
    ASSERT_EQ(clBuildProgram(prog, 1, &s.device, nullptr, nullptr, nullptr), CL_SUCCESS);
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    ASSERT_NE(k, nullptr);
    const size_t n = 256;
    std::vector<int32_t> a(n), b(n), c(n, -1);
    for (size_t i = 0; i < n; ++i) {
        a[i] = static_cast<int32_t>(i * 7 + 1);
        b[i] = static_cast<int32_t>(i * 13 + 5);
    }
    cl_mem ma = clCreateBuffer(s.context, CL_MEM_READ_ONLY, n * 4, nullptr, &err);
    cl_mem mb = clCreateBuffer(s.context, CL_MEM_READ_ONLY, n * 4, nullptr, &err);
    cl_mem mc = clCreateBuffer(s.context, CL_MEM_WRITE_ONLY, n * 4, nullptr, &err);
    cl_int k3 = 3;
    ASSERT_EQ(clSetKernelArg(k, 0, sizeof(cl_mem), &ma), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 1, sizeof(cl_mem), &mb), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 2, sizeof(cl_mem), &mc), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 3, sizeof(k3), &k3), CL_SUCCESS);

    // A binary program may come back on its own device only.
    EXPECT_EQ(Check(-1), std::vector<std::string>{});
    int own = IndexOf(s.device), other_index = OtherIndex(own);
    ASSERT_GE(own, 0);
    EXPECT_EQ(Check(own), std::vector<std::string>{});
    std::vector<std::string> beyond = Check(static_cast<int>(devices.size()) + 5);
    EXPECT_TRUE(Contains(beyond, "does not exist")) << JoinLines(beyond);
    EXPECT_TRUE(Contains(std::vector<std::string>{Recreate(99)}, "no OpenCL device 99"));
    ASSERT_EQ(Teardown(), "");
    if (other_index >= 0) {
        std::vector<std::string> other = Check(other_index);
        EXPECT_TRUE(Contains(other, "created from a binary only")) << JoinLines(other);
        std::string refused = Recreate(other_index);
        EXPECT_NE(refused.find("created from a binary only"), std::string::npos) << refused;
    }
    EXPECT_NE(Recreate(static_cast<int>(devices.size())), "");  // out of range: still torn down
    ASSERT_EQ(Recreate(-1), "");  // the fallback: every object on its own device

    ASSERT_EQ(clEnqueueWriteBuffer(s.queue, ma, CL_TRUE, 0, n * 4, a.data(), 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueWriteBuffer(s.queue, mb, CL_TRUE, 0, n * 4, b.data(), 0, nullptr, nullptr), CL_SUCCESS);
    size_t global = n;
    ASSERT_EQ(clEnqueueNDRangeKernel(s.queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueReadBuffer(s.queue, mc, CL_TRUE, 0, n * 4, c.data(), 0, nullptr, nullptr), CL_SUCCESS);
    EXPECT_EQ(c, VectorAddReference(n));
    for (cl_mem m : {ma, mb, mc}) clReleaseMemObject(m);
    clReleaseKernel(k);
    clReleaseProgram(prog);
}

TEST_F(RecreateTest, RefusesWhatItCannotCreateAgainAndChangesNothing) {
    ClSetup s(ShimPlatform());
    ASSERT_NE(s.queue, nullptr);
    cl_int err = CL_SUCCESS;
    const char* src = kVectorAdd;
    cl_program compiled = clCreateProgramWithSource(s.context, 1, &src, nullptr, &err);
    ASSERT_EQ(clCompileProgram(compiled, 1, &s.device, nullptr, 0, nullptr, nullptr, nullptr, nullptr), CL_SUCCESS);
    cl_program linked = clLinkProgram(s.context, 1, &s.device, nullptr, 1, &compiled, nullptr, nullptr, &err);
    ASSERT_NE(linked, nullptr) << err;
    std::vector<std::string> why = Check(-1);
    EXPECT_TRUE(Contains(why, "linked by clLinkProgram")) << JoinLines(why);
    EXPECT_TRUE(Contains(why, "compiled by clCompileProgram")) << JoinLines(why);
    std::string refused = Teardown();
    EXPECT_NE(refused.find("linked by clLinkProgram"), std::string::npos) << refused;
    EXPECT_NE(Shim().real(s.context), nullptr);  // nothing was released
    EXPECT_EQ(RunVectorAdd(s, 64), VectorAddReference(64));
    clReleaseProgram(linked);
    clReleaseProgram(compiled);

    // A callback on a user event not set yet would be lost.
    cl_event user = clCreateUserEvent(s.context, &err);
    std::atomic<int> fired{0};
    ASSERT_EQ(clSetEventCallback(
                  user, CL_COMPLETE, [](cl_event, cl_int, void* u) { ++*static_cast<std::atomic<int>*>(u); }, &fired),
              CL_SUCCESS);
    why = Check(-1);
    EXPECT_TRUE(Contains(why, "a user event not set yet, with callbacks")) << JoinLines(why);
    EXPECT_NE(Teardown(), "");
    ASSERT_EQ(clSetUserEventStatus(user, CL_COMPLETE), CL_SUCCESS);
    for (int i = 0; i < 500 && fired.load() == 0; ++i) usleep(2000);
    EXPECT_EQ(fired.load(), 1);
    clReleaseEvent(user);

    EXPECT_EQ(Check(-1), std::vector<std::string>{});
    ASSERT_EQ(Teardown(), "");
    ASSERT_EQ(Recreate(-1), "");
    EXPECT_EQ(RunVectorAdd(s, 64), VectorAddReference(64));
}

// Objects the application released but others still hold (a buffer under its sub-buffer, the
// program of a kernel, the context) come back too, and go when their holders go.
TEST_F(RecreateTest, KeepsWhatOnlyOtherObjectsHold) {
    cl_device_id device = nullptr;
    ASSERT_EQ(clGetDeviceIDs(ShimPlatform(), CL_DEVICE_TYPE_ALL, 1, &device, nullptr), CL_SUCCESS);
    int64_t live_before = Shim().live_count();
    CallbackCount parent_cb;
    {
        cl_int err = CL_SUCCESS;
        cl_context context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
        ASSERT_NE(context, nullptr);
        cl_command_queue queue = clCreateCommandQueueWithProperties(context, device, nullptr, &err);
        const char* src = kVectorAdd;
        cl_program prog = clCreateProgramWithSource(context, 1, &src, nullptr, &err);
        ASSERT_EQ(clBuildProgram(prog, 1, &device, nullptr, nullptr, nullptr), CL_SUCCESS);
        cl_kernel k = clCreateKernel(prog, "vadd", &err);
        ASSERT_NE(k, nullptr);
        const size_t n = 256;
        cl_mem parent = clCreateBuffer(context, CL_MEM_READ_WRITE, 2 * n * 4, nullptr, &err);
        cl_buffer_region region{n * 4, n * 4};
        cl_mem sub = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
        ASSERT_NE(sub, nullptr);
        cl_mem mb = clCreateBuffer(context, CL_MEM_READ_ONLY, n * 4, nullptr, &err);
        cl_mem mc = clCreateBuffer(context, CL_MEM_WRITE_ONLY, n * 4, nullptr, &err);
        ASSERT_EQ(clSetMemObjectDestructorCallback(parent, OnMemGone, &parent_cb), CL_SUCCESS);
        cl_int k3 = 3;
        ASSERT_EQ(clSetKernelArg(k, 0, sizeof(cl_mem), &sub), CL_SUCCESS);
        ASSERT_EQ(clSetKernelArg(k, 1, sizeof(cl_mem), &mb), CL_SUCCESS);
        ASSERT_EQ(clSetKernelArg(k, 2, sizeof(cl_mem), &mc), CL_SUCCESS);
        ASSERT_EQ(clSetKernelArg(k, 3, sizeof(k3), &k3), CL_SUCCESS);
        clReleaseMemObject(parent);
        clReleaseProgram(prog);
        clReleaseContext(context);
        EXPECT_TRUE(IsWrapper(parent));  // held by the sub-buffer

        for (int round = 0; round < 2; ++round) {
            ASSERT_EQ(Teardown(), "");
            ASSERT_EQ(Recreate(-1), "");
        }
        std::vector<int32_t> a(n), b(n), c(n, -1);
        for (size_t i = 0; i < n; ++i) {
            a[i] = static_cast<int32_t>(i * 7 + 1);
            b[i] = static_cast<int32_t>(i * 13 + 5);
        }
        ASSERT_EQ(clEnqueueWriteBuffer(queue, sub, CL_TRUE, 0, n * 4, a.data(), 0, nullptr, nullptr), CL_SUCCESS);
        ASSERT_EQ(clEnqueueWriteBuffer(queue, mb, CL_TRUE, 0, n * 4, b.data(), 0, nullptr, nullptr), CL_SUCCESS);
        size_t global = n;
        ASSERT_EQ(clEnqueueNDRangeKernel(queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
        ASSERT_EQ(clEnqueueReadBuffer(queue, mc, CL_TRUE, 0, n * 4, c.data(), 0, nullptr, nullptr), CL_SUCCESS);
        EXPECT_EQ(c, VectorAddReference(n));
        cl_program of_kernel = nullptr;
        ASSERT_EQ(clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof(of_kernel), &of_kernel, nullptr), CL_SUCCESS);
        EXPECT_EQ(of_kernel, prog);
        cl_context of_queue = nullptr;
        ASSERT_EQ(clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof(of_queue), &of_queue, nullptr), CL_SUCCESS);
        EXPECT_EQ(of_queue, context);
        EXPECT_EQ(parent_cb.calls.load(), 0);
        clReleaseMemObject(sub);  // the parent goes with it
        for (int i = 0; i < 500 && parent_cb.calls.load() == 0; ++i) usleep(2000);
        EXPECT_EQ(parent_cb.calls.load(), 1);
        EXPECT_EQ(parent_cb.handle.load(), static_cast<void*>(parent));
        clReleaseKernel(k);
        clReleaseMemObject(mb);
        clReleaseMemObject(mc);
        clReleaseCommandQueue(queue);
    }
    for (int i = 0; i < 1000 && Shim().live_count() != live_before; ++i) usleep(2000);
    EXPECT_EQ(Shim().live_count(), live_before);
    EXPECT_EQ(parent_cb.calls.load(), 1);
}

// A Recreate that fails half-way (here: a kernel whose name the program lacks) names the object,
// releases what it made and leaves everything torn down, so that another Recreate can follow.
TEST_F(RecreateTest, AFailedRecreateChangesNothingAndCanBeRetried) {
    ClSetup s(ShimPlatform());
    ASSERT_NE(s.queue, nullptr);
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(s, kVectorAdd, nullptr, &err);
    ASSERT_NE(prog, nullptr);
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    ASSERT_NE(k, nullptr);
    cl_mem buf = clCreateBuffer(s.context, CL_MEM_READ_WRITE, 64, nullptr, &err);
    CallbackCount buf_cb;
    ASSERT_EQ(clSetMemObjectDestructorCallback(buf, OnMemGone, &buf_cb), CL_SUCCESS);
    ASSERT_EQ(Teardown(), "");
    ASSERT_EQ(Exports().set_kernel_name(k, "no_such_kernel"), 0);
    std::string failed = Recreate(-1);
    EXPECT_NE(failed.find("cl_kernel"), std::string::npos) << failed;
    EXPECT_NE(failed.find("clCreateKernel"), std::string::npos) << failed;
    for (const void* h : std::initializer_list<const void*>{s.context, s.queue, prog, k, buf}) {
        EXPECT_TRUE(IsWrapper(h));
        EXPECT_EQ(Shim().real(h), nullptr);
    }
    ASSERT_EQ(Exports().set_kernel_name(k, "vadd"), 0);
    ASSERT_EQ(Recreate(-1), "");
    char name[16] = "";
    ASSERT_EQ(clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof(name), name, nullptr), CL_SUCCESS);
    EXPECT_STREQ(name, "vadd");
    EXPECT_EQ(RunVectorAdd(s, 64), VectorAddReference(64));
    EXPECT_EQ(buf_cb.calls.load(), 0);
    clReleaseMemObject(buf);
    for (int i = 0; i < 500 && buf_cb.calls.load() == 0; ++i) usleep(2000);
    EXPECT_EQ(buf_cb.calls.load(), 1);
    clReleaseKernel(k);
    clReleaseProgram(prog);
}

// A context with two devices comes back on its own devices, and cannot move onto one.
TEST_F(RecreateTest, ContextsWithTwoDevices) {
    std::vector<std::string> names = DeviceNames();
    if (names.size() < 2) GTEST_SKIP() << "one OpenCL device only (the cl_recreate_two_devices test has two)";
    cl_device_id devices[2] = {};
    cl_uint count = 0;
    ASSERT_EQ(clGetDeviceIDs(ShimPlatform(), CL_DEVICE_TYPE_ALL, 2, devices, &count), CL_SUCCESS);
    if (count < 2) GTEST_SKIP() << "one device on the first platform";
    cl_int err = CL_SUCCESS;
    cl_context context = clCreateContext(nullptr, 2, devices, nullptr, nullptr, &err);
    ASSERT_NE(context, nullptr);
    cl_command_queue queue = clCreateCommandQueueWithProperties(context, devices[1], nullptr, &err);
    const char* src = kVectorAdd;
    cl_program prog = clCreateProgramWithSource(context, 1, &src, nullptr, &err);
    ASSERT_EQ(clBuildProgram(prog, 2, devices, "-DUNUSED=1", nullptr, nullptr), CL_SUCCESS);
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    ASSERT_NE(k, nullptr);

    std::string refused = Recreate(0);  // TargetForDevice(0)
    EXPECT_NE(refused.find("cannot all go to device 0"), std::string::npos) << refused;
    std::vector<std::string> why = Check(IndexOf(devices[0]));
    EXPECT_TRUE(Contains(why, "would collapse")) << JoinLines(why);
    ASSERT_EQ(Teardown(), "");
    ASSERT_EQ(Recreate(-1), "");
    cl_uint n = 0;
    ASSERT_EQ(clGetContextInfo(context, CL_CONTEXT_NUM_DEVICES, sizeof(n), &n, nullptr), CL_SUCCESS);
    EXPECT_EQ(n, 2u);
    char options[64] = "";
    ASSERT_EQ(clGetProgramBuildInfo(prog, devices[1], CL_PROGRAM_BUILD_OPTIONS, sizeof(options), options, nullptr),
              CL_SUCCESS);
    EXPECT_STREQ(options, "-DUNUSED=1");
    cl_int value = 5;
    size_t global = 1;
    cl_mem m = clCreateBuffer(context, CL_MEM_READ_WRITE, 4, nullptr, &err);
    ASSERT_EQ(clSetKernelArg(k, 0, sizeof(cl_mem), &m), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 1, sizeof(cl_mem), &m), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 2, sizeof(cl_mem), &m), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 3, sizeof(value), &value), CL_SUCCESS);
    cl_int in = 2, out = 0;
    ASSERT_EQ(clEnqueueWriteBuffer(queue, m, CL_TRUE, 0, 4, &in, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueNDRangeKernel(queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueReadBuffer(queue, m, CL_TRUE, 0, 4, &out, 0, nullptr, nullptr), CL_SUCCESS);
    EXPECT_EQ(out, 2 * 5 + (2 ^ 0));
    clReleaseMemObject(m);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
}

TEST_F(RecreateTest, MovesToAnotherDeviceAndBack) {
    std::vector<std::string> devices = DeviceNames();
    if (devices.size() < 2) GTEST_SKIP() << "one OpenCL device only (the cl_recreate_two_devices test has two)";
    std::vector<std::vector<uint8_t>> expected;
    {
        World direct(DirectPlatform());
        ASSERT_TRUE(direct.ok);
        for (int i = 0; i < 3; ++i) expected.push_back(direct.Run());
    }
    World w(ShimPlatform());
    ASSERT_TRUE(w.ok);
    int own = IndexOf(w.s.device), other = OtherIndex(own);
    ASSERT_GE(own, 0);
    ASSERT_GE(other, 0);
    EXPECT_EQ(w.Run(), expected[0]);
    std::vector<std::string> before = Answers(w);

    SuspendResume(w, other);
    EXPECT_EQ(DeviceString(w.s.device, CL_DEVICE_NAME), devices[other]);  // the application's handle, moved
    EXPECT_EQ(Answers(w), before);                                       // handles as values: the same
    EXPECT_EQ(w.Run(), expected[1]);

    SuspendResume(w, own);
    EXPECT_EQ(DeviceString(w.s.device, CL_DEVICE_NAME), devices[own]);
    EXPECT_EQ(w.Run(), expected[2]);
    EXPECT_EQ(Answers(w), before);
}

}  // namespace
}  // namespace gpucr::cl::test
