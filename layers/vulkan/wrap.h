// wrap.h — turning driver handles into the application's handles and back.
//
// Non-dispatchable handles are wrapper pointers (Object subclasses); dispatchable ones are
// DispatchableObject subclasses whose first word the loader owns. VkInstance is never wrapped (the
// application holds the loader's object). Every wrapper is registered in its device's (or instance's)
// ObjectTable under a fresh id.
//
//   VkBuffer app = Wrap(driver_buffer, device_data);   // on create
//   VkBuffer drv = Unwrap(app);                         // before calling down (null-safe)
//   Buffer* b = Get(app);                               // typed access for hooks
//   DestroyWrapper(app);                                // after destroy
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>

#include "layers/vulkan/arena.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/instance_data.h"
#include "layers/vulkan/object_types.h"
#include "layers/vulkan/objects.h"
#include "vk_object_types.h"

namespace gpucr::vk {

namespace internal {

template <typename H>
ObjectRef RefOf(typename WrapperOf<H>::type* w) {
    return ObjectRef::Of(w);
}

template <typename H>
typename WrapperOf<H>::type* NewWrapper(H driver, DeviceData* device, InstanceData* instance) {
    using W = typename WrapperOf<H>::type;
    auto* w = new W();
    w->type = ObjectTypeOf<H>();
    w->id = NextObjectId();
    w->device = device;
    w->instance = instance;
    if constexpr (kIsDispatchable<H>) {
        static_assert(!std::is_polymorphic_v<W>, "dispatchable wrappers: the loader owns the first word");
        w->driver = driver;
        // Queues and command buffers get the loader's pointer from its trampolines too; start with the
        // device's so that calls made before that (by the layer itself) dispatch correctly.
        w->loader_data = (device != nullptr && device->wrapper != nullptr) ? device->wrapper->loader_data
                                                                         : DispatchKey(driver);
    } else {
        w->driver = reinterpret_cast<uint64_t>(driver);
    }
    return w;
}

template <typename H>
uint64_t DriverBits(H driver) {
    return reinterpret_cast<uint64_t>(driver);
}

}  // namespace internal

// A new wrapper for a created/allocated driver handle; null stays null.
template <typename H>
H Wrap(H driver, DeviceData* device, uint64_t parent_id = 0) {
    if (driver == VK_NULL_HANDLE) return VK_NULL_HANDLE;
    auto* w = internal::NewWrapper(driver, device, device->instance);
    w->parent_id = parent_id;
    device->objects.Add(ObjectRef::Of(w), internal::DriverBits(driver), false);
    if (parent_id != 0) device->objects.AddChild(parent_id, w->id);
    return reinterpret_cast<H>(w);
}

template <typename H>
H Wrap(H driver, InstanceData* instance) {
    if (driver == VK_NULL_HANDLE) return VK_NULL_HANDLE;
    auto* w = internal::NewWrapper(driver, nullptr, instance);
    instance->objects.Add(ObjectRef::Of(w), internal::DriverBits(driver), false);
    return reinterpret_cast<H>(w);
}

// For handles a command returns again and again (queues, displays): one wrapper per driver handle.
template <typename H>
H WrapRetrieved(H driver, DeviceData* device) {
    if (driver == VK_NULL_HANDLE) return VK_NULL_HANDLE;
    if (void* w = device->objects.FindRetrieved(ObjectTypeOf<H>(), internal::DriverBits(driver))) {
        return reinterpret_cast<H>(w);
    }
    auto* w = internal::NewWrapper(driver, device, device->instance);
    device->objects.Add(ObjectRef::Of(w), internal::DriverBits(driver), true);
    return reinterpret_cast<H>(w);
}

template <typename H>
H WrapRetrieved(H driver, InstanceData* instance) {
    if (driver == VK_NULL_HANDLE) return VK_NULL_HANDLE;
    if (void* w = instance->objects.FindRetrieved(ObjectTypeOf<H>(), internal::DriverBits(driver))) {
        return reinterpret_cast<H>(w);
    }
    auto* w = internal::NewWrapper(driver, nullptr, instance);
    instance->objects.Add(ObjectRef::Of(w), internal::DriverBits(driver), true);
    return reinterpret_cast<H>(w);
}

// The typed wrapper behind an application handle (nullptr for VK_NULL_HANDLE).
template <typename H>
typename WrapperOf<H>::type* Get(H app) {
    static_assert(!std::is_same_v<H, VkInstance>, "VkInstance is not wrapped");
    return reinterpret_cast<typename WrapperOf<H>::type*>(app);
}

// The driver handle behind an application handle; null-safe.
template <typename H>
H Unwrap(H app) {
    if constexpr (std::is_same_v<H, VkInstance>) {
        return app;
    } else {
        if (app == VK_NULL_HANDLE) return VK_NULL_HANDLE;
        if constexpr (kIsDispatchable<H>) {
            return static_cast<H>(Get(app)->driver);
        } else {
            return reinterpret_cast<H>(Get(app)->driver);
        }
    }
}

template <typename H>
const H* UnwrapArray(Arena& a, const H* app, size_t count) {
    if (app == nullptr || count == 0) return app;
    H* out = a.Alloc<H>(count);
    for (size_t i = 0; i < count; ++i) out[i] = Unwrap(app[i]);
    return out;
}

// Deletes any wrapper through its static type (dispatchable wrappers have no virtual destructor).
void DeleteWrapper(const ObjectRef& ref);

// Unregisters and deletes the wrapper (after the driver object is gone); null-safe.
template <typename H>
void DestroyWrapper(H app) {
    if (app == VK_NULL_HANDLE) return;
    auto* w = Get(app);
    if (w->device != nullptr) {
        w->device->objects.Remove(w->id);
    } else if (w->instance != nullptr) {
        w->instance->objects.Remove(w->id);
    }
    delete w;
}

// Deletes the wrappers of objects a pool freed implicitly (destroy/reset of a pool).
void FreeChildren(uint64_t pool_id, DeviceData* device);
template <typename H>
void FreeChildren(H pool, DeviceData* device) {
    if (pool != VK_NULL_HANDLE) FreeChildren(Get(pool)->id, device);
}

}  // namespace gpucr::vk
