#include "backends/vulkan/vk_access.h"

#include <algorithm>

namespace gpucr::vk {
namespace {

using dag::Access;
using dag::Certainty;

struct Ctx {
    DeviceData& device;
    dag::QueueId queue;
    uint64_t seq;
    std::vector<dag::Op>* out;
    int depth = 0;
};

bool IsDynamic(VkDescriptorType t) {
    return t == VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER_DYNAMIC || t == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER_DYNAMIC;
}

// Every memory object of the device, whole: the conservative answer.
std::vector<Access> AllMemory(DeviceData& device) {
    std::vector<Access> all;
    device.objects.ForEach([&](const ObjectRef& ref) {
        if (ref.type == VK_OBJECT_TYPE_DEVICE_MEMORY && !ref.dispatchable) {
            all.push_back({ref.id, 0, dag::kWholeSize, Certainty::kSpeculated});
        }
    });
    return all;
}

std::optional<Access> BufferRange(DeviceData& device, uint64_t buffer_id, VkDeviceSize offset, VkDeviceSize size,
                                  Certainty certainty) {
    auto* b = FindObject<Buffer>(device, buffer_id, VK_OBJECT_TYPE_BUFFER);
    if (b == nullptr || b->memory == 0) return std::nullopt;
    if (offset > b->size) offset = b->size;
    if (size == VK_WHOLE_SIZE || offset + size > b->size) size = b->size - offset;
    return Access{b->memory, b->memory_offset + offset, size, certainty};
}

std::optional<Access> ImageRange(DeviceData& device, uint64_t image_id, Certainty certainty) {
    auto* img = FindObject<Image>(device, image_id, VK_OBJECT_TYPE_IMAGE);
    if (img == nullptr || img->memory == 0) return std::nullopt;
    return Access{img->memory, img->memory_offset, img->memory_size ? img->memory_size : dag::kWholeSize, certainty};
}

// Resolves one descriptor to the memory it names.
std::optional<Access> DescriptorAccess(DeviceData& device, const Descriptor& d, uint32_t dynamic_offset) {
    if (d.buffer != 0) {
        return BufferRange(device, d.buffer, d.offset + dynamic_offset, d.range, Certainty::kSpeculated);
    }
    if (d.image != 0) return ImageRange(device, d.image, Certainty::kSpeculated);
    return std::nullopt;
}

// Dispatch: bindings of the pipeline's shader, through the sets bound at record time.
bool DispatchAccess(Ctx& c, const RecordedCommand& cmd, dag::Op& op) {
    auto* pipe = FindObject<Pipeline>(c.device, cmd.pipeline, VK_OBJECT_TYPE_PIPELINE);
    if (pipe == nullptr || !pipe->interface || pipe->interface->uses_physical_pointers) return false;
    op.label = pipe->entry_point;
    for (const ShaderBinding& sb : pipe->interface->bindings) {
        if (!sb.reads && !sb.writes) continue;
        if (sb.set >= cmd.sets.size()) return false;
        const auto& [set_id, dyn_offsets] = cmd.sets[sb.set];
        auto* set = FindObject<DescriptorSet>(c.device, set_id, VK_OBJECT_TYPE_DESCRIPTOR_SET);
        if (set == nullptr) return false;
        auto* layout = FindObject<DescriptorSetLayout>(c.device, set->layout, VK_OBJECT_TYPE_DESCRIPTOR_SET_LAYOUT);
        std::lock_guard lock(set->mu);
        if (set->opaque || layout == nullptr) return false;
        // Dynamic offsets are ordered by binding number, then array element.
        uint32_t dyn_index = 0;
        for (const auto& [binding, lb] : layout->bindings) {
            if (binding == sb.binding) break;
            if (IsDynamic(lb.type)) dyn_index += lb.count;
        }
        auto it = set->bindings.find(sb.binding);
        if (it == set->bindings.end()) continue;  // never written: nothing to access
        for (size_t e = 0; e < it->second.size(); ++e) {
            const Descriptor& d = it->second[e];
            uint32_t dyn = 0;
            if (IsDynamic(d.type)) {
                const size_t k = dyn_index + e;
                dyn = k < dyn_offsets.size() ? dyn_offsets[k] : 0;
            }
            auto a = DescriptorAccess(c.device, d, dyn);
            if (!a) continue;
            if (sb.reads) op.reads.push_back(*a);
            if (sb.writes) op.writes.push_back(*a);
        }
    }
    return true;
}

void AddRanges(DeviceData& device, uint64_t id, bool image, const std::vector<std::pair<VkDeviceSize, VkDeviceSize>>& ranges,
               std::vector<Access>& out) {
    if (image) {
        if (auto a = ImageRange(device, id, Certainty::kCertain)) out.push_back(*a);
        return;
    }
    for (const auto& [off, size] : ranges) {
        if (auto a = BufferRange(device, id, off, size, Certainty::kCertain)) out.push_back(*a);
    }
}

void CommandOps(Ctx& c, const CommandBuffer& cb);

void CommandOp(Ctx& c, const RecordedCommand& cmd) {
    using K = RecordedCommand::Kind;
    dag::Op op;
    op.queue = c.queue;
    op.seq = c.seq;
    op.label = cmd.name;
    bool known = true;
    switch (cmd.kind) {
        case K::kDispatch:
        case K::kDispatchIndirect:
            op.kind = dag::OpKind::kDispatch;
            known = DispatchAccess(c, cmd, op);
            if (cmd.kind == K::kDispatchIndirect) AddRanges(c.device, cmd.src, false, cmd.src_ranges, op.reads);
            break;
        case K::kCopyBuffer:
            op.kind = dag::OpKind::kCopy;
            AddRanges(c.device, cmd.src, false, cmd.src_ranges, op.reads);
            AddRanges(c.device, cmd.dst, false, cmd.dst_ranges, op.writes);
            break;
        case K::kFillBuffer:
        case K::kUpdateBuffer:
            op.kind = cmd.kind == K::kFillBuffer ? dag::OpKind::kFill : dag::OpKind::kUpdate;
            AddRanges(c.device, cmd.dst, false, cmd.dst_ranges, op.writes);
            break;
        case K::kCopyToImage:
            op.kind = dag::OpKind::kCopy;
            AddRanges(c.device, cmd.src, false, cmd.src_ranges, op.reads);
            AddRanges(c.device, cmd.dst, true, {}, op.writes);
            break;
        case K::kCopyFromImage:
            op.kind = dag::OpKind::kCopy;
            AddRanges(c.device, cmd.src, true, {}, op.reads);
            AddRanges(c.device, cmd.dst, false, cmd.dst_ranges, op.writes);
            break;
        case K::kCopyImage:
            op.kind = dag::OpKind::kCopy;
            AddRanges(c.device, cmd.src, true, {}, op.reads);
            AddRanges(c.device, cmd.dst, true, {}, op.writes);
            break;
        case K::kClearImage:
            op.kind = dag::OpKind::kClear;
            AddRanges(c.device, cmd.dst, true, {}, op.writes);
            break;
        case K::kExecute:
            if (c.depth < 4) {
                for (uint64_t id : cmd.secondaries) {
                    auto ref = c.device.objects.Find(id);
                    if (!ref || !ref->dispatchable) continue;
                    c.depth++;
                    CommandOps(c, *static_cast<CommandBuffer*>(ref->dispatchable_object()));
                    c.depth--;
                }
                return;
            }
            known = false;
            break;
        case K::kUnmodeled:
            known = false;
            break;
    }
    if (!known) {
        op.kind = op.kind == dag::OpKind::kOther ? dag::OpKind::kOther : op.kind;
        op.reads = AllMemory(c.device);
        op.writes = op.reads;
        op.label += " (access unknown: all memory)";
    }
    c.out->push_back(std::move(op));
}

void CommandOps(Ctx& c, const CommandBuffer& cb) {
    for (const RecordedCommand& cmd : cb.commands) CommandOp(c, cmd);
}

}  // namespace

std::vector<dag::Op> OpsOfCommandBuffers(DeviceData& device, const std::vector<CommandBuffer*>& cbs,
                                         dag::QueueId queue, uint64_t seq) {
    std::vector<dag::Op> ops;
    Ctx c{device, queue, seq, &ops};
    for (CommandBuffer* cb : cbs) {
        if (cb != nullptr) CommandOps(c, *cb);
    }
    return ops;
}

}  // namespace gpucr::vk
