// table_test.cpp — the shim's object tables: creation parameters recorded per object, stable ids,
// wrappers alive exactly as long as the real objects (application and internal references), and the
// "not capturable" marks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "layers/opencl/test/cl_fixture.h"

namespace gpucr::cl::test {
namespace {

using nlohmann::json;

class TableTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (Shim().disabled == nullptr || Shim().disabled() != 0) GTEST_SKIP() << "needs the shim enabled";
        ASSERT_NE(ShimPlatform(), nullptr);
        s_ = std::make_unique<ClSetup>(ShimPlatform());
        ASSERT_NE(s_->queue, nullptr);
    }
    void TearDown() override { s_.reset(); }
    uint64_t Id(const void* h) { return Describe(h).value("id", uint64_t{0}); }
    std::unique_ptr<ClSetup> s_;
};

TEST_F(TableTest, RecordsBufferAndSubBufferParameters) {
    cl_int err = CL_SUCCESS;
    std::vector<int32_t> host(64, 5);
    cl_mem buf = clCreateBuffer(s_->context, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, 256, host.data(), &err);
    ASSERT_NE(buf, nullptr) << err;
    cl_buffer_region region{128, 64};
    cl_mem sub = clCreateSubBuffer(buf, CL_MEM_READ_ONLY, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    ASSERT_NE(sub, nullptr) << err;
    cl_mem_properties none[] = {0};
    cl_mem withp = clCreateBufferWithProperties(s_->context, none, CL_MEM_WRITE_ONLY, 512, nullptr, &err);
    ASSERT_NE(withp, nullptr) << err;

    json b = Describe(buf);
    EXPECT_EQ(b["type"], "cl_mem");
    EXPECT_EQ(b["kind"], "buffer");
    EXPECT_EQ(b["flags"], CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR);
    EXPECT_EQ(b["size"], 256);
    EXPECT_EQ(b["host_ptr"], reinterpret_cast<uintptr_t>(host.data()));
    EXPECT_EQ(b["context"], Id(s_->context));
    EXPECT_EQ(b["created_by"], "clCreateBuffer");
    EXPECT_FALSE(b.contains("unsupported"));
    json sb = Describe(sub);
    EXPECT_EQ(sb["kind"], "sub-buffer");
    EXPECT_EQ(sb["parent"], b["id"]);
    EXPECT_EQ(sb["region"]["origin"], 128);
    EXPECT_EQ(sb["region"]["size"], 64);
    json w = Describe(withp);
    EXPECT_EQ(w["with_properties"], true);
    EXPECT_EQ(w["properties"], json::array({0}));
    EXPECT_EQ(w["size"], 512);
    // Ids are unique and never re-used.
    EXPECT_LT(b["id"].get<uint64_t>(), sb["id"].get<uint64_t>());
    uint64_t last = w["id"];
    for (cl_mem m : {sub, buf, withp}) clReleaseMemObject(m);
    cl_mem again = clCreateBuffer(s_->context, CL_MEM_READ_WRITE, 256, nullptr, &err);
    EXPECT_GT(Id(again), last);
    clReleaseMemObject(again);
}

TEST_F(TableTest, RecordsProgramSourceOptionsAndKernelArguments) {
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(*s_, kArgKinds, "-DGPUCR_TEST=1", &err);
    ASSERT_NE(prog, nullptr) << err;
    json p = Describe(prog);
    EXPECT_EQ(p["origin"], "source");
    EXPECT_EQ(p["source"], kArgKinds);
    const json& build = p["builds"][std::to_string(Id(s_->device))];
    EXPECT_EQ(build["kind"], "build");
    EXPECT_EQ(build["app_options"], "-DGPUCR_TEST=1");
    EXPECT_EQ(build["options"], "-DGPUCR_TEST=1 -cl-kernel-arg-info");
    EXPECT_EQ(build["result"], CL_SUCCESS);

    cl_kernel k = clCreateKernel(prog, "kinds", &err);
    ASSERT_NE(k, nullptr) << err;
    cl_mem out = clCreateBuffer(s_->context, CL_MEM_READ_WRITE, 64, nullptr, &err);
    cl_sampler smp = clCreateSampler(s_->context, CL_FALSE, CL_ADDRESS_CLAMP_TO_EDGE, CL_FILTER_NEAREST, &err);
    cl_image_format fmt{CL_RGBA, CL_SIGNED_INT32};
    cl_image_desc desc{};
    desc.image_type = CL_MEM_OBJECT_IMAGE2D;
    desc.image_width = 4;
    desc.image_height = 2;
    cl_mem img = clCreateImage(s_->context, CL_MEM_READ_ONLY, &fmt, &desc, nullptr, &err);
    ASSERT_NE(img, nullptr) << err;
    cl_int kval = 42;
    ASSERT_EQ(clSetKernelArg(k, 0, sizeof(cl_mem), &out), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 1, 16 * sizeof(cl_int), nullptr), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 2, sizeof(kval), &kval), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 3, sizeof(cl_sampler), &smp), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 4, sizeof(cl_mem), &img), CL_SUCCESS);
    size_t global = 16, local = 16;
    ASSERT_EQ(clEnqueueNDRangeKernel(s_->queue, k, 1, nullptr, &global, &local, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);

    json kj = Describe(k);
    EXPECT_EQ(kj["name"], "kinds");
    EXPECT_EQ(kj["program"], p["id"]);
    ASSERT_EQ(kj["args"].size(), 5u);
    EXPECT_EQ(kj["args"][0]["kind"], "mem");
    EXPECT_EQ(kj["args"][0]["object"], Id(out));
    EXPECT_EQ(kj["args"][0]["info"]["address"], CL_KERNEL_ARG_ADDRESS_GLOBAL);
    EXPECT_EQ(kj["args"][1]["kind"], "local");
    EXPECT_EQ(kj["args"][1]["size"], 16 * sizeof(cl_int));
    EXPECT_EQ(kj["args"][2]["kind"], "value");
    EXPECT_EQ(kj["args"][2]["value"]["bytes"], json::array({42, 0, 0, 0}));
    EXPECT_EQ(kj["args"][3]["kind"], "sampler");
    EXPECT_EQ(kj["args"][3]["object"], Id(smp));
    EXPECT_EQ(kj["args"][4]["kind"], "mem");
    EXPECT_EQ(kj["args"][4]["object"], Id(img));
    EXPECT_EQ(kj["args"][4]["info"]["type_name"], "image2d_t");

    json sj = Describe(smp);
    EXPECT_EQ(sj["addressing_mode"], CL_ADDRESS_CLAMP_TO_EDGE);
    EXPECT_EQ(sj["normalized_coords"], false);
    json ij = Describe(img);
    EXPECT_EQ(ij["kind"], "image");
    EXPECT_EQ(ij["format"]["order"], CL_RGBA);
    EXPECT_EQ(ij["desc"]["width"], 4);
    EXPECT_EQ(ij["desc"]["height"], 2);
    EXPECT_GE(ij["size"].get<uint64_t>(), 4u * 2u * 16u);

    for (cl_mem m : {out, img}) clReleaseMemObject(m);
    clReleaseSampler(smp);
    clReleaseKernel(k);
    clReleaseProgram(prog);
}

