#include "examples/reference.h"

#include <gtest/gtest.h>

#include <cstring>

namespace gpucr::examples {
namespace {

TEST(ReferenceLayout, CreationOrderAndSizes) {
    auto stencil = Layout({.kind = ExampleKind::kStencil, .mib = 4});
    ASSERT_TRUE(stencil.ok());
    ASSERT_EQ(stencil->size(), 3u);
    EXPECT_EQ((*stencil)[0].role, "A");
    EXPECT_EQ((*stencil)[0].size, 2 * kMiB);
    EXPECT_EQ((*stencil)[1].role, "B");
    EXPECT_EQ((*stencil)[2].role, "meta");
    EXPECT_EQ((*stencil)[2].size, kMetaBytes);

    auto serving = Layout({.kind = ExampleKind::kServing, .mib = 3});
    ASSERT_TRUE(serving.ok());
    ASSERT_EQ(serving->size(), 4u);
    EXPECT_EQ((*serving)[0].size, 3 * kMiB);
    EXPECT_EQ((*serving)[1].size, kServingActivationBytes);
    EXPECT_EQ((*serving)[2].role, "input");
    EXPECT_TRUE((*serving)[2].host_written);
    EXPECT_EQ((*serving)[3].role, "meta");

    auto manybuf = Layout({.kind = ExampleKind::kManybuf, .mib = 1, .buffers = 7});
    ASSERT_TRUE(manybuf.ok());
    ASSERT_EQ(manybuf->size(), 8u);
    for (int b = 0; b < 7; ++b) {
        EXPECT_EQ((*manybuf)[b].role, "buf" + std::to_string(b));
        EXPECT_EQ((*manybuf)[b].size, 36u * 4096);  // floor(1 MiB / 7) rounded down to 4 KiB
    }
    for (const auto& spec : *manybuf) EXPECT_EQ(spec.size % kBlockBytes, 0u);
}

TEST(ReferenceLayout, RejectsBadParameters) {
    EXPECT_FALSE(Layout({.kind = ExampleKind::kStencil, .mib = 0}).ok());
    EXPECT_FALSE(Layout({.kind = ExampleKind::kManybuf, .mib = 1, .buffers = 1}).ok());
    EXPECT_FALSE(ParseExampleKind("nope").ok());
    EXPECT_EQ(ParseExampleKind("manybuf").value(), ExampleKind::kManybuf);
    EXPECT_EQ(ManybufBufferBytes({.kind = ExampleKind::kManybuf, .mib = 1, .buffers = 1024}), kBlockBytes);
}

TEST(ReferenceSteps, StencilMatchesTheFormula) {
    State state = {std::vector<uint32_t>(8), std::vector<uint32_t>(8), std::vector<uint32_t>(4, 0)};
    for (uint32_t i = 0; i < 8; ++i) state[0][i] = PrngWord(9, i);
    const std::vector<uint32_t> a = state[0];
    auto f = [](const std::vector<uint32_t>& in, size_t i, uint32_t t) {
        const size_t n = in.size();
        return in[(i + n - 1) % n] * 3u + in[i] * 5u + (in[(i + 1) % n] ^ (in[i] >> 3)) + t * 0x9E3779B9u;
    };
    StencilStep(state, 5);
    std::vector<uint32_t> b(8), a2(8);
    for (size_t i = 0; i < 8; ++i) b[i] = f(a, i, 10);
    for (size_t i = 0; i < 8; ++i) a2[i] = f(b, i, 11);
    EXPECT_EQ(state[1], b);
    EXPECT_EQ(state[0], a2);
    EXPECT_EQ(state[2][0], 6u);
}

TEST(ReferenceSteps, MetaCountsGpuSteps) {
    for (ExampleKind kind : {ExampleKind::kStencil, ExampleKind::kServing, ExampleKind::kManybuf}) {
        auto state = ComputeReferenceState({.kind = kind, .mib = 1, .buffers = 8}, 7);
        ASSERT_TRUE(state.ok());
        EXPECT_EQ(state->back()[0], 7u) << ExampleName(kind);
        for (size_t i = 1; i < state->back().size(); ++i) ASSERT_EQ(state->back()[i], 0u);
    }
}

TEST(ReferenceSteps, ManybufUpdatesOnlyItsSubset) {
    const WorkloadParams params{.kind = ExampleKind::kManybuf, .mib = 1, .buffers = 8};
    auto before = ComputeReferenceState(params, 5);
    auto after = ComputeReferenceState(params, 6);  // step 5 updates b with (b + 5) % 4 == 0: 3, 7
    ASSERT_TRUE(before.ok() && after.ok());
    for (uint32_t b = 0; b < 8; ++b) {
        EXPECT_EQ((*before)[b] != (*after)[b], b == 3 || b == 7) << "buffer " << b;
    }
}

TEST(ReferenceSteps, ServingHostStepsOnlyChangeTheInput) {
    const WorkloadParams params{.kind = ExampleKind::kServing, .mib = 1};
    auto same = ComputeReferenceState(params, 4, 4);
    auto ahead = ComputeReferenceState(params, 4, 5);
    ASSERT_TRUE(same.ok() && ahead.ok());
    EXPECT_EQ((*same)[0], (*ahead)[0]);
    EXPECT_EQ((*same)[1], (*ahead)[1]);
    EXPECT_EQ((*same)[3], (*ahead)[3]);
    EXPECT_EQ((*same)[2][0], 4u);
    EXPECT_EQ((*ahead)[2][0], 5u);
    std::vector<uint32_t> input(kServingInputBytes / 4);
    WriteServingInput(4, input);
    EXPECT_EQ((*ahead)[2], input);

    auto fresh = ComputeReferenceState(params, 0, 0);
    ASSERT_TRUE(fresh.ok());
    for (uint32_t w : (*fresh)[2]) ASSERT_EQ(w, 0u);
    EXPECT_FALSE(ComputeReferenceState(params, 4, 6).ok());
    EXPECT_FALSE(ComputeReferenceState(params, 4, 3).ok());
}

TEST(ReferenceChecksum, StreamingEqualsConcatenation) {
    auto state = ComputeReferenceState({.kind = ExampleKind::kStencil, .mib = 1}, 2);
    ASSERT_TRUE(state.ok());
    std::vector<uint32_t> all;
    for (const auto& m : *state) all.insert(all.end(), m.begin(), m.end());
    StateHasher hasher;
    hasher.Update(all.data(), all.size() * 4);
    EXPECT_EQ(hasher.Digest(), StateChecksum(*state));
    auto later = ComputeReferenceState({.kind = ExampleKind::kStencil, .mib = 1}, 3);
    ASSERT_TRUE(later.ok());
    EXPECT_NE(StateChecksum(*state), StateChecksum(*later));
    EXPECT_EQ(ChecksumLine(0x0123456789abcdefull), "checksum: 0123456789abcdef");
}

TEST(ReferenceInit, PrngMatchesFillInitial) {
    BufferSpec spec{"x", 4096, InitKind::kPrng, 42, false};
    std::vector<uint32_t> words(1024);
    FillInitial(spec, words);
    for (uint32_t i = 0; i < 1024; ++i) ASSERT_EQ(words[i], PrngWord(42, i));
}

}  // namespace
}  // namespace gpucr::examples
