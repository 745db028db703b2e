// vk_suspend.cpp — VulkanCheckpoint::Suspend / Resume: the process keeps running without its
// driver objects, then gets them back (on the same or another device) with contents loaded on
// demand.
//
// Suspend: a dump whose last moment is the suspension (dirty: pre-copy while the application
// runs, then the gate closes and what was written since is copied again; stop: the gate closes
// first), then every driver object is destroyed. The gate stays closed: application threads
// that call into Vulkan wait there.
// Resume: the device and every object are created again from the layer's tables (nothing is
// read back from the image but contents); memory the application held mapped kept its bytes in
// place, the rest is loaded by a restore::Loader, ordered by what submissions need; then the
// gate opens. The call returns once everything is loaded and the first submission after the
// resume has completed, with the timings.
#include <time.h>

#include <chrono>
#include <thread>

#include "backends/vulkan/vk_checkpoint.h"
#include "backends/vulkan/vk_recreate.h"
#include "backends/vulkan/vk_staging.h"
#include "backends/vulkan/vk_access.h"
#include "dag/log.h"
#include "layers/vulkan/gate.h"

namespace gpucr::vk {
namespace {

constexpr auto kGateTimeout = std::chrono::seconds(10);

double MsSince(int64_t t0_ns) { return (restore::MonotonicNs() - t0_ns) / 1e6; }

}  // namespace

Result<nlohmann::json> VulkanCheckpoint::Suspend(image::ImageWriter& writer, const nlohmann::json& request,
                                                 const agent::ProgressFn& progress) {
    if (suspended_.load() || held_) return FailedPrecondition("the process is already suspended");
    const std::string mode = request.value("mode", std::string("dirty"));
    if (mode != "dirty" && mode != "stop") {
        return InvalidArgument("suspend mode must be dirty or stop (a cow cut shows an earlier moment than the stop)");
    }
    GPUCR_RETURN_IF_ERROR(CheckSupported());
    std::vector<DeviceData*> devices;
    {
        std::lock_guard lock(mu_);
        devices = devices_;
    }
    for (DeviceData* d : devices) {
        GPUCR_RETURN_IF_ERROR(CheckRecreatable(*d));
        // A migration: the target must fit before anything is destroyed.
        if (request.contains("device") && request["device"].is_number_integer()) {
            GPUCR_ASSIGN_OR_RETURN(std::vector<DispatchableObject*> pds, PhysicalDevicesOf(*d));
            const int64_t n = request["device"].get<int64_t>();
            if (n < 0 || n >= static_cast<int64_t>(pds.size())) {
                return InvalidArgument("no Vulkan device " + std::to_string(n) + " (the process sees " +
                                       std::to_string(pds.size()) + ")");
            }
            GPUCR_RETURN_IF_ERROR(CheckTarget(*d, pds[n]));
        }
    }

    const int64_t t0 = restore::MonotonicNs();
    GateOwner owner;
    gate::Gate& gate = VulkanGate();
    bool closed = false;
    int64_t t_closed = 0;
    auto close = [&]() -> Status {
        if (!gate.Close(kGateTimeout)) {
            return Unavailable("application threads stayed inside Vulkan calls for 10 s; suspend abandoned");
        }
        closed = true;
        t_closed = restore::MonotonicNs();
        return Status::Ok();
    };
    nlohmann::json dump_request = request;
    dump_request["mode"] = mode;
    // The application is about to stop anyway: the pre-copy runs at full priority unless asked.
    if (!dump_request.contains("background")) dump_request["background"] = "normal";
    GPUCR_ASSIGN_OR_RETURN(engine::DumpOptions options, engine::ParseDumpOptions(dump_request));
    if (mode == "stop") {
        GPUCR_RETURN_IF_ERROR(close());
    } else {
        options.before_final_stop = close;
    }
    Result<nlohmann::json> section = DumpWith(writer, options, progress);
    if (!section.ok()) {
        if (closed) gate.Open();
        return section.status();
    }
    if (!closed) return Internal("the dump finished without its final stop");  // not reached

    // From here the application is held; the agent commits the image, then calls Release()
    // (or Cancel() if the image could not be written).
    held_ = true;
    held_since_ns_ = t_closed;
    nlohmann::json out = std::move(section).value();
    out["suspend"] = {{"held_before_release_ms", MsSince(t_closed)}, {"capture_wall_ms", MsSince(t0)}};
    return out;
}

Result<nlohmann::json> VulkanCheckpoint::Release() {
    if (!held_) return FailedPrecondition("nothing to release: no suspend is holding the application");
    GateOwner owner;
    std::vector<DeviceData*> devices;
    {
        std::lock_guard lock(mu_);
        devices = devices_;
    }
    loader_owner_.reset();
    const int64_t t_teardown = restore::MonotonicNs();
    size_t objects = 0;
    released_.clear();
    for (DeviceData* d : devices) {
        suspended_from_[d] = d->physical_device;
        TeardownResult t = Teardown(*d);
        objects += t.objects;
        released_.insert(t.released.begin(), t.released.end());
    }
    held_ = false;
    suspended_.store(true);
    GPUCR_LOG_INFO("vk", "suspended: {} driver objects destroyed, {} memory objects released", objects, released_.size());
    return nlohmann::json{{"objects_destroyed", objects},
                          {"memory_released", released_.size()},
                          {"teardown_ms", MsSince(t_teardown)},
                          {"held_ms", MsSince(held_since_ns_)}};
}

void VulkanCheckpoint::CancelSuspend() noexcept {
    if (!held_) return;
    held_ = false;
    VulkanGate().Open();
    GPUCR_LOG_WARN("vk", "suspend cancelled: the application continues");
}

// One piece = one chunk of the resource's contents (pieces come in order).
Status VulkanCheckpoint::LoadResource(const restore::Item& item, size_t piece, const image::ImageReader& reader) {
    DeviceData* dev = nullptr;
    DeviceMemory* m = nullptr;
    Queue* queue = nullptr;
    {
        std::lock_guard lock(mu_);
        for (DeviceData* d : devices_) {
            if (auto* found = FindObject<DeviceMemory>(*d, item.id, VK_OBJECT_TYPE_DEVICE_MEMORY)) {
                dev = d;
                m = found;
            }
        }
        for (const auto& [id, q] : queues_) {
            if (q->device == dev && queue == nullptr) queue = q;
        }
    }
    if (m == nullptr) return Internal("VkDeviceMemory #" + std::to_string(item.id) + " is gone");
    const nlohmann::json& chunks = item.entry.at("chunks");
    GPUCR_ASSIGN_OR_RETURN(image::ChunkRef ref, image::ChunkRefFromJson(chunks.at(piece)));
    const uint64_t offset = item.entry.at("offsets").at(piece).get<uint64_t>();
    if (offset + ref.size > std::max<uint64_t>(m->size, m->host_size)) {
        return DataLoss(reader.dir() + ": chunk " + ref.hash + " lies outside VkDeviceMemory #" + std::to_string(m->id));
    }
    if (m->host != nullptr && !ForceDeviceCopy()) return reader.ReadChunk(ref, m->host + offset);
    if (queue == nullptr) return Unsupported("no queue to load VkDeviceMemory #" + std::to_string(item.id) + " with");
    std::vector<uint8_t> buf(ref.size);
    GPUCR_RETURN_IF_ERROR(reader.ReadChunk(ref, buf.data()));
    return WriteDeviceMemory(*dev, *queue, *m, offset, ref.size, buf.data());
}

void VulkanCheckpoint::EnsureLoaded(std::span<const dag::ResourceId> ids) noexcept {
    restore::Loader* loader = loader_.load();
    if (loader == nullptr) return;
    try {
        if (Status s = loader->Ensure(ids); !s.ok()) {
            GPUCR_LOG_ERROR("vk", "contents needed by an operation could not be loaded: {}", s.message());
        }
    } catch (...) {
    }
}

Result<nlohmann::json> VulkanCheckpoint::Resume(const image::ImageReader& reader, const nlohmann::json& section,
                                                const nlohmann::json& request, const agent::ProgressFn& progress) {
    if (!suspended_.load()) return FailedPrecondition("the process is not suspended");
    const int64_t t0 = request.contains("t0_ns") ? request["t0_ns"].get<int64_t>() : restore::MonotonicNs();
    const bool eager = request.value("eager", false);
    GateOwner owner;

    // Everything that must come from the image is there, before anything is touched.
    const std::vector<uint64_t> released(released_.begin(), released_.end());
    GPUCR_ASSIGN_OR_RETURN(
        std::vector<restore::Item> items,
        restore::ItemsFromSection(section, released, [](uint64_t id) { return "VkDeviceMemory #" + std::to_string(id); },
                                  reader.dir()));
    std::vector<DeviceData*> devices;
    {
        std::lock_guard lock(mu_);
        devices = devices_;
    }
    std::map<DeviceData*, DispatchableObject*> targets;
    int device_index = -1;
    for (DeviceData* d : devices) {
        DispatchableObject* target = suspended_from_[d];
        GPUCR_ASSIGN_OR_RETURN(std::vector<DispatchableObject*> pds, PhysicalDevicesOf(*d));
        if (request.contains("device") && request["device"].is_number_integer()) {
            const int64_t n = request["device"].get<int64_t>();
            if (n < 0 || n >= static_cast<int64_t>(pds.size())) {
                return InvalidArgument("no Vulkan device " + std::to_string(n) + " (the process sees " +
                                       std::to_string(pds.size()) + ")");
            }
            target = pds[n];
        }
        for (size_t i = 0; i < pds.size(); ++i) {
            if (pds[i] == target) device_index = static_cast<int>(i);
        }
        targets[d] = target;
    }

    // Re-create; on failure undo what was created: the process stays suspended.
    size_t objects = 0;
    size_t rerecorded = 0;
    nlohmann::json notes = nlohmann::json::array();
    std::vector<DeviceData*> done;
    for (DeviceData* d : devices) {
        Result<RecreateResult> r = Recreate(*d, targets[d]);
        if (!r.ok()) {
            for (DeviceData* u : done) Teardown(*u);
            return Status(r.status().code(), "re-creating the Vulkan objects failed, the process stays suspended: " +
                                                 r.status().message());
        }
        objects += r->objects;
        rerecorded += r->command_buffers_rerecorded;
        for (const std::string& n : r->notes) notes.push_back(n);
        done.push_back(d);
    }
    for (const auto& [id, q] : queues_) {
        if (Status s = EnsureTimeline(q); !s.ok()) GPUCR_LOG_WARN("vk", "{}", s.message());
    }
    const double recreate_ms = MsSince(t0);

    // Contents: eagerly before the application runs again, or on demand.
    auto loader = std::make_unique<restore::Loader>(
        std::move(items), [this, &reader](const restore::Item& it, size_t piece) { return LoadResource(it, piece, reader); });
    if (progress) progress("load", 0, 0);
    if (Status s = loader->Start(eager); !s.ok()) {
        for (DeviceData* d : devices) Teardown(*d);
        return Status(s.code(), "loading contents failed, the process stays suspended: " + s.message());
    }
    if (!eager) loader_.store(loader.get());
    // The first submission after the hand-back, and when it completed.
    first_op_.Start(t0, [this](dag::QueueId q, uint64_t seq) { return WaitQueue(q, seq); });
    suspended_.store(false);
    VulkanGate().Open();
    const double handback_ms = MsSince(t0);

    Status loaded = loader->WaitAll();
    const double loaded_ms = MsSince(t0);
    loader_.store(nullptr);
    loader_owner_ = std::move(loader);  // an application thread may still be returning from Ensure()
    nlohmann::json first_op = first_op_.Join();
    nlohmann::json first_op_after = nullptr;
    if (!first_op.is_null()) first_op_after = first_op.get<double>() - handback_ms;

    nlohmann::json stats = {{"device", device_index},
                            {"eager", eager},
                            {"objects_created", objects},
                            {"command_buffers_rerecorded", rerecorded},
                            {"recreate_ms", recreate_ms},
                            {"handback_ms", handback_ms},
                            {"first_op_ms", first_op},
                            {"first_op_after_handback_ms", first_op_after},
                            {"loaded_ms", loaded_ms},
                            {"notes", notes}};
    stats.update(restore::ResumeLoadStats(loader_owner_->Stats()));
    if (!loaded.ok()) {
        stats["load_error"] = loaded.message();
        GPUCR_LOG_ERROR("vk", "after the resume, loading failed: {}", loaded.message());
    }
    return stats;
}

}  // namespace gpucr::vk