TEST_F(TableTest, TheApplicationSeesItsOwnBuildOptionsAndNoExtraArgumentInfo) {
    ClSetup direct(DirectPlatform());
    ASSERT_NE(direct.queue, nullptr);
    for (const char* options : {"-DX=1", "-cl-kernel-arg-info"}) {
        std::vector<cl_int> codes;
        std::vector<std::string> seen;
        for (const ClSetup* s : {s_.get(), &direct}) {
            cl_int err = CL_SUCCESS;
            cl_program prog = Build(*s, kVectorAdd, options, &err);
            ASSERT_NE(prog, nullptr) << err;
            char buf[256] = {};
            size_t n = 0;
            ASSERT_EQ(clGetProgramBuildInfo(prog, s->device, CL_PROGRAM_BUILD_OPTIONS, sizeof(buf), buf, &n),
                      CL_SUCCESS);
            seen.emplace_back(buf);
            EXPECT_EQ(n, std::strlen(options) + 1);
            cl_kernel k = clCreateKernel(prog, "vadd", &err);
            cl_kernel_arg_address_qualifier q = 0;
            codes.push_back(clGetKernelArgInfo(k, 0, CL_KERNEL_ARG_ADDRESS_QUALIFIER, sizeof(q), &q, nullptr));
            codes.push_back(clGetKernelArgInfo(k, 9, CL_KERNEL_ARG_ADDRESS_QUALIFIER, sizeof(q), &q, nullptr));
            clReleaseKernel(k);
            clReleaseProgram(prog);
        }
        EXPECT_EQ(seen[0], options);
        EXPECT_EQ(seen[0], seen[1]);
        EXPECT_EQ(codes[0], codes[2]) << options;
        EXPECT_EQ(codes[1], codes[3]) << options;
    }
}

