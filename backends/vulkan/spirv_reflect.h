// spirv_reflect.h — minimal SPIR-V reflection for speculating the read/write sets of dispatches.
//
// Parses a SPIR-V module (no external library) and reports, per entry point, the descriptor
// bindings the entry point's call tree statically uses, whether each is read and/or written,
// the push-constant block size, and whether the shader reaches memory through buffer device
// addresses (PhysicalStorageBuffer pointers), whose targets reflection cannot know.
//
// Access is speculation: decorations (NonWritable/NonReadable) and actual loads/stores through
// pointers rooted at the variable narrow the conservative "read and write" default. The caller
// validates it; a missed write must be caught there, never assumed away here.
//
//   GPUCR_ASSIGN_OR_RETURN(ShaderInterface iface, ReflectEntryPoint(words, count, "main"));
//   for (const ShaderBinding& b : iface.bindings) {
//       if (b.writes) MarkWritten(set_layouts[b.set], b.binding);
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dag/status.h"

namespace gpucr::vk {

struct ShaderBinding {
    enum class Kind {
        kStorageBuffer,
        kUniformBuffer,
        kStorageImage,
        kSampledImage,
        kCombinedImageSampler,
        kSampler,
        kUniformTexelBuffer,
        kStorageTexelBuffer,
        kAccelerationStructure,
        kOther,
    };

    uint32_t set = 0;
    uint32_t binding = 0;
    Kind kind = Kind::kOther;
    bool reads = true;
    bool writes = true;
    uint32_t array_size = 1;  // descriptor count; 0 = runtime-sized array
};

struct ShaderInterface {
    std::string entry_point;
    uint32_t execution_model = 0;  // spv::ExecutionModel
    std::vector<ShaderBinding> bindings;  // sorted by (set, binding)
    uint32_t push_constant_size = 0;  // bytes; 0 when the entry point uses no push constants
    bool uses_physical_pointers = false;  // PhysicalStorageBuffer addressing: access unknown
    bool uses_atomics = false;
};

const char* ShaderBindingKindName(ShaderBinding::Kind kind);

// One interface per OpEntryPoint, in module order. kInvalidArgument on malformed input.
[[nodiscard]] Result<std::vector<ShaderInterface>> ReflectSpirv(const uint32_t* words, size_t word_count);

// The interface of one named entry point; kNotFound when the module has none of that name.
[[nodiscard]] Result<ShaderInterface> ReflectEntryPoint(const uint32_t* words, size_t word_count,
                                                        std::string_view entry_point);

}  // namespace gpucr::vk
