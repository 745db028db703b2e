// shim_test.cpp — the shim is transparent: same results and error codes as PoCL without it, handles
// the application gets back (queries, callbacks) are its own, extension lists hold only what the shim
// can serve, and GPUCR_DISABLE=1 hands the real platform out untouched. The suspend gate: calls wait at a
// closed gate until it opens; clWaitForEvents and clFinish never hold a closing gate.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "layers/opencl/test/cl_fixture.h"

namespace gpucr::cl::test {
namespace {

bool ShimDisabled() { return Shim().disabled != nullptr && Shim().disabled() != 0; }

class ShimTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (ShimDisabled()) GTEST_SKIP() << "GPUCR_DISABLE=1: covered by Disabled.*";
        ASSERT_NE(Shim().is_wrapper, nullptr) << "the test shim was not loaded by the ICD loader";
        ASSERT_NE(ShimPlatform(), nullptr) << "no platform through the shim";
        ASSERT_NE(DirectPlatform(), nullptr) << "no platform without the shim";
    }
};

// Error codes of invalid calls, as a list, so that the two platforms can be compared as a whole.
struct ErrorCodes {
    cl_int bad_kernel_name = 1, bad_arg_index = 1, bad_buffer_flags = 1, mem_arg_wrong_size = 1;
    cl_int sampler_as_mem_arg = 1, null_mem_arg = 1, image_arg_from_buffer = 1, build_failure = 1;
    cl_int invalid_event_wait = 1, kernel_on_unbuilt_program = 1;
    std::string build_log;
    std::vector<cl_int> All() const {
        return {
            bad_kernel_name, bad_arg_index,         bad_buffer_flags, mem_arg_wrong_size, sampler_as_mem_arg,
            null_mem_arg,    image_arg_from_buffer, build_failure,    invalid_event_wait, kernel_on_unbuilt_program};
    }
};

ErrorCodes CollectErrors(const ClSetup& s) {
    ErrorCodes e;
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(s, kVectorAdd, nullptr, &err);
    if (prog == nullptr) return e;
    clCreateKernel(prog, "no_such_kernel", &e.bad_kernel_name);
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    cl_int v = 1;
    e.bad_arg_index = clSetKernelArg(k, 99, sizeof(v), &v);
    clCreateBuffer(s.context, CL_MEM_READ_WRITE | CL_MEM_READ_ONLY, 64, nullptr, &e.bad_buffer_flags);
    cl_mem buf = clCreateBuffer(s.context, CL_MEM_READ_WRITE, 64, nullptr, &err);
    e.mem_arg_wrong_size = clSetKernelArg(k, 0, sizeof(cl_int), &buf);  // a cl_mem argument of the wrong size
    cl_sampler smp = clCreateSampler(s.context, CL_FALSE, CL_ADDRESS_NONE, CL_FILTER_NEAREST, &err);
    e.sampler_as_mem_arg = clSetKernelArg(k, 0, sizeof(cl_mem), &smp);  // a handle of another type
    cl_mem null_mem = nullptr;
    e.null_mem_arg = clSetKernelArg(k, 1, sizeof(cl_mem), &null_mem);
    e.image_arg_from_buffer = clSetKernelArg(k, 2, sizeof(cl_mem), &buf);
    cl_event none = nullptr;
    e.invalid_event_wait = clWaitForEvents(0, &none);
    const char* src = kVectorAdd;
    cl_program unbuilt = clCreateProgramWithSource(s.context, 1, &src, nullptr, &err);
    clCreateKernel(unbuilt, "vadd", &e.kernel_on_unbuilt_program);
    const char* bad = "__kernel void broken( { }";
    cl_program pb = clCreateProgramWithSource(s.context, 1, &bad, nullptr, &err);
    e.build_failure = clBuildProgram(pb, 1, &s.device, nullptr, nullptr, nullptr);
    size_t n = 0;
    if (clGetProgramBuildInfo(pb, s.device, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n) == CL_SUCCESS && n > 0) {
        e.build_log.resize(n);
        clGetProgramBuildInfo(pb, s.device, CL_PROGRAM_BUILD_LOG, n, e.build_log.data(), nullptr);
    }
    clReleaseProgram(pb);
    clReleaseProgram(unbuilt);
    clReleaseSampler(smp);
    clReleaseMemObject(buf);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    return e;
}

