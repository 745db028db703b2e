// command_log.h — a complete, replayable log of every command buffer, to record it again on a new driver
// device after gpucr re-created the driver objects (resume, migration).
//
// Every vkCmd* entry point (generated, vk_gen.py) appends one LoggedCommand after the driver call: a
// replay function and a pack of the call's arguments, pointers deep-copied into the log's arena (struct
// arrays, pNext chains, strings, push-constant bytes...). Replay calls the layer's own entry point with the
// application's (wrapped) handles, so each handle is unwrapped to whatever driver object its wrapper points
// at by then, and the hand-written PostCall hooks run again (CommandBuffer::commands is rebuilt). A command
// whose arguments gpucr cannot copy is kept by name only ("unreplayable"). The log also keeps the ids of
// every object the commands reference, to tell whether the buffer is still valid.
//
// vkBeginCommandBuffer clears the log and keeps a copy of its begin info (state kRecording);
// vkEndCommandBuffer makes it kExecutable; vkResetCommandBuffer, vkResetCommandPool and the implicit reset
// of vkBeginCommandBuffer clear it; freeing the buffer frees it.
//
// The lead's resume, with the gate closed (gate.h), after re-creating the device, pools and objects:
//
//   GateOwner owner;
//   // Secondary buffers first: a primary's vkCmdExecuteCommands unwraps them to their new driver buffers.
//   for (CommandBuffer* cb : secondaries_then_primaries) {
//       ReplayCheck check = CheckReplayable(*cb, device.objects);
//       if (!check.ok) {
//           if (check.invalid) { ResetLog(*cb); continue; }   // invalid per the spec: not recorded again
//           return Fail(check.reason);  // "command buffer #12 holds vkCmdFoo, which gpucr cannot record again"
//       }
//       cb->driver = new_driver_command_buffer;  // allocated from the re-created pool, loader data set
//       if (VkResult r = ReplayCommandBuffer(*cb); r != VK_SUCCESS) return Fail(r);
//   }
#pragma once

#include <vulkan/vulkan.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "layers/vulkan/objects.h"

namespace gpucr::vk {

struct CommandBuffer;
class ObjectTable;

// ---- API for the checkpoint code ----

enum class CommandBufferState { kInitial, kRecording, kExecutable };

struct ReplayCheck {
    bool ok = true;
    bool invalid = false;  // references a destroyed object: invalid per the spec, not recorded again
    std::string reason;    // when !ok, one line for the user
};

// ok=false + invalid=true: the buffer references a destroyed object (the caller resets its log).
// ok=false + invalid=false: it holds an unreplayable command; reason names it
// ("command buffer #12 holds vkCmdFoo, which gpucr cannot record again").
// A buffer in the initial state is always ok.
ReplayCheck CheckReplayable(const CommandBuffer& cb, const ObjectTable& objects);

// Records cb's log again into the driver command buffer cb.driver points at now (the caller has re-pointed
// it and marks its thread GateOwner): vkBeginCommandBuffer with the kept begin info, every command, then
// vkEndCommandBuffer if the buffer was executable, all through the layer's entry points. Nothing is
// appended to any log meanwhile. A buffer in the initial state does nothing. Returns the first failing
// VkResult (VK_ERROR_FEATURE_NOT_PRESENT for a log CheckReplayable refuses). Secondary buffers must be
// replayed before the primaries that execute them.
[[nodiscard]] VkResult ReplayCommandBuffer(CommandBuffer& cb);

CommandBufferState StateOf(const CommandBuffer& cb);

// Clears cb's log (initial state), e.g. for a buffer CheckReplayable found invalid.
void ResetLog(CommandBuffer& cb) noexcept;

// ---- the log ----

// Bump allocator that lives as long as the log; Clear() keeps the last (largest) block for the next
// recording. Allocation failure throws std::bad_alloc.
class LogArena {
public:
    LogArena() = default;
    LogArena(const LogArena&) = delete;
    LogArena& operator=(const LogArena&) = delete;
    ~LogArena();

    void* AllocBytes(size_t size, size_t align = alignof(std::max_align_t)) {
        size_t start = (used_ + align - 1) & ~(align - 1);
        if (head_ != nullptr && start + size <= head_->capacity) {
            used_ = start + size;
            return head_->data() + start;
        }
        return Grow(size);
    }
    void Clear() noexcept;
    size_t reserved() const noexcept;  // bytes held, for statistics

private:
    struct Block {
        Block* next;
        size_t capacity;
        unsigned char* data() { return reinterpret_cast<unsigned char*>(this + 1); }
    };
    static_assert(sizeof(Block) % alignof(std::max_align_t) == 0, "block payload stays max-aligned");
    void* Grow(size_t size);

    Block* head_ = nullptr;
    size_t used_ = 0;
};

struct LoggedCommand {
    using ReplayFn = void (*)(VkCommandBuffer command_buffer, const void* args);
    ReplayFn replay = nullptr;   // null: unreplayable
    const void* args = nullptr;  // argument pack in the log's arena
    const char* name = nullptr;  // static string
};

class CommandLog {
public:
    CommandLog() = default;
    CommandLog(const CommandLog&) = delete;
    CommandLog& operator=(const CommandLog&) = delete;

