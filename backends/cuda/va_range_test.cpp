#include "backends/cuda/va_range.h"

#include <gtest/gtest.h>

namespace gpucr::cuda {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBase = 0x7f0000000000ull;

TEST(VaRange, PlacesAlignedFirstFit) {
    VaRange va(kBase, 64 * kMiB);
    EXPECT_EQ(va.Allocate(2 * kMiB, 2 * kMiB), kBase);
    EXPECT_EQ(va.Allocate(4 * kMiB, 2 * kMiB), kBase + 2 * kMiB);
    EXPECT_EQ(va.used(), 6 * kMiB);
    EXPECT_EQ(va.Allocate(1, 0), 0u);
    EXPECT_EQ(va.Allocate(1, 3), 0u);
    EXPECT_EQ(va.Allocate(0, 2 * kMiB), 0u);
}

TEST(VaRange, ReusesFreedSpaceAndMerges) {
    VaRange va(kBase, 16 * kMiB);
    uint64_t a = va.Allocate(4 * kMiB, 2 * kMiB);
    uint64_t b = va.Allocate(4 * kMiB, 2 * kMiB);
    uint64_t c = va.Allocate(4 * kMiB, 2 * kMiB);
    ASSERT_NE(c, 0u);
    EXPECT_TRUE(va.Free(a, 4 * kMiB));
    EXPECT_TRUE(va.Free(b, 4 * kMiB));
    EXPECT_EQ(va.free_extents(), 2u);  // [a, c) merged, and the tail
    EXPECT_EQ(va.Allocate(8 * kMiB, 2 * kMiB), a);
    EXPECT_TRUE(va.Free(c, 4 * kMiB));  // merges with the tail
    EXPECT_EQ(va.free_extents(), 1u);
    EXPECT_EQ(va.Allocate(8 * kMiB, 2 * kMiB), c);
    EXPECT_EQ(va.Allocate(2 * kMiB, 2 * kMiB), 0u);
}

TEST(VaRange, RefusesBadFrees) {
    VaRange va(kBase, 16 * kMiB);
    uint64_t a = va.Allocate(4 * kMiB, 2 * kMiB);
    EXPECT_FALSE(va.Free(a + 8 * kMiB, 2 * kMiB));  // free already
    EXPECT_FALSE(va.Free(kBase - 2 * kMiB, 2 * kMiB));  // outside
    EXPECT_FALSE(va.Free(kBase + 14 * kMiB, 4 * kMiB));  // runs past the end
    EXPECT_TRUE(va.Free(a, 4 * kMiB));
    EXPECT_FALSE(va.Free(a, 4 * kMiB));  // twice
    EXPECT_EQ(va.used(), 0u);
    EXPECT_EQ(va.free_extents(), 1u);
}

TEST(VaRange, FullRangeAndExhaustion) {
    VaRange va(kBase, 8 * kMiB);
    EXPECT_EQ(va.Allocate(8 * kMiB, 2 * kMiB), kBase);
    EXPECT_EQ(va.Allocate(2 * kMiB, 2 * kMiB), 0u);
    EXPECT_TRUE(va.Free(kBase, 8 * kMiB));
    EXPECT_EQ(va.Allocate(2 * kMiB, 4 * kMiB), kBase);
    EXPECT_EQ(va.Allocate(2 * kMiB, 4 * kMiB), kBase + 4 * kMiB);  // alignment skips a hole
    EXPECT_EQ(va.Allocate(2 * kMiB, 2 * kMiB), kBase + 2 * kMiB);  // the hole is used later
}

}  // namespace
}  // namespace gpucr::cuda