TEST_F(ShimTest, VectorAddGivesTheSameResultsAsWithoutTheShim) {
    ClSetup shim(ShimPlatform()), direct(DirectPlatform());
    ASSERT_NE(shim.queue, nullptr);
    ASSERT_NE(direct.queue, nullptr);
    EXPECT_TRUE(IsWrapper(shim.context));
    EXPECT_FALSE(IsWrapper(direct.context));
    const size_t n = 4096;
    std::vector<int32_t> through = RunVectorAdd(shim, n);
    std::vector<int32_t> without = RunVectorAdd(direct, n);
    ASSERT_EQ(through.size(), n);
    EXPECT_EQ(through, without);
    EXPECT_EQ(through, VectorAddReference(n));
}

TEST_F(ShimTest, InvalidCallsFailWithTheSameCodesAsWithoutTheShim) {
    ClSetup shim(ShimPlatform()), direct(DirectPlatform());
    ErrorCodes through = CollectErrors(shim);
    ErrorCodes without = CollectErrors(direct);
    EXPECT_EQ(through.All(), without.All());
    EXPECT_EQ(through.bad_kernel_name, CL_INVALID_KERNEL_NAME);
    EXPECT_EQ(through.bad_arg_index, CL_INVALID_ARG_INDEX);
    EXPECT_EQ(through.bad_buffer_flags, CL_INVALID_VALUE);
    EXPECT_EQ(through.mem_arg_wrong_size, CL_INVALID_ARG_SIZE);
    EXPECT_EQ(through.build_failure, CL_BUILD_PROGRAM_FAILURE);
    EXPECT_EQ(through.kernel_on_unbuilt_program, CL_INVALID_PROGRAM_EXECUTABLE);
    EXPECT_NE(through.build_log.find("error"), std::string::npos) << through.build_log;
    // The same log, but for the name of PoCL's temporary file.
    std::regex temp("tempfile_\\w+");
    EXPECT_EQ(std::regex_replace(through.build_log, temp, "tempfile"),
              std::regex_replace(without.build_log, temp, "tempfile"));
}