    CommandBufferState state() const noexcept { return state_; }
    // Generated entry points append only while recording and never during a replay.
    bool appending() const noexcept { return state_ == CommandBufferState::kRecording && !t_replaying_; }
    static bool Replaying() noexcept { return t_replaying_; }

    // Lifecycle, from the hooks (hooks_record.cpp).
    void Begin(VkCommandBufferLevel level, const VkCommandBufferBeginInfo* info) noexcept;
    void End() noexcept;
    void Reset() noexcept;

    // Appending, from the generated entry points.
    void Add(const char* name, LoggedCommand::ReplayFn replay, const void* args);  // may throw bad_alloc
    void AddUnreplayable(const char* name) noexcept;
    void AddId(uint64_t id);
    LogArena& arena() noexcept { return arena_; }

    const std::vector<LoggedCommand>& commands() const noexcept { return commands_; }
    const VkCommandBufferBeginInfo* begin_info() const noexcept { return begin_info_; }
    const char* unreplayable() const noexcept { return unreplayable_; }  // the first one's name, or null
    // Ids of every object the commands (and the begin info) reference; may hold duplicates.
    const std::vector<uint64_t>& referenced_ids() const noexcept { return ids_; }

    // Marks the calling thread as replaying for the scope's lifetime.
    class ReplayScope {
    public:
        ReplayScope() noexcept : was_(t_replaying_) { t_replaying_ = true; }
        ~ReplayScope() { t_replaying_ = was_; }
        ReplayScope(const ReplayScope&) = delete;
        ReplayScope& operator=(const ReplayScope&) = delete;

    private:
        bool was_;
    };

private:
    void Clear() noexcept;

    static inline thread_local bool t_replaying_ = false;
    CommandBufferState state_ = CommandBufferState::kInitial;
    LogArena arena_;
    std::vector<LoggedCommand> commands_;
    std::vector<uint64_t> ids_;
    size_t ids_compact_at_ = 64;
    const VkCommandBufferBeginInfo* begin_info_ = nullptr;
    const char* unreplayable_ = nullptr;
};

// ---- for generated code (vk_log.cpp, vk_wrap_*.cpp) ----

// Copies one command's arguments into a log's arena and records the handles it meets.
class LogCopier {
public:
    explicit LogCopier(CommandLog& log) noexcept : log_(log) {}

    void* AllocBytes(size_t size) { return log_.arena().AllocBytes(size); }
    template <typename T>
    T* Alloc(size_t count = 1) {
        return static_cast<T*>(log_.arena().AllocBytes(sizeof(T) * count, alignof(T)));
    }
    // Plain data (no pointers, no handles).
    template <typename T>
    const T* CopyArray(const T* src, size_t count) {
        if (src == nullptr || count == 0) return nullptr;
        T* dst = Alloc<T>(count);
        std::memcpy(static_cast<void*>(dst), src, sizeof(T) * count);
        return dst;
    }
    // Elements `stride` bytes apart (vkCmdDrawMultiEXT).
    template <typename T>
    const T* CopyStrided(const T* src, size_t count, size_t stride) {
        if (src == nullptr || count == 0) return nullptr;
        return static_cast<const T*>(CopyBytesAligned(src, (count - 1) * stride + sizeof(T), alignof(T)));
    }
    const void* CopyBytes(const void* src, size_t size) {
        return CopyBytesAligned(src, size, alignof(std::max_align_t));
    }
    const char* CopyString(const char* s);
    const char* const* CopyStrings(const char* const* s, size_t count);
    template <typename H>
    void Ref(H handle) {
        if (handle == VK_NULL_HANDLE) return;
        if constexpr (kIsDispatchable<H>) {
            log_.AddId(reinterpret_cast<const DispatchableObject*>(handle)->id);
        } else {
            log_.AddId(reinterpret_cast<const Object*>(handle)->id);
        }
    }
    template <typename H>
    const H* CopyHandles(const H* src, size_t count) {
        const H* dst = CopyArray(src, count);
        for (size_t i = 0; dst != nullptr && i < count; ++i) Ref(dst[i]);
        return dst;
    }
    // The arguments cannot be copied (e.g. an unknown structure in a pNext chain).
    void Fail(const char* why, int detail = 0) noexcept;
    bool ok() const noexcept { return why_ == nullptr; }
    // Appends the command: replayable if every argument was copied, else by name only.
    void Finish(const char* name, LoggedCommand::ReplayFn replay, const void* args);

private:
    const void* CopyBytesAligned(const void* src, size_t size, size_t align);

    CommandLog& log_;
    const char* why_ = nullptr;
    int detail_ = 0;
};

// VkWriteDescriptorSet.pImageInfo (wrap_rules.json log_custom_members): only the handles the type uses.
const VkDescriptorImageInfo* LogDescriptorImageInfos(LogCopier& c, const VkDescriptorImageInfo* infos, uint32_t count,
                                                     VkDescriptorType type);

}  // namespace gpucr::vk
