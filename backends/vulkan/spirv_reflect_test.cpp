// spirv_reflect_test.cpp — reflection of GLSL compute shaders compiled at build time by glslang,
// of small hand-assembled modules (several entry points, pointer parameters), and of malformed input.
#include "backends/vulkan/spirv_reflect.h"

#include <gtest/gtest.h>
#include <spirv/unified1/spirv.hpp>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "access_comp.h"
#include "atomics_comp.h"
#include "buffer_block_comp.h"
#include "buffer_reference_comp.h"
#include "images_comp.h"
#include "push_constants_comp.h"

namespace gpucr::vk {
namespace {

using Kind = ShaderBinding::Kind;

template <size_t N>
ShaderInterface Reflect(const uint32_t (&words)[N]) {
    Result<ShaderInterface> r = ReflectEntryPoint(words, N, "main");
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r.value() : ShaderInterface{};
}

std::optional<ShaderBinding> Find(const ShaderInterface& iface, uint32_t set, uint32_t binding) {
    for (const ShaderBinding& b : iface.bindings) {
        if (b.set == set && b.binding == binding) return b;
    }
    return std::nullopt;
}

// Checks one binding: kind, access and descriptor count.
void ExpectBinding(const ShaderInterface& iface, uint32_t set, uint32_t binding, Kind kind, bool reads, bool writes,
                   uint32_t array_size = 1) {
    SCOPED_TRACE(testing::Message() << "set " << set << " binding " << binding);
    std::optional<ShaderBinding> b = Find(iface, set, binding);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(std::string_view(ShaderBindingKindName(b->kind)), std::string_view(ShaderBindingKindName(kind)));
    EXPECT_EQ(b->reads, reads);
    EXPECT_EQ(b->writes, writes);
    EXPECT_EQ(b->array_size, array_size);
}

TEST(SpirvReflectTest, BufferAccessFromQualifiersAndUse) {
    ShaderInterface iface = Reflect(kAccessSpv);
    EXPECT_EQ(iface.entry_point, "main");
    EXPECT_EQ(iface.execution_model, uint32_t{spv::ExecutionModelGLCompute});
    ExpectBinding(iface, 0, 0, Kind::kStorageBuffer, true, false);  // readonly
    ExpectBinding(iface, 0, 1, Kind::kStorageBuffer, false, true);  // writeonly
    ExpectBinding(iface, 0, 2, Kind::kStorageBuffer, true, false);  // only loaded
    ExpectBinding(iface, 0, 3, Kind::kStorageBuffer, true, true);
    EXPECT_FALSE(Find(iface, 0, 4).has_value());  // declared, never used
    ExpectBinding(iface, 0, 5, Kind::kStorageBuffer, true, false);
    ExpectBinding(iface, 0, 6, Kind::kStorageBuffer, false, true, 4);
    ExpectBinding(iface, 0, 7, Kind::kStorageBuffer, true, false, 0);  // runtime descriptor array
    ExpectBinding(iface, 1, 0, Kind::kUniformBuffer, true, false);
    ExpectBinding(iface, 1, 1, Kind::kStorageBuffer, false, true);  // written in a called function
    EXPECT_EQ(iface.bindings.size(), 9u);
    EXPECT_EQ(iface.push_constant_size, 0u);
    EXPECT_FALSE(iface.uses_physical_pointers);
    EXPECT_FALSE(iface.uses_atomics);
    for (size_t i = 1; i < iface.bindings.size(); ++i) {
        const ShaderBinding& a = iface.bindings[i - 1];
        const ShaderBinding& b = iface.bindings[i];
        EXPECT_TRUE(a.set < b.set || (a.set == b.set && a.binding < b.binding));
    }
}

TEST(SpirvReflectTest, Atomics) {
    ShaderInterface iface = Reflect(kAtomicsSpv);
    EXPECT_TRUE(iface.uses_atomics);
    ExpectBinding(iface, 0, 0, Kind::kStorageBuffer, true, true);
    ExpectBinding(iface, 0, 1, Kind::kStorageImage, true, true);  // imageAtomicAdd via OpImageTexelPointer
}

TEST(SpirvReflectTest, Images) {
    ShaderInterface iface = Reflect(kImagesSpv);
    ExpectBinding(iface, 0, 0, Kind::kStorageImage, true, false);
    ExpectBinding(iface, 0, 1, Kind::kStorageImage, false, true);
    ExpectBinding(iface, 0, 2, Kind::kStorageImage, true, true);
    ExpectBinding(iface, 0, 3, Kind::kStorageImage, true, false);  // only imageLoad
    ExpectBinding(iface, 0, 4, Kind::kStorageImage, false, true);  // imageStore through a parameter
    ExpectBinding(iface, 0, 5, Kind::kCombinedImageSampler, true, false);
    ExpectBinding(iface, 0, 6, Kind::kUniformTexelBuffer, true, false);
    ExpectBinding(iface, 0, 7, Kind::kStorageTexelBuffer, true, false);
    ExpectBinding(iface, 0, 8, Kind::kSampledImage, true, false);
    ExpectBinding(iface, 0, 9, Kind::kSampler, true, false);
    EXPECT_FALSE(Find(iface, 0, 10).has_value());
    EXPECT_FALSE(iface.uses_atomics);
}

TEST(SpirvReflectTest, PushConstantSize) {
    ShaderInterface iface = Reflect(kPushConstantsSpv);
    EXPECT_EQ(iface.push_constant_size, 104u);
    ExpectBinding(iface, 0, 0, Kind::kStorageBuffer, false, true);
}

TEST(SpirvReflectTest, BufferBlockForm) {
    ShaderInterface iface = Reflect(kBufferBlockSpv);
    EXPECT_EQ(kBufferBlockSpv[1], 0x00010000u);  // SPIR-V 1.0
    ExpectBinding(iface, 0, 0, Kind::kStorageBuffer, true, false, 1);
    ExpectBinding(iface, 0, 1, Kind::kStorageBuffer, false, true);
    ExpectBinding(iface, 0, 2, Kind::kStorageBuffer, true, false);
    ExpectBinding(iface, 0, 3, Kind::kStorageBuffer, true, true);
    ExpectBinding(iface, 0, 4, Kind::kUniformBuffer, true, false);
}

TEST(SpirvReflectTest, BufferReferenceUsesPhysicalPointers) {
    ShaderInterface iface = Reflect(kBufferReferenceSpv);
    EXPECT_TRUE(iface.uses_physical_pointers);
    EXPECT_EQ(iface.push_constant_size, 12u);  // 8-byte address + uint
    EXPECT_TRUE(iface.bindings.empty());
}

TEST(SpirvReflectTest, EntryPointLookup) {
    Result<std::vector<ShaderInterface>> all = ReflectSpirv(kAccessSpv, std::size(kAccessSpv));
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 1u);
    Result<ShaderInterface> missing = ReflectEntryPoint(kAccessSpv, std::size(kAccessSpv), "nope");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST(SpirvReflectTest, BigEndianModule) {
    std::vector<uint32_t> swapped(std::begin(kImagesSpv), std::end(kImagesSpv));
    for (uint32_t& w : swapped) w = __builtin_bswap32(w);
    Result<ShaderInterface> r = ReflectEntryPoint(swapped.data(), swapped.size(), "main");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->bindings.size(), Reflect(kImagesSpv).bindings.size());
}

// A tiny assembler for modules glslang cannot produce (several entry points, pointer parameters).
class Asm {
public:
    explicit Asm(uint32_t bound) : words_{spv::MagicNumber, 0x00010300, 0, bound, 0} {}
    Asm& Op(spv::Op op, std::initializer_list<uint32_t> operands) {
        words_.push_back(static_cast<uint32_t>(operands.size() + 1) << 16 | op);
        words_.insert(words_.end(), operands);
        return *this;
    }
    Asm& EntryPoint(uint32_t function, std::string_view name) {
        std::vector<uint32_t> text((name.size() + 4) / 4, 0);
        memcpy(text.data(), name.data(), name.size());
        words_.push_back(static_cast<uint32_t>(3 + text.size()) << 16 | spv::OpEntryPoint);
        words_.push_back(spv::ExecutionModelGLCompute);
        words_.push_back(function);
        words_.insert(words_.end(), text.begin(), text.end());
        return *this;
    }
    const std::vector<uint32_t>& words() const { return words_; }

private:
    std::vector<uint32_t> words_;
};

enum Id : uint32_t {
    kVoid = 1, kFnType, kUint, kStruct, kPtrStruct, kPtrUint, kVarA, kVarB, kZero, kFirst, kSecond,
    kHelper, kStoreThrough, kParamFnType, kParam, kChain1, kChain2, kLoaded, kChain3, kChain4, kCall1,
    kCall2, kLabel1, kLabel2, kLabel3, kLabel4, kBound
};

// first: reads A, calls Helper (writes B). second: passes a pointer into A to StoreThrough.
Asm TwoEntryPoints() {
    Asm a(kBound);
    a.Op(spv::OpCapability, {spv::CapabilityShader})
        .Op(spv::OpMemoryModel, {spv::AddressingModelLogical, spv::MemoryModelGLSL450})
        .EntryPoint(kFirst, "first")
        .EntryPoint(kSecond, "second")
        .Op(spv::OpDecorate, {kVarA, spv::DecorationDescriptorSet, 0})
        .Op(spv::OpDecorate, {kVarA, spv::DecorationBinding, 0})
        .Op(spv::OpDecorate, {kVarB, spv::DecorationDescriptorSet, 2})
        .Op(spv::OpDecorate, {kVarB, spv::DecorationBinding, 5})
        .Op(spv::OpDecorate, {kStruct, spv::DecorationBlock})
        .Op(spv::OpMemberDecorate, {kStruct, 0, spv::DecorationOffset, 0})
        .Op(spv::OpTypeVoid, {kVoid})
        .Op(spv::OpTypeFunction, {kFnType, kVoid})
        .Op(spv::OpTypeInt, {kUint, 32, 0})
        .Op(spv::OpTypeStruct, {kStruct, kUint})
        .Op(spv::OpTypePointer, {kPtrStruct, spv::StorageClassStorageBuffer, kStruct})
        .Op(spv::OpTypePointer, {kPtrUint, spv::StorageClassStorageBuffer, kUint})
        .Op(spv::OpTypeFunction, {kParamFnType, kVoid, kPtrUint})
        .Op(spv::OpVariable, {kPtrStruct, kVarA, spv::StorageClassStorageBuffer})
        .Op(spv::OpVariable, {kPtrStruct, kVarB, spv::StorageClassStorageBuffer})
        .Op(spv::OpConstant, {kUint, kZero, 0});
    a.Op(spv::OpFunction, {kVoid, kHelper, 0, kFnType}).Op(spv::OpLabel, {kLabel1})
        .Op(spv::OpAccessChain, {kPtrUint, kChain1, kVarB, kZero}).Op(spv::OpStore, {kChain1, kZero})
        .Op(spv::OpReturn, {}).Op(spv::OpFunctionEnd, {});
    a.Op(spv::OpFunction, {kVoid, kStoreThrough, 0, kParamFnType}).Op(spv::OpFunctionParameter, {kPtrUint, kParam})
        .Op(spv::OpLabel, {kLabel2}).Op(spv::OpStore, {kParam, kZero}).Op(spv::OpReturn, {}).Op(spv::OpFunctionEnd, {});
    a.Op(spv::OpFunction, {kVoid, kFirst, 0, kFnType}).Op(spv::OpLabel, {kLabel3})
        .Op(spv::OpAccessChain, {kPtrUint, kChain2, kVarA, kZero}).Op(spv::OpLoad, {kUint, kLoaded, kChain2})
        .Op(spv::OpFunctionCall, {kVoid, kCall1, kHelper}).Op(spv::OpReturn, {}).Op(spv::OpFunctionEnd, {});
    a.Op(spv::OpFunction, {kVoid, kSecond, 0, kFnType}).Op(spv::OpLabel, {kLabel4})
        .Op(spv::OpAccessChain, {kPtrUint, kChain3, kVarA, kZero})
        .Op(spv::OpCopyObject, {kPtrUint, kChain4, kChain3})
        .Op(spv::OpFunctionCall, {kVoid, kCall2, kStoreThrough, kChain4}).Op(spv::OpReturn, {})
        .Op(spv::OpFunctionEnd, {});
    return a;
}

TEST(SpirvReflectTest, PerEntryPointCallTrees) {
    Asm a = TwoEntryPoints();
    Result<std::vector<ShaderInterface>> all = ReflectSpirv(a.words().data(), a.words().size());
    ASSERT_TRUE(all.ok()) << all.status().message();
    ASSERT_EQ(all->size(), 2u);
    const ShaderInterface& first = (*all)[0];
    EXPECT_EQ(first.entry_point, "first");
    ASSERT_EQ(first.bindings.size(), 2u);
    ExpectBinding(first, 0, 0, Kind::kStorageBuffer, true, false);
    ExpectBinding(first, 2, 5, Kind::kStorageBuffer, false, true);
    const ShaderInterface& second = (*all)[1];
    EXPECT_EQ(second.entry_point, "second");
    ASSERT_EQ(second.bindings.size(), 1u);
    ExpectBinding(second, 0, 0, Kind::kStorageBuffer, false, true);  // stored through a parameter
}

TEST(SpirvReflectTest, MalformedInputIsAnError) {
    const uint32_t bad_magic[] = {0x12345678, 0x00010000, 0, 10, 0};
    EXPECT_FALSE(ReflectSpirv(bad_magic, 5).ok());
    EXPECT_FALSE(ReflectSpirv(kAccessSpv, 3).ok());  // truncated header
    EXPECT_FALSE(ReflectSpirv(nullptr, 0).ok());
    std::vector<uint32_t> words(std::begin(kAccessSpv), std::end(kAccessSpv));
    words[5] = 0;  // zero-length instruction
    EXPECT_FALSE(ReflectSpirv(words.data(), words.size()).ok());
    words.assign(std::begin(kAccessSpv), std::end(kAccessSpv));
    words[3] = 0xffffffff;  // id bound beyond the SPIR-V limit
    EXPECT_FALSE(ReflectSpirv(words.data(), words.size()).ok());
    words.assign(std::begin(kAccessSpv), std::end(kAccessSpv));
    words[3] = 3;  // ids above the bound
    EXPECT_FALSE(ReflectSpirv(words.data(), words.size()).ok());
    // Cut in the middle of the last instruction (OpFunctionEnd is one word; cut before it).
    EXPECT_FALSE(ReflectSpirv(kAccessSpv, std::size(kAccessSpv) - 1).ok());
}

TEST(SpirvReflectTest, RecursionIsAnError) {
    Asm a(8);
    a.Op(spv::OpCapability, {spv::CapabilityShader}).EntryPoint(4, "main").Op(spv::OpTypeVoid, {1})
        .Op(spv::OpTypeFunction, {2, 1}).Op(spv::OpFunction, {1, 4, 0, 2}).Op(spv::OpLabel, {5})
        .Op(spv::OpFunctionCall, {1, 6, 4}).Op(spv::OpReturn, {}).Op(spv::OpFunctionEnd, {});
    EXPECT_FALSE(ReflectSpirv(a.words().data(), a.words().size()).ok());
}

// Every prefix and many single-word corruptions of real modules: an error or a result, never a crash.
TEST(SpirvReflectTest, CorruptedModulesNeverCrash) {
    std::vector<std::vector<uint32_t>> modules = {
        {std::begin(kAccessSpv), std::end(kAccessSpv)},
        {std::begin(kImagesSpv), std::end(kImagesSpv)},
        {std::begin(kPushConstantsSpv), std::end(kPushConstantsSpv)},
        TwoEntryPoints().words(),
    };
    const uint32_t patterns[] = {0, 1, 3, 0xffffffff, 0x00010000, 0x7fff0000};
    for (const std::vector<uint32_t>& m : modules) {
        for (size_t n = 0; n <= m.size(); ++n) (void)ReflectSpirv(m.data(), n);
        for (size_t i = 0; i < m.size(); ++i) {
            for (uint32_t p : patterns) {
                std::vector<uint32_t> copy = m;
                copy[i] = p;
                (void)ReflectSpirv(copy.data(), copy.size());
                copy[i] = m[i] ^ (p & 0xffff);
                (void)ReflectSpirv(copy.data(), copy.size());
            }
        }
    }
}

}  // namespace
}  // namespace gpucr::vk
