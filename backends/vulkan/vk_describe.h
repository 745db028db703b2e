// vk_describe.h — Vulkan objects as image JSON: the object graph of a checkpoint.
//
// Each object becomes {"id", "type", "device", "create": {...}, "deps": [{"id", "reason"}]}:
// what is needed to create it again, and the objects it needs first (restore order is a
// topological order of these edges, each with its reason).
//
//   nlohmann::json d = DescribeDevice(device);
//   nlohmann::json o = DescribeObject(device, ref, &code);   // code: shader words by object id
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <vector>

#include "layers/vulkan/device_data.h"

namespace gpucr::vk {

nlohmann::json DescribeDevice(DeviceData& device);
nlohmann::json DescribeObject(DeviceData& device, const ObjectRef& ref,
                              std::map<uint64_t, std::shared_ptr<const std::vector<uint32_t>>>* code);
const char* ObjectTypeName(VkObjectType type);

}  // namespace gpucr::vk
