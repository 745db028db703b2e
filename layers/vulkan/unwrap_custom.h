// unwrap_custom.h — hand-written unwrapping for members the registry cannot describe fully
// (unions selected by another member, fields ignored for some descriptor types). Listed as data in
// gen/wrap_rules.json ("member_conditions", "custom_members"); called from vk_unwrap.cpp.
//
//   s.pImageInfo = UnwrapDescriptorImageInfos(a, s.pImageInfo, s.descriptorCount, s.descriptorType);
#pragma once

#include <vulkan/vulkan.h>

#include "layers/vulkan/arena.h"

namespace gpucr::vk {

bool DescriptorUsesImageInfo(VkDescriptorType type);
bool DescriptorUsesBufferInfo(VkDescriptorType type);
bool DescriptorUsesTexelBufferView(VkDescriptorType type);
bool DescriptorUsesSampler(VkDescriptorType type);

// Unwraps only the fields the descriptor type uses (the others may hold garbage).
const VkDescriptorImageInfo* UnwrapDescriptorImageInfos(Arena& a, const VkDescriptorImageInfo* infos, uint32_t count,
                                                        VkDescriptorType type);
VkDescriptorDataEXT UnwrapDescriptorData(Arena& a, VkDescriptorDataEXT data, VkDescriptorType type);
void UnwrapGeometryData(Arena& a, VkAccelerationStructureGeometryDataKHR& data, VkGeometryTypeKHR type);
const VkAccelerationStructureGeometryKHR* const* UnwrapGeometryPointers(
    Arena& a, const VkAccelerationStructureGeometryKHR* const* geometries, uint32_t count);

}  // namespace gpucr::vk
