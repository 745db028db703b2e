// cl_dag_test.cpp — the kernel DAG of OpenCL enqueues (backends/opencl), through the test shim on
// PoCL: read/write sets of kernels, transfers, maps and sub-buffers, and the Dag's edges.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layers/opencl/test/cl_fixture.h"

namespace gpucr::cl::test {
namespace {

using nlohmann::json;

json DagJson() {
    static auto fn = [] {
        Shim();  // loads the ICDs
        void* h = ::dlopen(GPUCR_TEST_SHIM_PATH, RTLD_NOW | RTLD_NOLOAD);
        return h != nullptr ? reinterpret_cast<int64_t (*)(char*, size_t)>(::dlsym(h, "gpucr_cl_test_dag")) : nullptr;
    }();
    if (fn == nullptr) return nullptr;
    int64_t n = fn(nullptr, 0);
    std::string s(static_cast<size_t>(n) + 1, '\0');
    fn(s.data(), s.size());
    s.resize(static_cast<size_t>(n));
    return json::parse(s);
}

int ForgetArgInfo(cl_kernel k) {
    void* h = ::dlopen(GPUCR_TEST_SHIM_PATH, RTLD_NOW | RTLD_NOLOAD);
    auto fn =
        h != nullptr ? reinterpret_cast<int (*)(const void*)>(::dlsym(h, "gpucr_cl_test_forget_arg_info")) : nullptr;
    return fn != nullptr ? fn(k) : -2;
}

uint64_t Id(const void* handle) { return Describe(handle).value("id", uint64_t{0}); }

// The id of the newest op (0 when none).
uint64_t LastOpId() {
    json ops = DagJson()["dag"]["ops"];
    return ops.empty() ? 0 : ops.back()["id"].get<uint64_t>();
}

// Ops added after op `after`.
std::vector<json> OpsAfter(uint64_t after) {
    std::vector<json> out;
    json dag = DagJson();  // named: a range-for over a temporary's member dangles before C++23
    for (const json& op : dag["dag"]["ops"]) {
        if (op["id"].get<uint64_t>() > after) out.push_back(op);
    }
    return out;
}

json Access(uint64_t resource, uint64_t offset, uint64_t size, const char* certainty) {
    return {{"resource", resource}, {"offset", offset}, {"size", size}, {"certainty", certainty}};
}

bool HasEdge(uint64_t from, uint64_t to, const char* kind) {
    json dag = DagJson();
    for (const json& e : dag["dag"]["edges"]) {
        if (e[0] == from && e[1] == to && e[2] == kind) return true;
    }
    return false;
}

cl_mem Buffer(const ClSetup& s, size_t size, cl_mem_flags flags = CL_MEM_READ_WRITE, void* host = nullptr) {
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(s.context, flags, size, host, &err);
    EXPECT_EQ(err, CL_SUCCESS);
    return m;
}

const char* const kQualifiers = R"(
__kernel void qual(const __global int* a, __global int* b, __constant int* c) {
    size_t i = get_global_id(0);
    b[i] = a[i] + c[0];
}
)";

class ClDag : public ::testing::Test {
protected:
    void SetUp() override {
        if (ShimPlatform() == nullptr) GTEST_SKIP() << "no OpenCL platform through the shim (PoCL missing?)";
        if (DagJson().is_null()) GTEST_SKIP() << "the test shim's gpucr_cl_test_dag export is missing";
        s_ = std::make_unique<ClSetup>(ShimPlatform());
        ASSERT_NE(s_->queue, nullptr);
    }
    // Builds kQualifiers and sets a, b, c (n ints each).
    cl_kernel QualKernel(cl_mem a, cl_mem b, cl_mem c) {
        cl_int err = CL_SUCCESS;
        program_ = Build(*s_, kQualifiers, nullptr, &err);
        EXPECT_EQ(err, CL_SUCCESS);
        cl_kernel k = clCreateKernel(program_, "qual", &err);
        EXPECT_EQ(err, CL_SUCCESS);
        EXPECT_EQ(clSetKernelArg(k, 0, sizeof(cl_mem), &a), CL_SUCCESS);
        EXPECT_EQ(clSetKernelArg(k, 1, sizeof(cl_mem), &b), CL_SUCCESS);
        EXPECT_EQ(clSetKernelArg(k, 2, sizeof(cl_mem), &c), CL_SUCCESS);
        return k;
    }
    void TearDown() override {
        if (program_ != nullptr) clReleaseProgram(program_);
        s_.reset();
    }
    std::unique_ptr<ClSetup> s_;
    cl_program program_ = nullptr;
};

constexpr size_t kN = 64;
constexpr size_t kBytes = kN * sizeof(int32_t);

TEST_F(ClDag, KernelQualifiers) {
    cl_mem a = Buffer(*s_, kBytes), b = Buffer(*s_, kBytes), c = Buffer(*s_, kBytes);
    cl_kernel k = QualKernel(a, b, c);
    uint64_t before = LastOpId();
    size_t global = kN;
    ASSERT_EQ(clEnqueueNDRangeKernel(s_->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 1u);
    const json& op = ops[0];
    EXPECT_EQ(op["kind"], "dispatch");
    EXPECT_EQ(op["label"], "qual");
    EXPECT_EQ(op["queue"], Id(s_->queue));
    // const __global: read (speculated); __global: read and write (speculated); __constant: read, certain.
    EXPECT_EQ(op["reads"], json::array({Access(Id(a), 0, kBytes, "speculated"), Access(Id(b), 0, kBytes, "speculated"),
                                        Access(Id(c), 0, kBytes, "certain")}));
    EXPECT_EQ(op["writes"], json::array({Access(Id(b), 0, kBytes, "speculated")}));
    clReleaseKernel(k);
    for (cl_mem m : {a, b, c}) clReleaseMemObject(m);
}

TEST_F(ClDag, TaskAndSequenceNumbers) {
    cl_mem a = Buffer(*s_, kBytes), b = Buffer(*s_, kBytes), c = Buffer(*s_, kBytes);
    cl_kernel k = QualKernel(a, b, c);
    uint64_t before = LastOpId();
    ASSERT_EQ(clEnqueueTask(s_->queue, k, 0, nullptr, nullptr), CL_SUCCESS);
    int32_t zero = 0;
    ASSERT_EQ(clEnqueueFillBuffer(s_->queue, a, &zero, sizeof(zero), 0, kBytes, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0]["kind"], "dispatch");
    EXPECT_EQ(ops[0]["writes"], json::array({Access(Id(b), 0, kBytes, "speculated")}));
    EXPECT_EQ(ops[1]["queue"], ops[0]["queue"]);
    EXPECT_EQ(ops[1]["seq"].get<uint64_t>(), ops[0]["seq"].get<uint64_t>() + 1);
    clReleaseKernel(k);
    for (cl_mem m : {a, b, c}) clReleaseMemObject(m);
}

TEST_F(ClDag, ArgumentsSnapshotAtEnqueue) {
    cl_mem a = Buffer(*s_, kBytes), b = Buffer(*s_, kBytes), c = Buffer(*s_, kBytes), b2 = Buffer(*s_, kBytes);
    cl_kernel k = QualKernel(a, b, c);
    uint64_t before = LastOpId();
    size_t global = kN;
    ASSERT_EQ(clEnqueueNDRangeKernel(s_->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clSetKernelArg(k, 1, sizeof(cl_mem), &b2), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 1u);
    EXPECT_EQ(ops[0]["writes"], json::array({Access(Id(b), 0, kBytes, "speculated")}));
    ASSERT_EQ(clEnqueueNDRangeKernel(s_->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(ops[0]["writes"], json::array({Access(Id(b), 0, kBytes, "speculated")}));
    EXPECT_EQ(ops[1]["writes"], json::array({Access(Id(b2), 0, kBytes, "speculated")}));
    clReleaseKernel(k);
    for (cl_mem m : {a, b, c, b2}) clReleaseMemObject(m);
}

TEST_F(ClDag, ArgInfoUnavailableIsReadWriteSpeculated) {
    cl_mem a = Buffer(*s_, kBytes), b = Buffer(*s_, kBytes), c = Buffer(*s_, kBytes);
    cl_kernel k = QualKernel(a, b, c);
    ASSERT_EQ(ForgetArgInfo(k), 0);
    uint64_t before = LastOpId();
    size_t global = kN;
    ASSERT_EQ(clEnqueueNDRangeKernel(s_->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 1u);
    json all = json::array();
    for (cl_mem m : {a, b, c}) all.push_back(Access(Id(m), 0, kBytes, "speculated"));
    EXPECT_EQ(ops[0]["reads"], all);
    EXPECT_EQ(ops[0]["writes"], all);
    clReleaseKernel(k);
    for (cl_mem m : {a, b, c}) clReleaseMemObject(m);
}

TEST_F(ClDag, TransferByteRanges) {
    cl_mem x = Buffer(*s_, 1024), y = Buffer(*s_, 1024);
    std::vector<uint8_t> host(1024, 7);
    uint64_t before = LastOpId();
    ASSERT_EQ(clEnqueueWriteBuffer(s_->queue, x, CL_TRUE, 16, 32, host.data(), 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueReadBuffer(s_->queue, x, CL_TRUE, 8, 24, host.data(), 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueCopyBuffer(s_->queue, x, y, 4, 12, 20, 0, nullptr, nullptr), CL_SUCCESS);
    uint32_t pattern = 0xabcd;
    ASSERT_EQ(clEnqueueFillBuffer(s_->queue, y, &pattern, 4, 8, 16, 0, nullptr, nullptr), CL_SUCCESS);
    // A 4x3 rectangle at (2, 1) in rows of 16 bytes: bytes 18 .. 18 + 2*16 + 4.
    size_t origin[3] = {2, 1, 0}, host_origin[3] = {0, 0, 0}, region[3] = {4, 3, 1};
    ASSERT_EQ(clEnqueueWriteBufferRect(s_->queue, x, CL_TRUE, origin, host_origin, region, 16, 0, 0, 0, host.data(), 0,
                                       nullptr, nullptr),
              CL_SUCCESS);
    size_t dst_origin[3] = {0, 0, 1};  // slice 1, slices of 64 bytes
    ASSERT_EQ(clEnqueueCopyBufferRect(s_->queue, x, y, origin, dst_origin, region, 16, 0, 16, 64, 0, nullptr, nullptr),
              CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 6u);
    uint64_t ix = Id(x), iy = Id(y);
    EXPECT_EQ(ops[0]["kind"], "update");
    EXPECT_EQ(ops[0]["writes"], json::array({Access(ix, 16, 32, "certain")}));
    EXPECT_EQ(ops[1]["kind"], "host_read");
    EXPECT_EQ(ops[1]["reads"], json::array({Access(ix, 8, 24, "certain")}));
    EXPECT_EQ(ops[2]["kind"], "copy");
    EXPECT_EQ(ops[2]["reads"], json::array({Access(ix, 4, 20, "certain")}));
    EXPECT_EQ(ops[2]["writes"], json::array({Access(iy, 12, 20, "certain")}));
    EXPECT_EQ(ops[3]["kind"], "fill");
    EXPECT_EQ(ops[3]["writes"], json::array({Access(iy, 8, 16, "certain")}));
    EXPECT_EQ(ops[4]["writes"], json::array({Access(ix, 18, 36, "certain")}));
    EXPECT_EQ(ops[5]["reads"], json::array({Access(ix, 18, 36, "certain")}));
    EXPECT_EQ(ops[5]["writes"], json::array({Access(iy, 64, 36, "certain")}));
    for (cl_mem m : {x, y}) clReleaseMemObject(m);
}

TEST_F(ClDag, SubBufferMapsToParent) {
    cl_uint align_bits = 0;
    ASSERT_EQ(clGetDeviceInfo(s_->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof(align_bits), &align_bits, nullptr),
              CL_SUCCESS);
    size_t origin = align_bits / 8;
    cl_mem parent = Buffer(*s_, origin + 2 * kBytes);
    cl_buffer_region region{origin, kBytes};
    cl_int err = CL_SUCCESS;
    cl_mem sub = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    ASSERT_EQ(err, CL_SUCCESS);
    cl_mem a = Buffer(*s_, kBytes), c = Buffer(*s_, kBytes);
    cl_kernel k = QualKernel(a, sub, c);
    uint64_t before = LastOpId();
    std::vector<uint8_t> host(kBytes);
    ASSERT_EQ(clEnqueueWriteBuffer(s_->queue, sub, CL_TRUE, 8, 16, host.data(), 0, nullptr, nullptr), CL_SUCCESS);
    size_t global = kN;
    ASSERT_EQ(clEnqueueNDRangeKernel(s_->queue, k, 1, nullptr, &global, nullptr, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 2u);
    uint64_t ip = Id(parent);
    EXPECT_EQ(ops[0]["writes"], json::array({Access(ip, origin + 8, 16, "certain")}));
    EXPECT_EQ(ops[1]["writes"], json::array({Access(ip, origin, kBytes, "speculated")}));
    clReleaseKernel(k);
    for (cl_mem m : {sub, parent, a, c}) clReleaseMemObject(m);
}

TEST_F(ClDag, MapForWriteIsHostWriteAtUnmap) {
    cl_mem x = Buffer(*s_, 1024);
    uint64_t before = LastOpId();
    cl_int err = CL_SUCCESS;
    void* p = clEnqueueMapBuffer(s_->queue, x, CL_TRUE, CL_MAP_WRITE, 64, 32, 0, nullptr, nullptr, &err);
    ASSERT_EQ(err, CL_SUCCESS);
    std::memset(p, 1, 32);
    ASSERT_EQ(clEnqueueUnmapMemObject(s_->queue, x, p, 0, nullptr, nullptr), CL_SUCCESS);
    void* r = clEnqueueMapBuffer(s_->queue, x, CL_TRUE, CL_MAP_READ, 0, 128, 0, nullptr, nullptr, &err);
    ASSERT_EQ(err, CL_SUCCESS);
    ASSERT_EQ(clEnqueueUnmapMemObject(s_->queue, x, r, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 4u);
    uint64_t ix = Id(x);
    EXPECT_EQ(ops[0]["label"], "clEnqueueMapBuffer");
    EXPECT_EQ(ops[0]["writes"], json::array());
    EXPECT_EQ(ops[1]["kind"], "host_write");
    EXPECT_EQ(ops[1]["writes"], json::array({Access(ix, 64, 32, "certain")}));
    EXPECT_EQ(ops[2]["reads"], json::array({Access(ix, 0, 128, "certain")}));
    EXPECT_EQ(ops[3]["label"], "clEnqueueUnmapMemObject");
    EXPECT_EQ(ops[3]["writes"], json::array());  // a map for reading writes nothing
    clReleaseMemObject(x);
}

TEST_F(ClDag, RawWarWawEdges) {
    cl_mem x = Buffer(*s_, 256);
    std::vector<uint8_t> host(256);
    uint64_t before = LastOpId();
    ASSERT_EQ(clEnqueueWriteBuffer(s_->queue, x, CL_TRUE, 0, 64, host.data(), 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueReadBuffer(s_->queue, x, CL_TRUE, 0, 64, host.data(), 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clEnqueueWriteBuffer(s_->queue, x, CL_TRUE, 0, 64, host.data(), 0, nullptr, nullptr), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 3u);
    uint64_t w1 = ops[0]["id"], r = ops[1]["id"], w2 = ops[2]["id"];
    EXPECT_TRUE(HasEdge(w1, r, "raw"));
    EXPECT_TRUE(HasEdge(r, w2, "war"));
    EXPECT_TRUE(HasEdge(w1, w2, "waw"));
    clReleaseMemObject(x);
}

TEST_F(ClDag, MarkersBarriersAndWaitLists) {
    cl_mem x = Buffer(*s_, 256);
    std::vector<uint8_t> host(256);
    uint64_t before = LastOpId();
    cl_event written = nullptr, marker = nullptr;
    ASSERT_EQ(clEnqueueWriteBuffer(s_->queue, x, CL_FALSE, 0, 64, host.data(), 0, nullptr, &written), CL_SUCCESS);
    ASSERT_EQ(clEnqueueMarkerWithWaitList(s_->queue, 1, &written, &marker), CL_SUCCESS);
    ASSERT_EQ(clEnqueueBarrierWithWaitList(s_->queue, 1, &marker, nullptr), CL_SUCCESS);
    ASSERT_EQ(
        clEnqueueMigrateMemObjects(s_->queue, 1, &x, CL_MIGRATE_MEM_OBJECT_CONTENT_UNDEFINED, 0, nullptr, nullptr),
        CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 4u);
    for (size_t i = 1; i < 4; ++i) {
        EXPECT_EQ(ops[i]["kind"], "other");
        EXPECT_EQ(ops[i]["reads"], json::array());
        EXPECT_EQ(ops[i]["writes"], json::array());
    }
    EXPECT_EQ(ops[1]["label"], "clEnqueueMarkerWithWaitList");
    EXPECT_EQ(ops[2]["label"], "clEnqueueBarrierWithWaitList");
    EXPECT_EQ(ops[3]["label"], "clEnqueueMigrateMemObjects");
    // The ordering the Dag has no edges for: which event each op signals and waits on.
    std::map<uint64_t, json> enqueues;
    json dag = DagJson();
    for (const json& e : dag["enqueues"]) enqueues[e["op"].get<uint64_t>()] = e;
    EXPECT_EQ(enqueues[ops[0]["id"]]["event"], Id(written));
    EXPECT_EQ(enqueues[ops[1]["id"]]["event"], Id(marker));
    EXPECT_EQ(enqueues[ops[1]["id"]]["waits"], json::array({Id(written)}));
    EXPECT_EQ(enqueues[ops[2]["id"]]["waits"], json::array({Id(marker)}));
    clReleaseEvent(written);
    clReleaseEvent(marker);
    clReleaseMemObject(x);
}

TEST_F(ClDag, ImagesAreWholeObjects) {
    cl_bool images = CL_FALSE;
    clGetDeviceInfo(s_->device, CL_DEVICE_IMAGE_SUPPORT, sizeof(images), &images, nullptr);
    if (!images) GTEST_SKIP() << "the device has no image support";
    cl_image_format format{CL_RGBA, CL_UNSIGNED_INT8};
    cl_image_desc desc{};
    desc.image_type = CL_MEM_OBJECT_IMAGE2D;
    desc.image_width = 8;
    desc.image_height = 4;
    cl_int err = CL_SUCCESS;
    cl_mem image = clCreateImage(s_->context, CL_MEM_READ_WRITE, &format, &desc, nullptr, &err);
    ASSERT_EQ(err, CL_SUCCESS);
    size_t image_bytes = 0;
    ASSERT_EQ(clGetMemObjectInfo(image, CL_MEM_SIZE, sizeof(image_bytes), &image_bytes, nullptr), CL_SUCCESS);
    cl_mem x = Buffer(*s_, 1024);
    std::vector<uint8_t> host(8 * 4 * 4);
    uint64_t before = LastOpId();
    size_t origin[3] = {0, 0, 0}, region[3] = {2, 2, 1};
    ASSERT_EQ(clEnqueueWriteImage(s_->queue, image, CL_TRUE, origin, region, 0, 0, host.data(), 0, nullptr, nullptr),
              CL_SUCCESS);
    ASSERT_EQ(clEnqueueCopyImageToBuffer(s_->queue, image, x, origin, region, 100, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    auto ops = OpsAfter(before);
    ASSERT_EQ(ops.size(), 2u);
    uint64_t ii = Id(image);
    EXPECT_EQ(ops[0]["writes"], json::array({Access(ii, 0, image_bytes, "certain")}));
    EXPECT_EQ(ops[1]["reads"], json::array({Access(ii, 0, image_bytes, "certain")}));
    EXPECT_EQ(ops[1]["writes"], json::array({Access(Id(x), 100, 2 * 2 * 4, "certain")}));  // 4 RGBA8 texels
    clReleaseMemObject(x);
    clReleaseMemObject(image);
}

TEST_F(ClDag, UseHostPtrIsHostBacked) {
    std::vector<uint8_t> backing(256);
    cl_mem x = Buffer(*s_, backing.size(), CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, backing.data());
    cl_mem y = Buffer(*s_, 256);
    ASSERT_EQ(clEnqueueCopyBuffer(s_->queue, x, y, 0, 0, 64, 0, nullptr, nullptr), CL_SUCCESS);
    ASSERT_EQ(clFinish(s_->queue), CL_SUCCESS);
    json hb = DagJson()["host_backed"];
    EXPECT_NE(std::find(hb.begin(), hb.end(), json(Id(x))), hb.end()) << hb;
    EXPECT_EQ(std::find(hb.begin(), hb.end(), json(Id(y))), hb.end()) << hb;
    for (cl_mem m : {x, y}) clReleaseMemObject(m);
}

}  // namespace
}  // namespace gpucr::cl::test
