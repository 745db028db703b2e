// params_test.cpp — parameter packing, the `extra` array, pointer scanning and speculated accesses.
#include "backends/cuda/params.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace gpucr::cuda {
namespace {

void Put64(std::vector<uint8_t>& buffer, size_t offset, uint64_t value) {
    std::memcpy(buffer.data() + offset, &value, sizeof(value));
}

// Two allocations: A = [0x7000'0000'0000, +0x1000) id 10, B = [0x7000'0001'0000, +0x100) id 20.
AddrMap TwoAllocations() {
    AddrMap map;
    EXPECT_TRUE(map.Insert(0x700000000000, 0x1000, 10));
    EXPECT_TRUE(map.Insert(0x700000010000, 0x100, 20));
    return map;
}

TEST(ParamLayout, Total) {
    EXPECT_EQ(ParamLayout{}.Total(), 0u);
    ParamLayout l{.params = {{0, 8}, {8, 40}, {48, 4}}, .known = true};
    EXPECT_EQ(l.Total(), 52u);
}

TEST(PackParams, CopiesEachParamToItsOffset) {
    // (char c, double d, int* p): offsets 0, 8, 16 as the C++ ABI lays them out.
    ParamLayout layout{.params = {{0, 1}, {8, 8}, {16, 8}}, .known = true};
    char c = 'x';
    double d = 2.5;
    uint64_t p = 0x700000000010;
    void* args[] = {&c, &d, &p};
    std::vector<uint8_t> flat = PackParams(layout, args);
    ASSERT_EQ(flat.size(), 24u);
    EXPECT_EQ(flat[0], 'x');
    for (int i = 1; i < 8; ++i) EXPECT_EQ(flat[i], 0) << i;  // padding stays zero
    double d_out;
    std::memcpy(&d_out, flat.data() + 8, 8);
    EXPECT_EQ(d_out, 2.5);
    uint64_t p_out;
    std::memcpy(&p_out, flat.data() + 16, 8);
    EXPECT_EQ(p_out, p);
}

TEST(PackParams, NullArgumentsLeaveZeros) {
    ParamLayout layout{.params = {{0, 8}, {8, 4}}, .known = true};
    EXPECT_EQ(PackParams(layout, nullptr), std::vector<uint8_t>(12, 0));
    int n = 7;
    void* args[] = {nullptr, &n};
    std::vector<uint8_t> flat = PackParams(layout, args);
    EXPECT_EQ(flat[0], 0);
    EXPECT_EQ(flat[8], 7);
}

TEST(ExtraBuffer, ParsesPointerAndSize) {
    uint8_t data[24] = {1, 2, 3};
    size_t size = sizeof(data);
    void* extra[] = {kLaunchParamBufferPointer, data, kLaunchParamBufferSize, &size, kLaunchParamEnd};
    auto buffer = ExtraBuffer(extra);
    ASSERT_TRUE(buffer.has_value());
    EXPECT_EQ(buffer->data(), data);
    EXPECT_EQ(buffer->size(), 24u);

    void* reversed[] = {kLaunchParamBufferSize, &size, kLaunchParamBufferPointer, data, kLaunchParamEnd};
    ASSERT_TRUE(ExtraBuffer(reversed).has_value());
    EXPECT_EQ(ExtraBuffer(reversed)->size(), 24u);

    size_t zero = 0;
    void* empty[] = {kLaunchParamBufferPointer, nullptr, kLaunchParamBufferSize, &zero, kLaunchParamEnd};
    ASSERT_TRUE(ExtraBuffer(empty).has_value());
    EXPECT_TRUE(ExtraBuffer(empty)->empty());
}

TEST(ExtraBuffer, RefusesMalformed) {
    uint8_t data[16] = {};
    size_t size = sizeof(data);
    size_t huge = size_t{1} << 40;
    EXPECT_FALSE(ExtraBuffer(nullptr).has_value());
    void* end_only[] = {kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(end_only).has_value());
    void* no_size[] = {kLaunchParamBufferPointer, data, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(no_size).has_value());
    void* no_pointer[] = {kLaunchParamBufferSize, &size, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(no_pointer).has_value());
    void* null_size[] = {kLaunchParamBufferPointer, data, kLaunchParamBufferSize, nullptr, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(null_size).has_value());
    void* null_data[] = {kLaunchParamBufferPointer, nullptr, kLaunchParamBufferSize, &size, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(null_data).has_value());
    void* too_big[] = {kLaunchParamBufferPointer, data, kLaunchParamBufferSize, &huge, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(too_big).has_value());
    void* unknown_key[] = {reinterpret_cast<void*>(0x03), data, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(unknown_key).has_value());
    void* repeated[] = {kLaunchParamBufferPointer, data, kLaunchParamBufferPointer, data, kLaunchParamEnd};
    EXPECT_FALSE(ExtraBuffer(repeated).has_value());
    // No END after both keys: not read further than the third pair.
    void* unterminated[] = {kLaunchParamBufferPointer, data, kLaunchParamBufferSize, &size,
                            kLaunchParamBufferSize,    &size};
    EXPECT_FALSE(ExtraBuffer(unterminated).has_value());
}

TEST(ScanForPointers, FindsPlainAndStructPointers) {
    // k_struct(TwoPointers{float* a; float* b; int n}, int scale): params {0, 24}, {24, 4}.
    AddrMap map = TwoAllocations();
    ParamLayout layout{.params = {{0, 24}, {24, 4}}, .known = true};
    std::vector<uint8_t> flat(28, 0);
    Put64(flat, 0, 0x700000000040);  // a: inside A
    Put64(flat, 8, 0x7000000100ff);  // b: last byte of B, hidden in the struct
    uint32_t n = 5;
    std::memcpy(flat.data() + 16, &n, 4);
    std::vector<PointerHit> hits = ScanForPointers(flat, layout, map);
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].resource, 10u);
    EXPECT_EQ(hits[0].address, 0x700000000040u);
    EXPECT_EQ(hits[0].param, 0u);
    EXPECT_EQ(hits[0].offset, 0u);
    EXPECT_EQ(hits[1].resource, 20u);
    EXPECT_EQ(hits[1].param, 0u);
    EXPECT_EQ(hits[1].offset, 8u);
}

