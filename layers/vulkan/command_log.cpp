// command_log.cpp — see command_log.h.
#include "layers/vulkan/command_log.h"

#include <algorithm>
#include <cstdlib>

#include "dag/log.h"
#include "fmt/format.h"
#include "layers/vulkan/object_table.h"
#include "layers/vulkan/unwrap_custom.h"
#include "layers/vulkan/wrap.h"
#include "vk_entry.h"
#include "vk_log.h"

namespace gpucr::vk {

namespace {

constexpr size_t kFirstBlock = 1024;
constexpr size_t kLargestGrowth = 64 * 1024;

}  // namespace

// ---- LogArena ----

LogArena::~LogArena() {
    while (head_ != nullptr) {
        Block* next = head_->next;
        std::free(head_);
        head_ = next;
    }
}

void* LogArena::Grow(size_t size) {
    size_t capacity = head_ == nullptr ? kFirstBlock : std::min(head_->capacity * 2, kLargestGrowth);
    capacity = std::max(capacity, size);
    auto* b = static_cast<Block*>(std::malloc(sizeof(Block) + capacity));
    if (b == nullptr) throw std::bad_alloc();
    b->next = head_;
    b->capacity = capacity;
    head_ = b;
    used_ = size;
    return b->data();
}

void LogArena::Clear() noexcept {
    // Keep the largest block: a buffer recorded again and again allocates nothing after its first time.
    Block* keep = head_;
    for (Block* b = head_; b != nullptr; b = b->next) {
        if (b->capacity > keep->capacity) keep = b;
    }
    while (head_ != nullptr) {
        Block* next = head_->next;
        if (head_ != keep) std::free(head_);
        head_ = next;
    }
    head_ = keep;
    if (head_ != nullptr) head_->next = nullptr;
    used_ = 0;
}

size_t LogArena::reserved() const noexcept {
    size_t total = 0;
    for (Block* b = head_; b != nullptr; b = b->next) total += b->capacity;
    return total;
}

// ---- CommandLog ----

void CommandLog::Clear() noexcept {
    arena_.Clear();
    commands_.clear();
    ids_.clear();
    ids_compact_at_ = 64;
    begin_info_ = nullptr;
    unreplayable_ = nullptr;
}

void CommandLog::Begin(VkCommandBufferLevel level, const VkCommandBufferBeginInfo* info) noexcept {
    Clear();
    state_ = CommandBufferState::kRecording;
    if (info == nullptr) return;
    try {
        LogCopier c(*this);
        auto* copy = c.Alloc<VkCommandBufferBeginInfo>();
        *copy = *info;
        copy->pNext = LogChain(c, info->pNext);
        // Ignored (possibly garbage) for primary buffers.
        copy->pInheritanceInfo = level == VK_COMMAND_BUFFER_LEVEL_SECONDARY && info->pInheritanceInfo != nullptr
                                     ? LogCopy(c, info->pInheritanceInfo, 1)
                                     : nullptr;
        begin_info_ = copy;
        if (!c.ok()) AddUnreplayable("vkBeginCommandBuffer");
    } catch (...) {
        AddUnreplayable("vkBeginCommandBuffer");
    }
}

void CommandLog::End() noexcept {
    if (state_ == CommandBufferState::kRecording) state_ = CommandBufferState::kExecutable;
}

void CommandLog::Reset() noexcept {
    Clear();
    state_ = CommandBufferState::kInitial;
}

void CommandLog::Add(const char* name, LoggedCommand::ReplayFn replay, const void* args) {
    commands_.push_back({replay, args, name});
}

void CommandLog::AddUnreplayable(const char* name) noexcept {
    if (unreplayable_ == nullptr) unreplayable_ = name;
    try {
        commands_.push_back({nullptr, nullptr, name});
    } catch (...) {
        // unreplayable_ already says enough.
    }
}

void CommandLog::AddId(uint64_t id) {
    if (!ids_.empty() && ids_.back() == id) return;
    ids_.push_back(id);
    if (ids_.size() >= ids_compact_at_) {
        // Recording references the same few objects again and again: keep the list short.
        std::sort(ids_.begin(), ids_.end());
        ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
        ids_compact_at_ = std::max<size_t>(64, ids_.size() * 2);
    }
}

// ---- LogCopier ----

const void* LogCopier::CopyBytesAligned(const void* src, size_t size, size_t align) {
    if (src == nullptr || size == 0) return nullptr;
    void* dst = log_.arena().AllocBytes(size, align);
    std::memcpy(dst, src, size);
    return dst;
}

const char* LogCopier::CopyString(const char* s) {
    if (s == nullptr) return nullptr;
    const size_t n = std::strlen(s) + 1;
    auto* dst = static_cast<char*>(log_.arena().AllocBytes(n, 1));
    std::memcpy(dst, s, n);
    return dst;
}

const char* const* LogCopier::CopyStrings(const char* const* s, size_t count) {
    if (s == nullptr || count == 0) return nullptr;
    auto** dst = Alloc<const char*>(count);
    for (size_t i = 0; i < count; ++i) dst[i] = CopyString(s[i]);
    return dst;
}

void LogCopier::Fail(const char* why, int detail) noexcept {
    if (why_ != nullptr) return;
    why_ = why;
    detail_ = detail;
}

void LogCopier::Finish(const char* name, LoggedCommand::ReplayFn replay, const void* args) {
    if (why_ == nullptr) {
        log_.Add(name, replay, args);
        return;
    }
    GPUCR_LOG_DEBUG("vk", "{} cannot be recorded again: {} ({})", name, why_, detail_);
    log_.AddUnreplayable(name);
}

const VkDescriptorImageInfo* LogDescriptorImageInfos(LogCopier& c, const VkDescriptorImageInfo* infos, uint32_t count,
                                                     VkDescriptorType type) {
    const VkDescriptorImageInfo* copy = c.CopyArray(infos, count);
    for (uint32_t i = 0; copy != nullptr && i < count; ++i) {
        // The same fields UnwrapDescriptorImageInfos reads: the others may hold garbage.
        if (DescriptorUsesSampler(type)) c.Ref(copy[i].sampler);
        if (type != VK_DESCRIPTOR_TYPE_SAMPLER) c.Ref(copy[i].imageView);
    }
    return copy;
}

// ---- API ----

CommandBufferState StateOf(const CommandBuffer& cb) {
    return cb.log == nullptr ? CommandBufferState::kInitial : cb.log->state();
}

void ResetLog(CommandBuffer& cb) noexcept {
    if (cb.log != nullptr) cb.log->Reset();
}

ReplayCheck CheckReplayable(const CommandBuffer& cb, const ObjectTable& objects) {
    ReplayCheck check;
    if (StateOf(cb) == CommandBufferState::kInitial) return check;
    for (uint64_t id : cb.log->referenced_ids()) {
        if (!objects.Contains(id)) {
            check.ok = false;
            check.invalid = true;
            check.reason = fmt::format("command buffer #{} references object #{}, which was destroyed", cb.id, id);
            return check;
        }
    }
    if (const char* name = cb.log->unreplayable()) {
        check.ok = false;
        check.reason = fmt::format("command buffer #{} holds {}, which gpucr cannot record again", cb.id, name);
    }
    return check;
}

VkResult ReplayCommandBuffer(CommandBuffer& cb) {
    const CommandLog* log = cb.log.get();
    if (log == nullptr || log->state() == CommandBufferState::kInitial) return VK_SUCCESS;
    if (log->unreplayable() != nullptr) {
        GPUCR_LOG_ERROR("vk", "command buffer #{} holds {}, which gpucr cannot record again", cb.id,
                        log->unreplayable());
        return VK_ERROR_FEATURE_NOT_PRESENT;
    }
    CommandLog::ReplayScope replaying;
    auto app = reinterpret_cast<VkCommandBuffer>(&cb);
    VkCommandBufferBeginInfo plain{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    const VkCommandBufferBeginInfo* begin = log->begin_info() != nullptr ? log->begin_info() : &plain;
    if (VkResult r = entry::vkBeginCommandBuffer(app, begin); r != VK_SUCCESS) return r;
    for (const LoggedCommand& c : log->commands()) c.replay(app, c.args);
    if (log->state() == CommandBufferState::kExecutable) return entry::vkEndCommandBuffer(app);
    return VK_SUCCESS;
}

}  // namespace gpucr::vk