TEST_F(TableTest, RecordsQueuesContextsAndEvents) {
    cl_int err = CL_SUCCESS;
    cl_queue_properties props[] = {CL_QUEUE_PROPERTIES,
                                   CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE | CL_QUEUE_PROFILING_ENABLE, 0};
    cl_command_queue ooo = clCreateCommandQueueWithProperties(s_->context, s_->device, props, &err);
    ASSERT_NE(ooo, nullptr) << err;
    cl_command_queue old = clCreateCommandQueue(s_->context, s_->device, 0, &err);
    ASSERT_NE(old, nullptr) << err;
    json q = Describe(ooo);
    EXPECT_EQ(q["with_properties"], true);
    EXPECT_EQ(q["properties"], CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE | CL_QUEUE_PROFILING_ENABLE);
    EXPECT_EQ(q["property_list"].size(), 3u);
    EXPECT_EQ(q["device"], Id(s_->device));
    EXPECT_EQ(q["context"], Id(s_->context));
    EXPECT_EQ(Describe(old)["with_properties"], false);

    json c = Describe(s_->context);
    EXPECT_EQ(c["devices"], json::array({Id(s_->device)}));
    cl_context_properties cprops[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(s_->platform), 0};
    cl_context from_type = clCreateContextFromType(cprops, CL_DEVICE_TYPE_ALL, nullptr, nullptr, &err);
    ASSERT_NE(from_type, nullptr) << err;
    json ft = Describe(from_type);
    EXPECT_EQ(ft["from_type"], true);
    EXPECT_EQ(ft["devices"], json::array({Id(s_->device)}));
    EXPECT_EQ(ft["properties"], json::array({CL_CONTEXT_PLATFORM, Id(s_->platform), 0}));

    cl_event user = clCreateUserEvent(s_->context, &err);
    cl_event marker = nullptr;
    ASSERT_EQ(clEnqueueMarkerWithWaitList(ooo, 1, &user, &marker), CL_SUCCESS);
    ASSERT_EQ(clSetUserEventStatus(user, CL_COMPLETE), CL_SUCCESS);
    ASSERT_EQ(clWaitForEvents(1, &marker), CL_SUCCESS);
    json u = Describe(user);
    EXPECT_EQ(u["user"], true);
    EXPECT_EQ(u["user_status"], CL_COMPLETE);
    json m = Describe(marker);
    EXPECT_EQ(m["command"], "clEnqueueMarkerWithWaitList");
    EXPECT_EQ(m["queue"], Id(ooo));
    for (cl_event e : {user, marker}) clReleaseEvent(e);
    clReleaseContext(from_type);
    clReleaseCommandQueue(old);
    clReleaseCommandQueue(ooo);
}