TEST_F(ShimTest, QueriesReturnTheApplicationsHandles) {
    ClSetup s(ShimPlatform());
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(s, kVectorAdd, nullptr, &err);
    ASSERT_NE(prog, nullptr) << err;
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    cl_mem buf = clCreateBuffer(s.context, CL_MEM_READ_WRITE, 256, nullptr, &err);
    cl_buffer_region region{128, 64};  // origin aligned to CL_DEVICE_MEM_BASE_ADDR_ALIGN
    cl_mem sub = clCreateSubBuffer(buf, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    ASSERT_NE(sub, nullptr) << err;
    cl_event ev = nullptr;
    cl_int pattern = 7;
    ASSERT_EQ(clEnqueueFillBuffer(s.queue, buf, &pattern, sizeof(pattern), 0, 256, 0, nullptr, &ev), CL_SUCCESS);
    ASSERT_EQ(clWaitForEvents(1, &ev), CL_SUCCESS);

    auto handle = [](auto query, auto obj, cl_uint what) {
        void* h = nullptr;
        EXPECT_EQ(query(obj, what, sizeof(h), &h, nullptr), CL_SUCCESS);
        return h;
    };
    EXPECT_EQ(handle(clGetMemObjectInfo, buf, CL_MEM_CONTEXT), s.context);
    EXPECT_EQ(handle(clGetMemObjectInfo, sub, CL_MEM_ASSOCIATED_MEMOBJECT), buf);
    EXPECT_EQ(handle(clGetKernelInfo, k, CL_KERNEL_PROGRAM), prog);
    EXPECT_EQ(handle(clGetKernelInfo, k, CL_KERNEL_CONTEXT), s.context);
    EXPECT_EQ(handle(clGetProgramInfo, prog, CL_PROGRAM_CONTEXT), s.context);
    EXPECT_EQ(handle(clGetProgramInfo, prog, CL_PROGRAM_DEVICES), s.device);
    EXPECT_EQ(handle(clGetContextInfo, s.context, CL_CONTEXT_DEVICES), s.device);
    EXPECT_EQ(handle(clGetCommandQueueInfo, s.queue, CL_QUEUE_CONTEXT), s.context);
    EXPECT_EQ(handle(clGetCommandQueueInfo, s.queue, CL_QUEUE_DEVICE), s.device);
    EXPECT_EQ(handle(clGetEventInfo, ev, CL_EVENT_COMMAND_QUEUE), s.queue);
    EXPECT_EQ(handle(clGetEventInfo, ev, CL_EVENT_CONTEXT), s.context);
    EXPECT_EQ(handle(clGetDeviceInfo, s.device, CL_DEVICE_PLATFORM), s.platform);

    // Context properties: the platform value is the application's platform.
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(s.platform), 0};
    cl_context ctx2 = clCreateContext(props, 1, &s.device, nullptr, nullptr, &err);
    ASSERT_NE(ctx2, nullptr) << err;
    cl_context_properties back[3] = {};
    ASSERT_EQ(clGetContextInfo(ctx2, CL_CONTEXT_PROPERTIES, sizeof(back), back, nullptr), CL_SUCCESS);
    EXPECT_EQ(back[1], reinterpret_cast<cl_context_properties>(s.platform));

    // Every handle the application holds is the shim's.
    for (const void* h :
         {static_cast<const void*>(s.platform), static_cast<const void*>(s.device), static_cast<const void*>(s.context),
          static_cast<const void*>(s.queue), static_cast<const void*>(prog), static_cast<const void*>(k),
          static_cast<const void*>(buf), static_cast<const void*>(sub), static_cast<const void*>(ev)}) {
        EXPECT_TRUE(IsWrapper(h)) << h;
    }
    clReleaseContext(ctx2);
    clReleaseEvent(ev);
    clReleaseMemObject(sub);
    clReleaseMemObject(buf);
    clReleaseKernel(k);
    clReleaseProgram(prog);
}

struct CallbackLog {
    std::atomic<void*> event{nullptr};
    std::atomic<cl_int> event_status{1};
    std::atomic<void*> mem{nullptr};
    std::atomic<void*> program{nullptr};
    std::atomic<void*> context{nullptr};
};

