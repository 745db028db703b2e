// addr_map_test.cpp — the allocation interval map: insertion, overlap refusal, lookup, erase.
#include "backends/cuda/addr_map.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace gpucr::cuda {
namespace {

TEST(AddrMap, InsertFindErase) {
    AddrMap map;
    ASSERT_TRUE(map.Insert(0x1000, 0x100, 1));
    ASSERT_TRUE(map.Insert(0x2000, 0x10, 2));
    EXPECT_EQ(map.size(), 2u);
    EXPECT_EQ(map.bytes(), 0x110u);

    EXPECT_EQ(map.Find(0xfff), nullptr);
    ASSERT_NE(map.Find(0x1000), nullptr);
    EXPECT_EQ(map.Find(0x1000)->id, 1u);
    EXPECT_EQ(map.Find(0x10ff)->id, 1u);
    EXPECT_EQ(map.Find(0x1100), nullptr);  // one past the end
    EXPECT_EQ(map.Find(0x200f)->id, 2u);
    EXPECT_EQ(map.Find(0x2010), nullptr);
    EXPECT_EQ(map.Find(UINT64_MAX), nullptr);

    EXPECT_EQ(map.FindExact(0x1001), nullptr);
    ASSERT_NE(map.FindExact(0x2000), nullptr);
    EXPECT_EQ(map.FindExact(0x2000)->size, 0x10u);

    EXPECT_FALSE(map.Erase(0x1001).has_value());
    std::optional<Allocation> gone = map.Erase(0x1000);
    ASSERT_TRUE(gone.has_value());
    EXPECT_EQ(gone->id, 1u);
    EXPECT_EQ(gone->size, 0x100u);
    EXPECT_EQ(map.Find(0x1000), nullptr);
    EXPECT_EQ(map.size(), 1u);
    EXPECT_EQ(map.bytes(), 0x10u);
}

TEST(AddrMap, RefusesOverlapsAndEmpty) {
    AddrMap map;
    ASSERT_TRUE(map.Insert(0x1000, 0x100, 1));
    EXPECT_FALSE(map.Insert(0x1000, 0x100, 2));           // same range
    EXPECT_FALSE(map.Insert(0x10ff, 0x10, 2));            // starts inside
    EXPECT_FALSE(map.Insert(0xf00, 0x101, 2));            // ends inside
    EXPECT_FALSE(map.Insert(0xf00, 0x1000, 2));           // covers it
    EXPECT_FALSE(map.Insert(0x1010, 0x10, 2));            // inside it
    EXPECT_FALSE(map.Insert(0x3000, 0, 2));               // empty
    EXPECT_FALSE(map.Insert(UINT64_MAX - 0xf, 0x20, 2));  // wraps
    EXPECT_TRUE(map.Insert(0xf00, 0x100, 3));             // adjacent below
    EXPECT_TRUE(map.Insert(0x1100, 0x100, 4));            // adjacent above
    EXPECT_FALSE(map.Insert(UINT64_MAX - 0xf, 0x10, 5));  // ends at 2^64: not representable
    EXPECT_TRUE(map.Insert(UINT64_MAX - 0x10, 0x10, 5));  // ends at the last address
    EXPECT_EQ(map.Find(UINT64_MAX - 1)->id, 5u);
    EXPECT_EQ(map.Find(UINT64_MAX), nullptr);
    EXPECT_EQ(map.size(), 4u);
    EXPECT_EQ(map.Find(0x10ff)->id, 1u);
    EXPECT_EQ(map.Find(0x1100)->id, 4u);
}

TEST(AddrMap, AllIsSortedByBase) {
    AddrMap map;
    ASSERT_TRUE(map.Insert(0x5000, 8, 5));
    ASSERT_TRUE(map.Insert(0x1000, 8, 1));
    ASSERT_TRUE(map.Insert(0x3000, 8, 3));
    std::vector<Allocation> all = map.All();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].base, 0x1000u);
    EXPECT_EQ(all[1].base, 0x3000u);
    EXPECT_EQ(all[2].base, 0x5000u);
    EXPECT_EQ(all[2].id, 5u);
}

TEST(AddrMap, ReinsertAfterErase) {
    AddrMap map;
    ASSERT_TRUE(map.Insert(0x1000, 0x100, 1));
    ASSERT_TRUE(map.Erase(0x1000).has_value());
    EXPECT_TRUE(map.Insert(0x1080, 0x100, 2));
    EXPECT_EQ(map.Find(0x1000), nullptr);
    EXPECT_EQ(map.Find(0x1080)->id, 2u);
}

}  // namespace
}  // namespace gpucr::cuda
