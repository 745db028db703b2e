// unwrap_custom.cpp — see unwrap_custom.h.
#include "layers/vulkan/unwrap_custom.h"

#include "layers/vulkan/wrap.h"
#include "vk_unwrap.h"

namespace gpucr::vk {

bool DescriptorUsesImageInfo(VkDescriptorType type) {
    switch (type) {
        case VK_DESCRIPTOR_TYPE_SAMPLER:
        case VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER:
        case VK_DESCRIPTOR_TYPE_SAMPLED_IMAGE:
        case VK_DESCRIPTOR_TYPE_STORAGE_IMAGE:
        case VK_DESCRIPTOR_TYPE_INPUT_ATTACHMENT:
        case VK_DESCRIPTOR_TYPE_SAMPLE_WEIGHT_IMAGE_QCOM:
        case VK_DESCRIPTOR_TYPE_BLOCK_MATCH_IMAGE_QCOM:
            return true;
        default:
            return false;
    }
}

bool DescriptorUsesBufferInfo(VkDescriptorType type) {
    switch (type) {
        case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER:
        case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER:
        case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC:
        case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC:
            return true;
        default:
            return false;
    }
}

bool DescriptorUsesTexelBufferView(VkDescriptorType type) {
    return type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER || type == VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
}

bool DescriptorUsesSampler(VkDescriptorType type) {
    return type == VK_DESCRIPTOR_TYPE_SAMPLER || type == VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
}

const VkDescriptorImageInfo* UnwrapDescriptorImageInfos(Arena& a, const VkDescriptorImageInfo* infos, uint32_t count,
                                                        VkDescriptorType type) {
    if (infos == nullptr || count == 0) return infos;
    auto* out = a.Alloc<VkDescriptorImageInfo>(count);
    for (uint32_t i = 0; i < count; ++i) {
        out[i] = infos[i];
        out[i].sampler = DescriptorUsesSampler(type) ? Unwrap(infos[i].sampler) : VK_NULL_HANDLE;
        out[i].imageView = type != VK_DESCRIPTOR_TYPE_SAMPLER ? Unwrap(infos[i].imageView) : VK_NULL_HANDLE;
    }
    return out;
}

VkDescriptorDataEXT UnwrapDescriptorData(Arena& a, VkDescriptorDataEXT data, VkDescriptorType type) {
    switch (type) {
        case VK_DESCRIPTOR_TYPE_SAMPLER:
            data.pSampler = UnwrapArray(a, data.pSampler, 1);
            break;
        case VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER:
        case VK_DESCRIPTOR_TYPE_INPUT_ATTACHMENT:
        case VK_DESCRIPTOR_TYPE_SAMPLED_IMAGE:
        case VK_DESCRIPTOR_TYPE_STORAGE_IMAGE:
            // All four members alias the same pointer.
            data.pCombinedImageSampler = UnwrapDescriptorImageInfos(a, data.pCombinedImageSampler, 1, type);
            break;
        default:
            break;  // addresses only
    }
    return data;
}

void UnwrapGeometryData(Arena& a, VkAccelerationStructureGeometryDataKHR& data, VkGeometryTypeKHR type) {
    if (type == VK_GEOMETRY_TYPE_TRIANGLES_KHR) UnwrapFields(a, data.triangles);
}

const VkAccelerationStructureGeometryKHR* const* UnwrapGeometryPointers(
    Arena& a, const VkAccelerationStructureGeometryKHR* const* geometries, uint32_t count) {
    if (geometries == nullptr || count == 0) return geometries;
    auto** out = a.Alloc<const VkAccelerationStructureGeometryKHR*>(count);
    for (uint32_t i = 0; i < count; ++i) out[i] = UnwrapCopy(a, geometries[i], 1);
    return out;
}

}  // namespace gpucr::vk
