// cubin_info_test.cpp — parameter layouts from cubins and fatbins that nvcc built from
// test_kernels/params.cu (meson passes their directory in GPUCR_CUDA_TEST_IMAGES), checked
// against the C++ ABI layout of each signature; and damaged images, which must give errors.
#include "backends/cuda/cubin_info.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace gpucr::cuda {
namespace {

using Layouts = std::map<std::string, ParamLayout>;
using P = ParamLayout::Param;

std::vector<uint8_t> ReadImage(const std::string& name) {
    const char* dir = std::getenv("GPUCR_CUDA_TEST_IMAGES");
    if (dir == nullptr) return {};
    std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Skips the test when meson did not build the images (no nvcc), fails when one is missing.
#define GPUCR_LOAD_IMAGE(var, name)                                                                         \
    if (std::getenv("GPUCR_CUDA_TEST_IMAGES") == nullptr) GTEST_SKIP() << "GPUCR_CUDA_TEST_IMAGES not set"; \
    std::vector<uint8_t> var = ReadImage(name);                                                             \
    ASSERT_FALSE(var.empty()) << "cannot read " << (name)

std::vector<std::pair<uint32_t, uint32_t>> Pairs(const ParamLayout& l) {
    std::vector<std::pair<uint32_t, uint32_t>> out;
    for (const P& p : l.params) out.emplace_back(p.offset, p.size);
    return out;
}

// What the C++ ABI gives the signatures in params.cu.
std::map<std::string, std::vector<std::pair<uint32_t, uint32_t>>> Expected() {
    std::vector<std::pair<uint32_t, uint32_t>> many;
    for (uint32_t i = 0; i < 20; ++i) many.emplace_back(8 * i, 8);
    many.emplace_back(160, 4);
    return {
        {"k_pointers", {{0, 8}, {8, 8}, {16, 4}}},
        {"k_struct", {{0, 24}, {24, 4}}},
        {"k_forty", {{0, 4}, {8, 40}, {48, 4}}},
        {"k_char_double", {{0, 1}, {8, 8}, {16, 8}}},
        {"k_empty", {}},
        {"_Z10k_templateIfEvPT_sS0_", {{0, 8}, {8, 2}, {12, 4}}},
        {"k_many", many},
    };
}

void ExpectParamsCuLayouts(const Result<Layouts>& layouts) {
    ASSERT_TRUE(layouts.ok()) << layouts.status().message();
    auto expected = Expected();
    ASSERT_EQ(layouts->size(), expected.size());
    for (const auto& [kernel, params] : expected) {
        auto it = layouts->find(kernel);
        ASSERT_NE(it, layouts->end()) << kernel;
        EXPECT_TRUE(it->second.known) << kernel;
        EXPECT_EQ(Pairs(it->second), params) << kernel;
    }
}

TEST(ParseCubinParams, LayoutsMatchTheAbi) {
    GPUCR_LOAD_IMAGE(cubin, "params_sm90.cubin");
    Result<Layouts> layouts = ParseCubinParams(cubin);
    ExpectParamsCuLayouts(layouts);
    ASSERT_TRUE(layouts.ok());
    EXPECT_EQ(layouts->at("k_many").Total(), 164u);
    EXPECT_EQ(layouts->at("k_empty").Total(), 0u);
}

TEST(ParseCubinParams, TruncationsGiveErrorsNotCrashes) {
    GPUCR_LOAD_IMAGE(cubin, "params_sm90.cubin");
    Result<Layouts> full = ParseCubinParams(cubin);
    ASSERT_TRUE(full.ok());
    size_t errors = 0;
    for (size_t n = 0; n < cubin.size(); ++n) {
        // A copy of exactly n bytes, so that a read past the prefix is a read past the allocation.
        std::vector<uint8_t> prefix(cubin.begin(), cubin.begin() + n);
        Result<Layouts> r = ParseCubinParams(prefix);
        if (r.ok()) {
            // Only the trailing program headers, which the parser does not need, may be cut.
            EXPECT_EQ(r->size(), full->size()) << n;
        } else {
            ++errors;
            EXPECT_FALSE(r.status().message().empty());
        }
    }
    EXPECT_GT(errors, cubin.size() / 2);
}

TEST(ParseCubinParams, CorruptionsGiveErrorsNotCrashes) {
    GPUCR_LOAD_IMAGE(cubin, "params_sm90.cubin");
    // Most flips aim at the metadata: the ELF header, the section headers, and the .nv.info sections.
    uint64_t shoff = 0;
    std::memcpy(&shoff, cubin.data() + 0x28, sizeof(shoff));
    ASSERT_LT(shoff, cubin.size());
    const uint8_t kKparam[] = {0x04, 0x17, 0x0c, 0x00};
    size_t nv_info = std::search(cubin.begin(), cubin.end(), std::begin(kKparam), std::end(kKparam)) - cubin.begin();
    ASSERT_LT(nv_info, cubin.size());
    std::mt19937 rng(1234);
    auto position = [&](int round) -> size_t {
        switch (round % 4) {
            case 0:
                return rng() % 64;
            case 1:
                return shoff + rng() % (cubin.size() - shoff);
            case 2:
                return nv_info + rng() % std::min<size_t>(1024, cubin.size() - nv_info);
            default:
                return rng() % cubin.size();
        }
    };
    size_t errors = 0;
    for (int round = 0; round < 8000; ++round) {
        std::vector<uint8_t> bad = cubin;
        for (int flips = 0; flips < 1 + round % 3; ++flips) bad[position(round)] = static_cast<uint8_t>(rng());
        Result<Layouts> r = ParseCubinParams(bad);
        if (!r.ok()) {
            ++errors;
            EXPECT_FALSE(r.status().message().empty());
        }
    }
    EXPECT_GT(errors, 0u);
}

TEST(ParseCubinParams, NamesTheDefect) {
    GPUCR_LOAD_IMAGE(cubin, "params_sm90.cubin");
    std::vector<uint8_t> not_elf = cubin;
    not_elf[1] = 'X';
    EXPECT_EQ(ParseCubinParams(not_elf).status().code(), Code::kInvalidArgument);

    std::vector<uint8_t> far_sections = cubin;
    far_sections[0x2f] = 0x7f;  // e_shoff's top byte
    Result<Layouts> r = ParseCubinParams(far_sections);
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_NE(r.status().message().find("section headers"), std::string::npos) << r.status().message();

    // The first KPARAM_INFO (k_many's ordinal 20, first in its section) renumbered to 19: repeated.
    const uint8_t kKparam[] = {0x04, 0x17, 0x0c, 0x00};
    auto at = std::search(cubin.begin(), cubin.end(), std::begin(kKparam), std::end(kKparam));
    ASSERT_NE(at, cubin.end());
    std::vector<uint8_t> repeated = cubin;
    size_t ordinal = (at - cubin.begin()) + 4 + 4;
    ASSERT_EQ(repeated[ordinal], 20);
    repeated[ordinal] = 19;
    r = ParseCubinParams(repeated);
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_NE(r.status().message().find("k_many"), std::string::npos) << r.status().message();

    std::vector<uint8_t> bad_format = cubin;
    bad_format[at - cubin.begin()] = 0x07;
    r = ParseCubinParams(bad_format);
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_NE(r.status().message().find("format"), std::string::npos) << r.status().message();
}

TEST(ParseFatbin, Entries) {
    GPUCR_LOAD_IMAGE(fatbin, "params_multi.fatbin");
    Result<std::vector<FatbinEntry>> entries = ParseFatbin(fatbin);
    ASSERT_TRUE(entries.ok()) << entries.status().message();
    ASSERT_EQ(entries->size(), 3u);
    EXPECT_EQ((*entries)[0].kind, kFatbinKindElf);
    EXPECT_EQ((*entries)[0].sm_arch, 80u);
    EXPECT_EQ((*entries)[1].kind, kFatbinKindElf);
    EXPECT_EQ((*entries)[1].sm_arch, 90u);
    EXPECT_EQ((*entries)[2].kind, kFatbinKindPtx);
    EXPECT_EQ((*entries)[2].sm_arch, 90u);
    for (const FatbinEntry& e : *entries) EXPECT_FALSE(e.compressed);
    ExpectParamsCuLayouts(ParseCubinParams((*entries)[1].payload));
    ExpectParamsCuLayouts(ParseCubinParams((*entries)[0].payload));
    std::string ptx((*entries)[2].payload.begin(), (*entries)[2].payload.end());
    EXPECT_NE(ptx.find(".entry k_pointers"), std::string::npos);

    Result<size_t> size = ModuleImageSize(fatbin.data());
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, fatbin.size());
}

TEST(ParseFatbin, CompressedEntries) {
    GPUCR_LOAD_IMAGE(zstd, "params_zstd.fatbin");
    Result<std::vector<FatbinEntry>> entries = ParseFatbin(zstd);
    ASSERT_TRUE(entries.ok()) << entries.status().message();
    ASSERT_EQ(entries->size(), 3u);
    for (const FatbinEntry& e : *entries) {
        EXPECT_TRUE(e.compressed);
        EXPECT_TRUE(e.flags & kFatbinFlagZstd);
        EXPECT_GT(e.decompressed_size, e.payload.size());
    }
    GPUCR_LOAD_IMAGE(lz4, "params_lz4.fatbin");
    entries = ParseFatbin(lz4);
    ASSERT_TRUE(entries.ok()) << entries.status().message();
    ASSERT_FALSE(entries->empty());
    EXPECT_EQ((*entries)[0].kind, kFatbinKindElf);
    EXPECT_TRUE((*entries)[0].compressed);
    EXPECT_TRUE((*entries)[0].flags & kFatbinFlagLz4);
}

TEST(ParseFatbin, TruncationsGiveErrors) {
    GPUCR_LOAD_IMAGE(fatbin, "params_multi.fatbin");
    for (size_t n = 0; n < fatbin.size(); ++n) {
        std::vector<uint8_t> prefix(fatbin.begin(), fatbin.begin() + n);
        Result<std::vector<FatbinEntry>> r = ParseFatbin(prefix);
        EXPECT_FALSE(r.ok()) << n;
        EXPECT_FALSE(ParseModuleImageParams(prefix, 90).ok()) << n;
    }
}

TEST(ParseFatbin, CorruptionsGiveErrorsNotCrashes) {
    for (const char* name : {"params_multi.fatbin", "params_zstd.fatbin", "params_lz4.fatbin"}) {
        GPUCR_LOAD_IMAGE(fatbin, name);
        Result<std::vector<FatbinEntry>> entries = ParseFatbin(fatbin);
        ASSERT_TRUE(entries.ok());
        // The container header and every entry header (64 bytes before its payload).
        std::vector<size_t> headers = {0};
        for (const FatbinEntry& e : *entries) headers.push_back(e.payload.data() - fatbin.data() - 64);
        std::mt19937 rng(7);
        for (int round = 0; round < 3000; ++round) {
            std::vector<uint8_t> bad = fatbin;
            size_t at = headers[rng() % headers.size()] + rng() % 80;
            bad[std::min(at, bad.size() - 1)] = static_cast<uint8_t>(rng());
            Result<Layouts> r = ParseModuleImageParams(bad, 90);
            if (!r.ok()) {
                EXPECT_FALSE(r.status().message().empty()) << name;
            }
        }
    }
}

TEST(ParseModuleImageParams, PicksTheArchitecture) {
    GPUCR_LOAD_IMAGE(cubin, "params_sm90.cubin");
    GPUCR_LOAD_IMAGE(fatbin, "params_multi.fatbin");
    ExpectParamsCuLayouts(ParseModuleImageParams(cubin, 90));
    ExpectParamsCuLayouts(ParseModuleImageParams(fatbin, 90));
    ExpectParamsCuLayouts(ParseModuleImageParams(fatbin, 86));   // the sm_80 cubin
    ExpectParamsCuLayouts(ParseModuleImageParams(fatbin, 120));  // the sm_90 cubin
    EXPECT_EQ(ParseModuleImageParams(fatbin, 75).status().code(), Code::kUnsupported);

    Result<size_t> size = ModuleImageSize(cubin.data());
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, cubin.size());
}

