// reference.h — the specification of the deterministic example workloads, and their CPU reference.
//
// One source of truth for the examples of DESIGN.md §7 (vk_stencil, vk_serving, vk_manybuf):
// the memory objects each example creates (in creation order, with sizes and roles), their
// initial contents, the host writes of vk_serving, what each GPU step computes, and the
// checksum the examples print. The Vulkan examples use it for layout and initial data; tests
// use it to predict, byte for byte, the content of every memory object after K GPU steps.
// No Vulkan dependency.
//
//   WorkloadParams params{.kind = ExampleKind::kStencil, .mib = 4};
//   auto state = ComputeReferenceState(params, /*gpu_steps=*/10, /*host_steps=*/10);
//   if (!state.ok()) return state.status();
//   uint64_t expected = StateChecksum(*state);   // == what "vk_stencil --mib 4 --steps 10" prints
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dag/status.h"

namespace gpucr::examples {

enum class ExampleKind { kStencil, kServing, kManybuf };

// "stencil" | "serving" | "manybuf".
const char* ExampleName(ExampleKind kind);
Result<ExampleKind> ParseExampleKind(std::string_view name);

// Every memory object size is a multiple of this (so a buffer fills its allocation exactly).
inline constexpr uint64_t kBlockBytes = 4096;
inline constexpr uint64_t kMiB = 1024 * 1024;
inline constexpr uint32_t kWorkgroupSize = 256;  // local_size_x of every shader
inline constexpr uint64_t kMetaBytes = 4096;     // meta buffer; word 0 = completed GPU steps

// vk_serving constants (also passed to the shader as push constants).
inline constexpr uint64_t kServingActivationBytes = 64 * 1024;
inline constexpr uint64_t kServingInputBytes = 4096;  // word 0 = header (request + 1), then data
inline constexpr uint32_t kServingWeightReads = 4;    // reads of W per activation and request
inline constexpr uint32_t kServingIndexStride = 2654435761u;
inline constexpr uint32_t kServingRequestStride = 40503u;
inline constexpr uint32_t kServingReadStride = 0x9E3779B1u;

inline constexpr uint32_t kDefaultManybufBuffers = 64;

// State sizes: up to kMaxMib (the cu_* kernels index words with 64 bits), kMaxMib32 for the vk_*
// and cl_* examples (32-bit word indices).
inline constexpr uint32_t kMaxMib = 32768;
inline constexpr uint32_t kMaxMib32 = 16384;

struct WorkloadParams {
    ExampleKind kind = ExampleKind::kStencil;
    uint32_t mib = 64;                          // state size in MiB (>= 1)
    uint32_t buffers = kDefaultManybufBuffers;  // vk_manybuf only (>= 2)
};

// How a memory object's initial content is produced.
enum class InitKind { kPrng, kZero };

// One buffer of an example, bound to its own VkDeviceMemory (no sub-allocation).
struct BufferSpec {
    std::string role;  // "A", "B", "weights", "activations", "input", "meta", "buf<b>"
    uint64_t size = 0;  // bytes, multiple of kBlockBytes
    InitKind init = InitKind::kZero;
    uint32_t seed = 0;  // for kPrng
    bool host_written = false;  // persistently mapped and written by the host during the steps
};

// The memory objects of an example in creation order (the order tests identify them by).
//   stencil: A, B, meta        serving: weights, activations, input, meta
//   manybuf: buf0 .. buf<N-1>, meta
[[nodiscard]] Result<std::vector<BufferSpec>> Layout(const WorkloadParams& params);

// Bytes of state per manybuf buffer: floor(mib MiB / buffers) rounded down to kBlockBytes, >= kBlockBytes.
uint64_t ManybufBufferBytes(const WorkloadParams& params);

// Integer mixer behind every pseudo-random value of the examples.
constexpr uint32_t Mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

// Word `index` of a PRNG-initialised buffer with `seed`.
constexpr uint32_t PrngWord(uint32_t seed, uint32_t index) { return Mix32(index ^ Mix32(seed + 0x9E3779B9u)); }

// Writes the initial content of `spec` into `words` (size = spec.size / 4).
void FillInitial(const BufferSpec& spec, std::span<uint32_t> words);

// The host's write of vk_serving's input buffer before request `request` (0-based): the data
// words first, then the header word 0 = request + 1. `words` is the whole input buffer.
void WriteServingInput(uint64_t request, std::span<uint32_t> words);

// State of every memory object (creation order) after `gpu_steps` completed GPU steps and
// `host_steps` host writes (vk_serving: host_steps is gpu_steps or gpu_steps + 1, the latter
// when the host has prepared the next request but the GPU has not run it; other examples
// ignore it). Fails on invalid parameters.
using State = std::vector<std::vector<uint32_t>>;
[[nodiscard]] Result<State> ComputeReferenceState(const WorkloadParams& params, uint64_t gpu_steps,
                                                  std::optional<uint64_t> host_steps = std::nullopt);

// One GPU step of each example, in place on a state laid out as Layout() says (for tests and
// for ComputeReferenceState). `step` is 0-based; afterwards meta[0] == step + 1.
void StencilStep(State& state, uint32_t step);
void ServingStep(State& state, uint32_t step);
void ManybufStep(State& state, uint32_t step);

// The checksum the examples print: XXH64 (seed 0) over the bytes of every memory object,
// concatenated in creation order. Streaming form for the examples' read-back.
class StateHasher {
public:
    StateHasher();
    ~StateHasher();
    StateHasher(const StateHasher&) = delete;
    StateHasher& operator=(const StateHasher&) = delete;
    void Update(const void* data, size_t bytes);
    uint64_t Digest() const;

private:
    void* state_;  // XXH64_state_t*, opaque here so that users need no xxhash header
};
uint64_t StateChecksum(const State& state);

// "checksum: 0123456789abcdef" (the examples' last stdout line, without newline).
std::string ChecksumLine(uint64_t checksum);

}  // namespace gpucr::examples
