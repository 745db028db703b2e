// objects.h — the layer's handle wrappers: every handle the application sees is one of these.
//
// Non-dispatchable handles are `Object*` (or a subclass) cast to the 64-bit handle; dispatchable
// ones (instance, physical device, device, queue, command buffer) are `DispatchableObject*`
// whose first word is the loader's dispatch pointer. The driver handle behind a wrapper
// (`driver`) can be re-pointed, so the application's handle survives re-creation.
//
//   VkBuffer app = Wrap<VkBuffer>(driver_buffer, device_data);   // on create
//   VkBuffer drv = Unwrap(app);                                    // before calling down
//   Buffer* b = Get<VkBuffer>(app);                                // typed access for hooks
//   DestroyWrapper(app);                                           // after destroy
//
// Generated code (vk_wrap_*.cpp) uses Wrap / Unwrap / DestroyWrapper only; hand-written
// hooks use the typed structs in object_types.h.
//
// Dispatchable wrappers must not be polymorphic (no vtable): the loader owns their first word.
// They are deleted through their static type (WrapperOf<H>::type), never through the base.
#pragma once

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <unordered_map>

namespace gpucr::vk {

struct InstanceData;
struct DeviceData;

inline constexpr uint32_t kObjectMagic = 0x47504f42;  // "GPOB"

// Stable ids, never reused in a process; they name objects in images.
uint64_t NextObjectId();

struct Object {
    uint32_t magic = kObjectMagic;
    VkObjectType type = VK_OBJECT_TYPE_UNKNOWN;
    uint64_t id = 0;
    uint64_t driver = 0;            // next layer's handle
    DeviceData* device = nullptr;   // owning device, null for instance-level objects
    InstanceData* instance = nullptr;
    uint64_t parent_id = 0;         // pool that allocated it (command buffer, descriptor set), else 0
    virtual ~Object() = default;
};

struct DispatchableObject {
    void* loader_data = nullptr;    // first word: the loader's dispatch pointer
    uint32_t magic = kObjectMagic;
    VkObjectType type = VK_OBJECT_TYPE_UNKNOWN;
    uint64_t id = 0;
    void* driver = nullptr;         // next layer's dispatchable handle
    DeviceData* device = nullptr;
    InstanceData* instance = nullptr;
    uint64_t parent_id = 0;         // pool that allocated it (command buffer), else 0
};
static_assert(sizeof(void*) == 8, "non-dispatchable handles are wrapper pointers: 64-bit only");
static_assert(!std::is_polymorphic_v<DispatchableObject>, "the loader owns the first word");

// The five dispatchable handle types; every other handle is non-dispatchable.
template <typename H>
inline constexpr bool kIsDispatchable = std::is_same_v<H, VkInstance> || std::is_same_v<H, VkPhysicalDevice> ||
                                        std::is_same_v<H, VkDevice> || std::is_same_v<H, VkQueue> ||
                                        std::is_same_v<H, VkCommandBuffer>;

// Maps a Vulkan handle type to its wrapper struct. Tracked types specialise this in
// object_types.h; everything else is a plain Object / DispatchableObject.
template <typename H>
struct WrapperOf {
    using type = std::conditional_t<kIsDispatchable<H>, DispatchableObject, Object>;
};

template <typename H>
VkObjectType ObjectTypeOf();  // generated: vk_object_types.h

}  // namespace gpucr::vk
