// vk_checkpoint.h — Vulkan's side of a checkpoint: what the engine sees of Vulkan state.
//
// One VulkanCheckpoint per process spans every VkDevice: one DAG, one engine, so a dump has
// one cut across all queues of all devices. It tracks queues (a driver timeline semaphore per
// queue, signalled with each submission's sequence number, tells completion), turns
// submissions into DAG ops, describes objects for the image, and registers the "vulkan"
// provider with the agent.
//
//   auto& cp = VulkanCheckpoint::Get();
//   cp.AddDevice(device_data);                         // after vkCreateDevice
//   cp.BeginSubmit(queue, cbs);  ... driver submit ...  cp.EndSubmit(queue, result);
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "dag/dag.h"
#include "dag/engine.h"
#include "dag/restore.h"
#include "layers/vulkan/device_data.h"
#include "layers/vulkan/object_types.h"

namespace gpucr::vk {

class VulkanCheckpoint : public engine::CaptureSource {
public:
    static VulkanCheckpoint& Get();

    void AddDevice(DeviceData* device);
    void RemoveDevice(DeviceData* device);
    void AddQueue(Queue* queue);

    dag::Dag& dag() { return dag_; }
    engine::CheckpointEngine& engine() { return engine_; }

    // Around one vkQueueSubmit/vkQueueSubmit2 of `cbs`, on the application's thread.
    // BeginSubmit returns the sequence number the submission carries (0 when untracked); the
    // caller adds a signal of the queue's timeline semaphore with it to the submission where
    // it can (`signaled`), else EndSubmit submits the signal on its own.
    uint64_t BeginSubmit(Queue* queue, const std::vector<CommandBuffer*>& cbs) noexcept;
    void EndSubmit(Queue* queue, VkResult result, bool signaled = false) noexcept;

    // Host writes made visible through vkFlushMappedMemoryRanges (non-coherent memory).
    void RecordHostWrite(DeviceMemory* memory, VkDeviceSize offset, VkDeviceSize size) noexcept;

    // engine::CaptureSource
    Result<std::vector<engine::ResourceView>> SnapshotResources() override;
    Result<nlohmann::json> SnapshotObjects() override;
    std::map<dag::QueueId, uint64_t> QueueSeqs() override;
    Status WaitQueue(dag::QueueId queue, uint64_t seq) override;
    bool QueueCompleted(dag::QueueId queue, uint64_t seq) override;
    Status ReadRange(dag::ResourceId resource, uint64_t offset, uint64_t size, void* dst) override;

    nlohmann::json Describe();
    Result<nlohmann::json> Dump(image::ImageWriter& writer, const nlohmann::json& request,
                                const agent::ProgressFn& progress);

    // Suspend, resume, migrate (vk_suspend.cpp). Suspend captures the state into the image, at
    // the moment the application is stopped, then destroys every driver object; the
    // application's Vulkan calls wait at the gate (layers/vulkan/gate.h) until Resume creates
    // everything again, on the same device or another, and lets them through while contents
    // load in the background.
    Result<nlohmann::json> Suspend(image::ImageWriter& writer, const nlohmann::json& request,
                                   const agent::ProgressFn& progress);
    Result<nlohmann::json> Resume(const image::ImageReader& reader, const nlohmann::json& section,
                                  const nlohmann::json& request, const agent::ProgressFn& progress);
    // Two-phase suspend: Suspend() leaves the application held; Release() destroys the driver
    // objects once the image is committed, CancelSuspend() lets the application go on instead.
    Result<nlohmann::json> Release();
    void CancelSuspend() noexcept;
    bool suspended() const { return suspended_.load(); }
    // Before an operation after a resume: waits until the contents it touches are loaded.
    void EnsureLoaded(std::span<const dag::ResourceId> ids) noexcept;
    bool loading() const { return loader_.load() != nullptr; }

private:
    VulkanCheckpoint();
    Status EnsureTimeline(Queue* queue);
    Status CheckSupported();

    std::mutex mu_;
    std::vector<DeviceData*> devices_;
    std::map<uint64_t, Queue*> queues_;  // by id
    dag::Dag dag_;
    engine::CheckpointEngine engine_;
    Result<nlohmann::json> DumpWith(image::ImageWriter& writer, const engine::DumpOptions& options,
                                    const agent::ProgressFn& progress);
    Status LoadResource(const restore::Item& item, size_t piece, const image::ImageReader& reader);

    std::atomic<bool> suspended_{false};
    bool held_ = false;                                // suspended into an image not yet committed
    int64_t held_since_ns_ = 0;
    std::atomic<restore::Loader*> loader_{nullptr};   // set while contents load after a resume
    std::unique_ptr<restore::Loader> loader_owner_;    // kept until the next suspend
    std::set<uint64_t> released_;                      // memory whose contents come from the image
    std::map<DeviceData*, DispatchableObject*> suspended_from_;  // physical device of each device
    restore::FirstOpWatch first_op_;                   // after a resume
    // Shader code of modules referenced by the last object snapshot (written after the cut).
    std::map<uint64_t, std::shared_ptr<const std::vector<uint32_t>>> snapshot_code_;
};

}  // namespace gpucr::vk
