// layer_fixture.h — the fixture of the layer tests: an instance and a device through
// VK_LAYER_GPUCR_checkpoint on lavapipe, and the test build's gpucr_vk_test_* exports (found with
// dlopen(RTLD_NOLOAD) once the loader has loaded the layer). A derived fixture may ask for device
// extensions and a pNext chain (features) in its constructor.
//
//   class MyTest : public gpucr_test::LayerTest {
//   protected:
//       MyTest() { device_extensions_ = {"VK_KHR_push_descriptor"}; }
//   };
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace gpucr_test {

struct TestApi {
    int (*disabled)() = nullptr;
    int64_t (*object_count)(VkDevice) = nullptr;
    int (*is_wrapper)(VkDevice, uint64_t) = nullptr;
    void (*hook_counts)(VkBuffer, uint64_t*, uint64_t*) = nullptr;
    size_t (*unsupported)(VkDevice, char*, size_t) = nullptr;
    void (*mark_unsupported)(VkDevice, uint64_t, int) = nullptr;
    // The suspend gate (gate.h).
    int (*gate_close)(int timeout_ms) = nullptr;
    void (*gate_open)() = nullptr;
    int64_t (*gate_waiting)() = nullptr;
    // The command log (command_log.h).
    int (*cb_state)(VkCommandBuffer) = nullptr;
    int (*cb_commands)(VkCommandBuffer, size_t* logged, size_t* recorded) = nullptr;
    int (*check_replayable)(VkDevice, VkCommandBuffer, int* invalid, char* reason, size_t size) = nullptr;
    int (*replay)(VkDevice, VkCommandBuffer) = nullptr;
};

template <typename F>
void Load(void* lib, const char* name, F* out) {
    *out = reinterpret_cast<F>(dlsym(lib, name));
}

template <typename H>
uint64_t Bits(H h) {
    return reinterpret_cast<uint64_t>(h);
}

class LayerTest : public ::testing::Test {
protected:
    void SetUp() override {
        VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
        app.apiVersion = VK_API_VERSION_1_2;
        VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
        ici.pApplicationInfo = &app;
        ASSERT_EQ(vkCreateInstance(&ici, nullptr, &instance_), VK_SUCCESS);

        void* lib = dlopen(GPUCR_TEST_LAYER_PATH, RTLD_NOW | RTLD_NOLOAD);
        ASSERT_NE(lib, nullptr) << "the layer is not loaded: check VK_ADD_LAYER_PATH / VK_LOADER_LAYERS_ENABLE";
        Load(lib, "gpucr_vk_test_disabled", &api_.disabled);
        Load(lib, "gpucr_vk_test_object_count", &api_.object_count);
        Load(lib, "gpucr_vk_test_is_wrapper", &api_.is_wrapper);
        Load(lib, "gpucr_vk_test_hook_counts", &api_.hook_counts);
        Load(lib, "gpucr_vk_test_unsupported", &api_.unsupported);
        Load(lib, "gpucr_vk_test_mark_unsupported", &api_.mark_unsupported);
        Load(lib, "gpucr_vk_test_gate_close", &api_.gate_close);
        Load(lib, "gpucr_vk_test_gate_open", &api_.gate_open);
        Load(lib, "gpucr_vk_test_gate_waiting", &api_.gate_waiting);
        Load(lib, "gpucr_vk_test_cb_state", &api_.cb_state);
        Load(lib, "gpucr_vk_test_cb_commands", &api_.cb_commands);
        Load(lib, "gpucr_vk_test_check_replayable", &api_.check_replayable);
        Load(lib, "gpucr_vk_test_replay", &api_.replay);
        ASSERT_NE(api_.object_count, nullptr);

        uint32_t count = 0;
        ASSERT_EQ(vkEnumeratePhysicalDevices(instance_, &count, nullptr), VK_SUCCESS);
        ASSERT_GT(count, 0u);
        std::vector<VkPhysicalDevice> pds(count);
        ASSERT_EQ(vkEnumeratePhysicalDevices(instance_, &count, pds.data()), VK_SUCCESS);
        pd_ = pds[0];
        // The loader keeps its physical-device objects only if the layer returns stable values.
        std::vector<VkPhysicalDevice> again(count);
        ASSERT_EQ(vkEnumeratePhysicalDevices(instance_, &count, again.data()), VK_SUCCESS);
        EXPECT_EQ(pds, again);

        uint32_t families = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(pd_, &families, nullptr);
        std::vector<VkQueueFamilyProperties> props(families);
        vkGetPhysicalDeviceQueueFamilyProperties(pd_, &families, props.data());
        for (uint32_t i = 0; i < families; ++i) {
            if (props[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
                family_ = i;
                break;
            }
        }
        float priority = 1.0f;
        VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
        qci.queueFamilyIndex = family_;
        qci.queueCount = 1;
        qci.pQueuePriorities = &priority;
        VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
        dci.pNext = device_next_;
        dci.enabledExtensionCount = static_cast<uint32_t>(device_extensions_.size());
        dci.ppEnabledExtensionNames = device_extensions_.data();
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        ASSERT_EQ(vkCreateDevice(pd_, &dci, nullptr, &device_), VK_SUCCESS);
        vkGetDeviceQueue(device_, family_, 0, &queue_);
        vkGetPhysicalDeviceMemoryProperties(pd_, &memory_props_);
    }

    void TearDown() override {
        if (device_ != VK_NULL_HANDLE) vkDestroyDevice(device_, nullptr);
        if (instance_ != VK_NULL_HANDLE) vkDestroyInstance(instance_, nullptr);
    }

    bool Wrapped(uint64_t handle) { return api_.is_wrapper(device_, handle) == 1; }

    uint32_t HostVisibleType(uint32_t bits) {
        for (uint32_t i = 0; i < memory_props_.memoryTypeCount; ++i) {
            VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
            if ((bits & (1u << i)) && (memory_props_.memoryTypes[i].propertyFlags & want) == want) return i;
        }
        return UINT32_MAX;
    }

    // A host-visible storage buffer with its own (dedicated) memory, mapped.
    struct HostBuffer {
        VkBuffer buffer = VK_NULL_HANDLE;
        VkDeviceMemory memory = VK_NULL_HANDLE;
        uint32_t* data = nullptr;
    };
    HostBuffer MakeBuffer(VkDeviceSize size, bool dedicated,
                          VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT) {
        HostBuffer b;
        VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
        bci.size = size;
        bci.usage = usage;
        EXPECT_EQ(vkCreateBuffer(device_, &bci, nullptr, &b.buffer), VK_SUCCESS);
        VkMemoryRequirements req;
        vkGetBufferMemoryRequirements(device_, b.buffer, &req);
        VkMemoryDedicatedAllocateInfo dedicated_info{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
        dedicated_info.buffer = b.buffer;  // a handle inside a pNext chain: the layer must unwrap it
        VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
        mai.pNext = dedicated ? &dedicated_info : nullptr;
        mai.allocationSize = req.size;
        mai.memoryTypeIndex = HostVisibleType(req.memoryTypeBits);
        EXPECT_EQ(vkAllocateMemory(device_, &mai, nullptr, &b.memory), VK_SUCCESS);
        EXPECT_EQ(vkBindBufferMemory(device_, b.buffer, b.memory, 0), VK_SUCCESS);
        void* p = nullptr;
        EXPECT_EQ(vkMapMemory(device_, b.memory, 0, VK_WHOLE_SIZE, 0, &p), VK_SUCCESS);
        b.data = static_cast<uint32_t*>(p);
        return b;
    }
    void FreeBuffer(HostBuffer& b) {
        vkUnmapMemory(device_, b.memory);
        vkDestroyBuffer(device_, b.buffer, nullptr);
        vkFreeMemory(device_, b.memory, nullptr);
    }

    // Runs add.comp: out[i] = a[i] + 3 * b[i] + i, through descriptor sets and a compute pipeline.
    void RunCompute(bool dedicated);

    VkInstance instance_ = VK_NULL_HANDLE;
    VkPhysicalDevice pd_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t family_ = 0;
    VkPhysicalDeviceMemoryProperties memory_props_{};
    TestApi api_;
    // Set by derived fixtures before SetUp.
    std::vector<const char*> device_extensions_;
    const void* device_next_ = nullptr;
};

}  // namespace gpucr_test