TEST_F(ShimTest, CallbacksReceiveTheApplicationsHandles) {
    CallbackLog log;
    {
        ClSetup s(ShimPlatform());
        cl_int err = CL_SUCCESS;
        const char* src = kVectorAdd;
        cl_program prog = clCreateProgramWithSource(s.context, 1, &src, nullptr, &err);
        ASSERT_EQ(clBuildProgram(
                      prog, 1, &s.device, nullptr,
                      [](cl_program p, void* u) { static_cast<CallbackLog*>(u)->program = p; }, &log),
                  CL_SUCCESS);
        clFinish(s.queue);
        cl_event user = clCreateUserEvent(s.context, &err);
        cl_event marker = nullptr;
        ASSERT_EQ(clEnqueueMarkerWithWaitList(s.queue, 1, &user, &marker), CL_SUCCESS);
        ASSERT_EQ(clSetEventCallback(
                      marker, CL_COMPLETE,
                      [](cl_event e, cl_int st, void* u) {
                          static_cast<CallbackLog*>(u)->event_status = st;
                          static_cast<CallbackLog*>(u)->event = e;
                      },
                      &log),
                  CL_SUCCESS);
        cl_mem buf = clCreateBuffer(s.context, CL_MEM_READ_WRITE, 64, nullptr, &err);
        ASSERT_EQ(clSetMemObjectDestructorCallback(
                      buf, [](cl_mem m, void* u) { static_cast<CallbackLog*>(u)->mem = m; }, &log),
                  CL_SUCCESS);
        cl_int ctx_cb = clSetContextDestructorCallback(
            s.context, [](cl_context c, void* u) { static_cast<CallbackLog*>(u)->context = c; }, &log);
        EXPECT_EQ(ctx_cb, CL_SUCCESS);
        // The application lets go of the marker before it completes: the callback still gets its handle.
        void* app_marker = marker;
        clReleaseEvent(marker);
        ASSERT_EQ(clSetUserEventStatus(user, CL_COMPLETE), CL_SUCCESS);
        ASSERT_EQ(clFinish(s.queue), CL_SUCCESS);
        clReleaseEvent(user);
        void* app_mem = buf;
        clReleaseMemObject(buf);
        for (int i = 0; i < 500 && (log.event.load() == nullptr || log.mem.load() == nullptr); ++i) usleep(2000);
        EXPECT_EQ(log.mem.load(), app_mem);
        EXPECT_EQ(log.event.load(), app_marker);
        EXPECT_EQ(log.event_status.load(), CL_COMPLETE);
        EXPECT_EQ(log.program.load(), prog);
        clReleaseProgram(prog);
        if (ctx_cb == CL_SUCCESS) {
            void* app_context = s.context;
            clReleaseCommandQueue(s.queue);
            s.queue = nullptr;
            clReleaseContext(s.context);
            s.context = nullptr;
            // PoCL may destroy the context (and call back) a little later, once its own
            // references from released objects are gone.
            for (int i = 0; i < 1000 && log.context.load() == nullptr; ++i) usleep(2000);
            EXPECT_EQ(log.context.load(), app_context);
        }
    }
}

TEST_F(ShimTest, ExtensionListsHoldOnlyWhatTheShimServes) {
    ClSetup shim(ShimPlatform()), direct(DirectPlatform());
    std::string through = DeviceString(shim.device, CL_DEVICE_EXTENSIONS);
    std::string without = DeviceString(direct.device, CL_DEVICE_EXTENSIONS);
    EXPECT_EQ(through.find("cl_khr_command_buffer"), std::string::npos) << through;
    std::string expected = without;
    if (size_t pos = expected.find("cl_khr_command_buffer "); pos != std::string::npos) expected.erase(pos, 22);
    EXPECT_EQ(through, expected);
    // An advertised extension's functions are there; a hidden one's are not handed out.
    EXPECT_EQ(clGetExtensionFunctionAddressForPlatform(shim.platform, "clCreateCommandBufferKHR"), nullptr);
    EXPECT_EQ(clGetExtensionFunctionAddressForPlatform(shim.platform, "clNoSuchFunctionGPUCR"), nullptr);
    EXPECT_EQ(clGetExtensionFunctionAddressForPlatform(shim.platform, "clGetKernelSubGroupInfoKHR") != nullptr,
              clGetExtensionFunctionAddressForPlatform(direct.platform, "clGetKernelSubGroupInfoKHR") != nullptr);
    size_t n_through = 0, n_without = 0;
    ASSERT_EQ(clGetDeviceInfo(shim.device, CL_DEVICE_EXTENSIONS_WITH_VERSION, 0, nullptr, &n_through), CL_SUCCESS);
    ASSERT_EQ(clGetDeviceInfo(direct.device, CL_DEVICE_EXTENSIONS_WITH_VERSION, 0, nullptr, &n_without), CL_SUCCESS);
    bool hidden = without.find("cl_khr_command_buffer") != std::string::npos;
    EXPECT_EQ(n_through + (hidden ? sizeof(cl_name_version) : 0), n_without);
    std::vector<cl_name_version> nv(n_through / sizeof(cl_name_version));
    ASSERT_EQ(clGetDeviceInfo(shim.device, CL_DEVICE_EXTENSIONS_WITH_VERSION, n_through, nv.data(), nullptr),
              CL_SUCCESS);
    for (const cl_name_version& e : nv) EXPECT_STRNE(e.name, "cl_khr_command_buffer");
    // Buffers too small for the filtered answer are refused as the real ICD would.
    char tiny[4];
    EXPECT_EQ(clGetDeviceInfo(shim.device, CL_DEVICE_EXTENSIONS, sizeof(tiny), tiny, nullptr), CL_INVALID_VALUE);
}