TEST(ParseModuleImageParams, DecompressesZstdAndLz4) {
    GPUCR_LOAD_IMAGE(zstd, "params_zstd.fatbin");
    GPUCR_LOAD_IMAGE(lz4, "params_lz4.fatbin");
    ExpectParamsCuLayouts(ParseModuleImageParams(zstd, 90));
    ExpectParamsCuLayouts(ParseModuleImageParams(zstd, 80));
    ExpectParamsCuLayouts(ParseModuleImageParams(lz4, 90));

    // Damaged compressed payloads: an error, never a crash.
    for (std::vector<uint8_t>* image : {&zstd, &lz4}) {
        Result<std::vector<FatbinEntry>> entries = ParseFatbin(*image);
        ASSERT_TRUE(entries.ok());
        size_t start = (*entries)[0].payload.data() - image->data();
        std::mt19937 rng(99);
        for (int round = 0; round < 200; ++round) {
            std::vector<uint8_t> bad = *image;
            bad[start + rng() % (*entries)[0].payload.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            Result<Layouts> r = ParseModuleImageParams(bad, 90);
            if (!r.ok()) {
                EXPECT_FALSE(r.status().message().empty());
            }
        }
    }
}

TEST(ParseModuleImageParams, PtxOnlyIsUnsupported) {
    GPUCR_LOAD_IMAGE(ptx_fatbin, "params_ptx.fatbin");
    Result<Layouts> r = ParseModuleImageParams(ptx_fatbin, 90);
    EXPECT_EQ(r.status().code(), Code::kUnsupported) << r.status().message();

    const char ptx[] = "//\n// Generated by NVIDIA NVVM Compiler\n.version 9.0\n.target sm_90\n";
    auto text = std::span(reinterpret_cast<const uint8_t*>(ptx), sizeof(ptx));
    EXPECT_EQ(ParseModuleImageParams(text, 90).status().code(), Code::kUnsupported);
    Result<size_t> size = ModuleImageSize(ptx);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, sizeof(ptx));
}

}  // namespace
}  // namespace gpucr::cuda