TEST_F(TableTest, RecordsBinaryBuiltInAndLinkedPrograms) {
    cl_int err = CL_SUCCESS;
    cl_program src = Build(*s_, kVectorAdd, nullptr, &err);
    ASSERT_NE(src, nullptr);
    size_t size = 0;
    ASSERT_EQ(clGetProgramInfo(src, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, nullptr), CL_SUCCESS);
    std::vector<unsigned char> bin(size);
    unsigned char* bins[] = {bin.data()};
    ASSERT_EQ(clGetProgramInfo(src, CL_PROGRAM_BINARIES, sizeof(bins), bins, nullptr), CL_SUCCESS);
    const unsigned char* cbins[] = {bin.data()};
    cl_int status = 1;
    cl_program from_bin = clCreateProgramWithBinary(s_->context, 1, &s_->device, &size, cbins, &status, &err);
    ASSERT_NE(from_bin, nullptr) << err;
    ASSERT_EQ(clBuildProgram(from_bin, 0, nullptr, nullptr, nullptr, nullptr), CL_SUCCESS);
    json b = Describe(from_bin);
    EXPECT_EQ(b["origin"], "binary");
    EXPECT_EQ(b["binary_sizes"][std::to_string(Id(s_->device))], size);
    EXPECT_EQ(b["devices"], json::array({Id(s_->device)}));
    EXPECT_EQ(b["builds"][std::to_string(Id(s_->device))]["options"], "-cl-kernel-arg-info");

    std::string names = DeviceString(s_->device, CL_DEVICE_BUILT_IN_KERNELS);
    if (!names.empty()) {
        std::string first = names.substr(0, names.find(';'));
        cl_program bi = clCreateProgramWithBuiltInKernels(s_->context, 1, &s_->device, first.c_str(), &err);
        ASSERT_NE(bi, nullptr) << err;
        json bj = Describe(bi);
        EXPECT_EQ(bj["origin"], "built-in");
        EXPECT_EQ(bj["kernel_names"], first);
        clReleaseProgram(bi);
    }

    const char* lib_src = "int twice(int x) { return 2 * x; }";
    const char* main_src = "int twice(int x);\n__kernel void k(__global int* a) { a[0] = twice(a[0]); }";
    cl_program lib = clCreateProgramWithSource(s_->context, 1, &lib_src, nullptr, &err);
    cl_program main_prog = clCreateProgramWithSource(s_->context, 1, &main_src, nullptr, &err);
    cl_int c1 = clCompileProgram(lib, 1, &s_->device, "-DA", 0, nullptr, nullptr, nullptr, nullptr);
    cl_int c2 = clCompileProgram(main_prog, 1, &s_->device, nullptr, 0, nullptr, nullptr, nullptr, nullptr);
    if (c1 == CL_SUCCESS && c2 == CL_SUCCESS) {
        cl_program inputs[] = {lib, main_prog};
        void* linked_in_callback = nullptr;
        cl_program linked = clLinkProgram(
            s_->context, 1, &s_->device, nullptr, 2, inputs, [](cl_program p, void* u) { *static_cast<void**>(u) = p; },
            &linked_in_callback, &err);
        ASSERT_NE(linked, nullptr) << err;
        EXPECT_EQ(linked_in_callback, linked);
        json l = Describe(linked);
        EXPECT_EQ(l["origin"], "linked");
        EXPECT_EQ(l["inputs"], json::array({Id(lib), Id(main_prog)}));
        json lb = Describe(lib)["builds"][std::to_string(Id(s_->device))];
        EXPECT_EQ(lb["kind"], "compile");
        EXPECT_EQ(lb["options"], "-DA -cl-kernel-arg-info");
        cl_kernel k = clCreateKernel(linked, "k", &err);
        EXPECT_NE(k, nullptr) << err;
        if (k != nullptr) clReleaseKernel(k);
        clReleaseProgram(linked);
    } else {
        ADD_FAILURE() << "clCompileProgram failed: " << c1 << " " << c2;
    }
    for (cl_program p : {lib, main_prog, from_bin, src}) clReleaseProgram(p);
}