TEST_F(ShimTest, HandlesPointIntoTheShimLibrary) {
    // The dispatch table every wrapper starts with lives in the shim: what the loader calls is ours.
    ClSetup s(ShimPlatform());
    Dl_info info{};
    ASSERT_NE(::dladdr(*reinterpret_cast<void* const*>(s.context), &info), 0);
    EXPECT_NE(std::string(info.dli_fname).find("gpucr_opencl"), std::string::npos) << info.dli_fname;
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t MsSince(Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

class GateTest : public ShimTest {
protected:
    void SetUp() override {
        ShimTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        ASSERT_NE(Shim().gate_close, nullptr);
    }

    void TearDown() override {
        if (Shim().gate_open != nullptr) Shim().gate_open();  // never leave it closed for the next test
    }

    // Closes the gate as a suspend does, from this (application) thread; fails the test if it cannot.
    void Close() { ASSERT_EQ(Shim().gate_close(1000), 1); }

    // Waits until `n` threads wait at the gate (or a second passes).
    bool WaitForWaiters(int64_t n) {
        const auto start = Clock::now();
        while (Shim().gate_waiting() < n) {
            if (MsSince(start) > 1000) return false;
            std::this_thread::sleep_for(milliseconds(1));
        }
        return true;
    }
};

TEST_F(GateTest, CallsWaitAtAClosedGateUntilOpen) {
    ClSetup s(ShimPlatform());
    ASSERT_NE(s.queue, nullptr);
    Close();
    std::atomic<bool> queried{false}, created{false};
    cl_mem buf = nullptr;
    std::thread query([&] {
        cl_uint units = 0;
        EXPECT_EQ(clGetDeviceInfo(s.device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(units), &units, nullptr), CL_SUCCESS);
        queried = true;
    });
    std::thread create([&] {
        cl_int err = CL_INVALID_VALUE;
        buf = clCreateBuffer(s.context, CL_MEM_READ_WRITE, 256, nullptr, &err);
        EXPECT_EQ(err, CL_SUCCESS);
        created = true;
    });
    EXPECT_TRUE(WaitForWaiters(2));
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_FALSE(queried.load());
    EXPECT_FALSE(created.load());
    Shim().gate_open();
    query.join();
    create.join();
    EXPECT_TRUE(queried.load());
    EXPECT_TRUE(created.load());
    EXPECT_EQ(Shim().gate_waiting(), 0);
    ASSERT_NE(buf, nullptr);
    clReleaseMemObject(buf);
}

// A thread waiting for a user event nobody has completed yet leaves the gate between polls; the event
// completed by another thread while the gate is closed ends the wait after Open().
TEST_F(GateTest, WaitForEventsDoesNotHoldClose) {
    ClSetup s(ShimPlatform());
    ASSERT_NE(s.context, nullptr);
    cl_int err = CL_SUCCESS;
    cl_event user = clCreateUserEvent(s.context, &err);
    ASSERT_NE(user, nullptr) << err;
    std::atomic<cl_int> waited{1};
    std::thread waiter([&] { waited = clWaitForEvents(1, &user); });
    std::this_thread::sleep_for(milliseconds(50));  // inside its wait
    const auto start = Clock::now();
    Close();
    const int64_t took = MsSince(start);
    EXPECT_LT(took, 100) << "a waiting thread held Close() for " << took << " ms";
    std::atomic<bool> completed{false};
    std::thread completer([&] {
        EXPECT_EQ(clSetUserEventStatus(user, CL_COMPLETE), CL_SUCCESS);
        completed = true;
    });
    EXPECT_TRUE(WaitForWaiters(1));
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_FALSE(completed.load());
    EXPECT_EQ(waited.load(), 1);
    Shim().gate_open();
    completer.join();
    waiter.join();
    EXPECT_EQ(waited.load(), CL_SUCCESS);
    clReleaseEvent(user);
}

// Error codes of clWaitForEvents, through the shim and without it.
std::vector<cl_int> WaitErrors(const ClSetup& s, const ClSetup& other) {
    std::vector<cl_int> codes;
    cl_int err = CL_SUCCESS;
    cl_event failed = clCreateUserEvent(s.context, &err);
    clSetUserEventStatus(failed, -5);
    codes.push_back(clWaitForEvents(1, &failed));
    // Failed while a thread waits for it.
    cl_event failing = clCreateUserEvent(s.context, &err);
    std::atomic<cl_int> waited{1};
    std::thread waiter([&] { waited = clWaitForEvents(1, &failing); });
    std::this_thread::sleep_for(milliseconds(30));
    clSetUserEventStatus(failing, -1);
    waiter.join();
    codes.push_back(waited.load());
    cl_event done = clCreateUserEvent(s.context, &err);
    clSetUserEventStatus(done, CL_COMPLETE);
    cl_event elsewhere = clCreateUserEvent(other.context, &err);
    cl_event two_contexts[] = {done, elsewhere};
    codes.push_back(clWaitForEvents(2, two_contexts));
    cl_event with_null[] = {done, nullptr};
    codes.push_back(clWaitForEvents(2, with_null));
    codes.push_back(clWaitForEvents(0, &done));
    codes.push_back(clWaitForEvents(1, &done));
    clSetUserEventStatus(elsewhere, CL_COMPLETE);
    for (cl_event e : {failed, failing, done, elsewhere}) clReleaseEvent(e);
    return codes;
}

TEST_F(GateTest, WaitForEventsFailsWithTheSameCodesAsWithoutTheShim) {
    ClSetup shim(ShimPlatform()), shim2(ShimPlatform()), direct(DirectPlatform()), direct2(DirectPlatform());
    ASSERT_NE(shim2.context, nullptr);
    ASSERT_NE(direct2.context, nullptr);
    std::vector<cl_int> through = WaitErrors(shim, shim2);
    std::vector<cl_int> without = WaitErrors(direct, direct2);
    EXPECT_EQ(through, without);
    ASSERT_EQ(through.size(), 6u);
    EXPECT_EQ(through[0], CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    EXPECT_EQ(through[1], CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
    EXPECT_EQ(through[2], CL_INVALID_CONTEXT);
    EXPECT_EQ(through[3], CL_INVALID_EVENT);
    EXPECT_EQ(through[4], CL_INVALID_VALUE);
    EXPECT_EQ(through[5], CL_SUCCESS);
}

TEST_F(GateTest, FinishWaitsForTheKernel) {
    ClSetup s(ShimPlatform());
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(s, kVectorAdd, nullptr, &err);
    ASSERT_NE(prog, nullptr) << err;
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    ASSERT_NE(k, nullptr) << err;
    const size_t n = 1 << 16, bytes = n * sizeof(int32_t);
    std::vector<int32_t> a(n), b(n), c(n, -1);
    for (size_t i = 0; i < n; ++i) {
        a[i] = static_cast<int32_t>(i * 7 + 1);
        b[i] = static_cast<int32_t>(i * 13 + 5);
    }
    cl_mem ba = clCreateBuffer(s.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, a.data(), &err);
    cl_mem bb = clCreateBuffer(s.context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, b.data(), &err);
    cl_mem bc = clCreateBuffer(s.context, CL_MEM_WRITE_ONLY, bytes, nullptr, &err);
    cl_int k3 = 3;
    ASSERT_EQ(clSetKernelArg(k, 0, sizeof(cl_mem), &ba), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 1, sizeof(cl_mem), &bb), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 2, sizeof(cl_mem), &bc), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 3, sizeof(k3), &k3), CL_SUCCESS);
    ASSERT_EQ(clEnqueueNDRangeKernel(s.queue, k, 1, nullptr, &n, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueReadBuffer(s.queue, bc, CL_FALSE, 0, bytes, c.data(), 0, nullptr, nullptr), CL_SUCCESS);
    EXPECT_EQ(clFinish(s.queue), CL_SUCCESS);
    EXPECT_EQ(c, VectorAddReference(n));
    EXPECT_EQ(clFinish(s.queue), CL_SUCCESS);  // nothing left to wait for
    for (cl_mem m : {ba, bb, bc}) clReleaseMemObject(m);
    clReleaseKernel(k);
    clReleaseProgram(prog);
}

// clFinish on a queue held up by a user event: it leaves the gate between polls too.
TEST_F(GateTest, FinishDoesNotHoldClose) {
    ClSetup s(ShimPlatform());
    ASSERT_NE(s.queue, nullptr);
    cl_int err = CL_SUCCESS;
    cl_event user = clCreateUserEvent(s.context, &err);
    ASSERT_EQ(clEnqueueMarkerWithWaitList(s.queue, 1, &user, nullptr), CL_SUCCESS);
    std::atomic<cl_int> finished{1};
    std::thread app([&] { finished = clFinish(s.queue); });
    std::this_thread::sleep_for(milliseconds(50));
    const auto start = Clock::now();
    Close();
    EXPECT_LT(MsSince(start), 100);
    EXPECT_EQ(finished.load(), 1);
    Shim().gate_open();
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_EQ(finished.load(), 1);  // still held up by the user event
    ASSERT_EQ(clSetUserEventStatus(user, CL_COMPLETE), CL_SUCCESS);
    app.join();
    EXPECT_EQ(finished.load(), CL_SUCCESS);
    clReleaseEvent(user);
}

// With GPUCR_DISABLE=1 (meson test cl_shim_disabled) the shim hands out the real platforms.
TEST(Disabled, PassThrough) {
    if (!ShimDisabled()) GTEST_SKIP() << "runs with GPUCR_DISABLE=1 only";
    std::vector<cl_platform_id> ps = AllPlatforms();
    ASSERT_EQ(ps.size(), 1u) << "the vendor directory holds only gpucr.icd";
    EXPECT_FALSE(IsWrapper(ps[0]));
    Dl_info info{};
    ASSERT_NE(::dladdr(*reinterpret_cast<void* const*>(ps[0]), &info), 0);
    EXPECT_EQ(std::string(info.dli_fname).find("gpucr_opencl"), std::string::npos) << info.dli_fname;
    ClSetup s(ps[0]);
    ASSERT_NE(s.queue, nullptr);
    EXPECT_FALSE(IsWrapper(s.context));
    EXPECT_EQ(RunVectorAdd(s, 1024), VectorAddReference(1024));
    EXPECT_EQ(Shim().live_count(), 0);
    // Nothing filtered either.
    if (DeviceString(s.device, CL_DEVICE_EXTENSIONS).find("cl_khr_command_buffer") != std::string::npos) {
        EXPECT_NE(clGetExtensionFunctionAddressForPlatform(ps[0], "clCreateCommandBufferKHR"), nullptr);
    }
}

}  // namespace
}  // namespace gpucr::cl::test
