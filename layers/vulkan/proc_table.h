// proc_table.h — lookup of the layer's entry points by name (table generated in vk_proc_table.cpp).
//
//   const ProcEntry* e = FindProc("vkCreateBuffer");
//   if (e && e->level == ProcLevel::kDevice) return e->fn;
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>

namespace gpucr::vk {

enum class ProcLevel { kGlobal, kInstance, kDevice };

struct ProcEntry {
    const char* name;
    PFN_vkVoidFunction fn;
    ProcLevel level;
    size_t dispatch_offset;  // of the next layer's pointer in InstanceDispatch / DeviceDispatch
};

// nullptr for commands the layer does not cover (platform, video, provisional ones).
const ProcEntry* FindProc(const char* name);
// Device extensions whose commands and structs the generated wrappers cover.
bool IsCoveredDeviceExtension(const char* name);

}  // namespace gpucr::vk