TEST_F(TableTest, WrappersLiveExactlyAsLongAsTheirObjects) {
    const int64_t baseline = Shim().live_count();
    cl_int err = CL_SUCCESS;
    cl_program prog = Build(*s_, kVectorAdd, nullptr, &err);
    cl_kernel k = clCreateKernel(prog, "vadd", &err);
    cl_mem buf = clCreateBuffer(s_->context, CL_MEM_READ_WRITE, 64, nullptr, &err);
    cl_buffer_region region{0, 32};
    cl_mem sub = clCreateSubBuffer(buf, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    EXPECT_EQ(Shim().live_count(), baseline + 4);

    // The kernel holds its program: released by the application, the program is still what the
    // kernel reports, and still the shim's.
    ASSERT_EQ(clReleaseProgram(prog), CL_SUCCESS);
    EXPECT_TRUE(IsWrapper(prog));
    cl_program back = nullptr;
    ASSERT_EQ(clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof(back), &back, nullptr), CL_SUCCESS);
    EXPECT_EQ(back, prog);
    ASSERT_EQ(clReleaseKernel(k), CL_SUCCESS);
    EXPECT_FALSE(IsWrapper(k));
    EXPECT_FALSE(IsWrapper(prog));

    // A sub-buffer holds its parent; retain/release is counted.
    ASSERT_EQ(clRetainMemObject(buf), CL_SUCCESS);
    ASSERT_EQ(clReleaseMemObject(buf), CL_SUCCESS);
    ASSERT_EQ(clReleaseMemObject(buf), CL_SUCCESS);
    EXPECT_TRUE(IsWrapper(buf));
    ASSERT_EQ(clReleaseMemObject(sub), CL_SUCCESS);
    EXPECT_FALSE(IsWrapper(sub));
    EXPECT_FALSE(IsWrapper(buf));
    EXPECT_EQ(Shim().live_count(), baseline);

    // A command still running holds its memory object in the real ICD: the wrapper stays until the
    // real object is gone (the ICD's destructor callback), then goes.
    cl_event gate = clCreateUserEvent(s_->context, &err);
    cl_mem busy = clCreateBuffer(s_->context, CL_MEM_READ_WRITE, 64, nullptr, &err);
    cl_int pattern = 1;
    ASSERT_EQ(clEnqueueFillBuffer(s_->queue, busy, &pattern, sizeof(pattern), 0, 64, 1, &gate, nullptr), CL_SUCCESS);
    ASSERT_EQ(clReleaseMemObject(busy), CL_SUCCESS);
    EXPECT_TRUE(IsWrapper(busy));
    ASSERT_EQ(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    clReleaseEvent(gate);
    for (int i = 0; i < 500 && IsWrapper(busy); ++i) usleep(2000);
    EXPECT_FALSE(IsWrapper(busy));
    EXPECT_EQ(Shim().live_count(), baseline);

    // Contexts and queues.
    cl_context ctx = clCreateContext(nullptr, 1, &s_->device, nullptr, nullptr, &err);
    cl_command_queue q = clCreateCommandQueueWithProperties(ctx, s_->device, nullptr, &err);
    ASSERT_EQ(clReleaseContext(ctx), CL_SUCCESS);
    EXPECT_TRUE(IsWrapper(ctx));  // the queue holds it
    ASSERT_EQ(clReleaseCommandQueue(q), CL_SUCCESS);
    EXPECT_FALSE(IsWrapper(q));
    EXPECT_FALSE(IsWrapper(ctx));
    EXPECT_EQ(Shim().live_count(), baseline);
}

TEST_F(TableTest, SubDevicesAreWrappedAndRecorded) {
    cl_uint max_sub = 0;
    clGetDeviceInfo(s_->device, CL_DEVICE_PARTITION_MAX_SUB_DEVICES, sizeof(max_sub), &max_sub, nullptr);
    if (max_sub < 2) GTEST_SKIP() << "device cannot be partitioned";
    cl_device_partition_property props[] = {CL_DEVICE_PARTITION_EQUALLY, 1, 0};
    cl_uint n = 0;
    ASSERT_EQ(clCreateSubDevices(s_->device, props, 0, nullptr, &n), CL_SUCCESS);
    ASSERT_GE(n, 2u);
    std::vector<cl_device_id> subs(n);
    ASSERT_EQ(clCreateSubDevices(s_->device, props, n, subs.data(), nullptr), CL_SUCCESS);
    const int64_t live = Shim().live_count();
    json d = Describe(subs[1]);
    EXPECT_EQ(d["parent"], Id(s_->device));
    EXPECT_EQ(d["partition"], json::array({CL_DEVICE_PARTITION_EQUALLY, 1, 0}));
    EXPECT_EQ(d["partition_index"], 1);
    cl_device_id parent = nullptr;
    ASSERT_EQ(clGetDeviceInfo(subs[0], CL_DEVICE_PARENT_DEVICE, sizeof(parent), &parent, nullptr), CL_SUCCESS);
    EXPECT_EQ(parent, s_->device);
    // A context on a sub-device works and holds it.
    cl_int err = CL_SUCCESS;
    cl_context ctx = clCreateContext(nullptr, 1, &subs[0], nullptr, nullptr, &err);
    ASSERT_NE(ctx, nullptr) << err;
    for (cl_device_id sd : subs) ASSERT_EQ(clReleaseDevice(sd), CL_SUCCESS);
    EXPECT_TRUE(IsWrapper(subs[0]));
    EXPECT_FALSE(IsWrapper(subs[1]));
    clReleaseContext(ctx);
    EXPECT_FALSE(IsWrapper(subs[0]));
    EXPECT_EQ(Shim().live_count(), live - static_cast<int64_t>(n));
    // Root devices are not reference counted.
    ASSERT_EQ(clReleaseDevice(s_->device), CL_SUCCESS);
    EXPECT_TRUE(IsWrapper(s_->device));
}

TEST_F(TableTest, UnrecordableUseMarksTheProcessNotCapturable) {
    for (const std::string& r : NotCapturable()) EXPECT_EQ(r.find("shared virtual memory"), std::string::npos) << r;
    cl_device_svm_capabilities caps = 0;
    clGetDeviceInfo(s_->device, CL_DEVICE_SVM_CAPABILITIES, sizeof(caps), &caps, nullptr);
    if ((caps & CL_DEVICE_SVM_COARSE_GRAIN_BUFFER) == 0) GTEST_SKIP() << "no SVM";
    void* p = clSVMAlloc(s_->context, CL_MEM_READ_WRITE, 256, 0);
    ASSERT_NE(p, nullptr);
    clSVMFree(s_->context, p);
    bool found = false;
    for (const std::string& r : NotCapturable())
        found |= r.find("shared virtual memory (clSVMAlloc)") != std::string::npos;
    EXPECT_TRUE(found);
}

}  // namespace
}  // namespace gpucr::cl::test