TEST(ScanForPointers, IgnoresMisalignedPastEndAndPartialWords) {
    AddrMap map = TwoAllocations();
    std::vector<uint8_t> flat(40, 0);
    Put64(flat, 4, 0x700000000000);   // misaligned: not a word the ABI can hold a pointer in
    Put64(flat, 16, 0x700000001000);  // one past A's end
    Put64(flat, 24, 0x700000010100);  // one past B's end
    Put64(flat, 32, 0x6fffffffffff);  // one before A
    ParamLayout whole{.params = {{0, 40}}, .known = true};
    EXPECT_TRUE(ScanForPointers(flat, whole, map).empty());
    ParamLayout unknown;
    EXPECT_TRUE(ScanForPointers(flat, unknown, map).empty());

    // A parameter shorter than a word, or one that only partly covers an aligned word, is not read
    // as a pointer even when the bytes there would make one.
    std::vector<uint8_t> ints(16, 0);
    Put64(ints, 8, 0x700000000010);
    ParamLayout four_bytes{.params = {{0, 4}, {8, 4}, {12, 4}}, .known = true};
    EXPECT_TRUE(ScanForPointers(ints, four_bytes, map).empty());
    ParamLayout one_word{.params = {{0, 4}, {8, 8}}, .known = true};
    ASSERT_EQ(ScanForPointers(ints, one_word, map).size(), 1u);
    EXPECT_EQ(ScanForPointers(ints, one_word, map)[0].param, 1u);
}

TEST(ScanForPointers, UnknownLayoutScansWholeBuffer) {
    AddrMap map = TwoAllocations();
    std::vector<uint8_t> flat(36, 0);  // trailing 4 bytes: no full word there
    Put64(flat, 8, 0x700000010010);
    Put64(flat, 24, 0x700000000000);
    std::vector<PointerHit> hits = ScanForPointers(flat, ParamLayout{}, map);
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].offset, 8u);
    EXPECT_EQ(hits[0].resource, 20u);
    EXPECT_EQ(hits[0].param, kUnknownParam);
    EXPECT_EQ(hits[1].offset, 24u);
    EXPECT_EQ(hits[1].resource, 10u);
}

TEST(ScanForPointers, LayoutLargerThanBufferIsClamped) {
    AddrMap map = TwoAllocations();
    std::vector<uint8_t> flat(8, 0);
    Put64(flat, 0, 0x700000000000);
    ParamLayout layout{.params = {{0, 8}, {8, 8}, {4096, 8}}, .known = true};
    EXPECT_EQ(ScanForPointers(flat, layout, map).size(), 1u);
}

TEST(SpeculateAccesses, OnePerResourceSortedWholeAllocation) {
    AddrMap map = TwoAllocations();
    std::vector<PointerHit> hits = {
        {.resource = 20, .address = 0x700000010000, .param = 0, .offset = 0},
        {.resource = 10, .address = 0x700000000800, .param = 1, .offset = 8},
        {.resource = 20, .address = 0x700000010080, .param = 2, .offset = 16},
        {.resource = 99, .address = 0x123, .param = 3, .offset = 24},  // no longer mapped
    };
    std::vector<dag::Access> accesses = SpeculateAccesses(hits, map);
    ASSERT_EQ(accesses.size(), 2u);
    EXPECT_EQ(accesses[0].resource, 10u);
    EXPECT_EQ(accesses[0].offset, 0u);
    EXPECT_EQ(accesses[0].size, 0x1000u);
    EXPECT_EQ(accesses[0].certainty, dag::Certainty::kSpeculated);
    EXPECT_EQ(accesses[1].resource, 20u);
    EXPECT_EQ(accesses[1].size, 0x100u);
    EXPECT_TRUE(SpeculateAccesses({}, map).empty());
}

TEST(Params, EndToEndFromKernelParams) {
    // k_pointers(const float* in, float* out, int n) launched through kernelParams.
    AddrMap map = TwoAllocations();
    ParamLayout layout{.params = {{0, 8}, {8, 8}, {16, 4}}, .known = true};
    uint64_t in = 0x700000000000, out = 0x700000010000;
    int n = 64;
    void* args[] = {&in, &out, &n};
    std::vector<uint8_t> flat = PackParams(layout, args);
    std::vector<PointerHit> hits = ScanForPointers(flat, layout, map);
    std::vector<dag::Access> accesses = SpeculateAccesses(hits, map);
    ASSERT_EQ(accesses.size(), 2u);
    EXPECT_EQ(accesses[0].resource, 10u);
    EXPECT_EQ(accesses[1].resource, 20u);
}

}  // namespace
}  // namespace gpucr::cuda
