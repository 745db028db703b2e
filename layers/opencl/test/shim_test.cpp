// shim_test.cpp — the shim is transparent: same results and error codes as PoCL without it, handles
// the application gets back (queries, callbacks) are its own, extension lists hold only what the shim
// can serve, and GPUCR_DISABLE=1 hands the real platform out untouched.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <regex>
#include <string>
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
