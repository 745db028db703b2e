#include "examples/reference.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>

namespace gpucr::examples {
namespace {

constexpr uint32_t kGolden = 0x9E3779B9u;

// Seeds of the PRNG-initialised buffers.
constexpr uint32_t kSeedStencilA = 1;
constexpr uint32_t kSeedStencilB = 2;
constexpr uint32_t kSeedWeights = 3;
constexpr uint32_t kSeedActivations = 4;
constexpr uint32_t kSeedManybufBase = 16;

BufferSpec Prng(std::string role, uint64_t size, uint32_t seed) {
    return BufferSpec{std::move(role), size, InitKind::kPrng, seed, false};
}
BufferSpec Zero(std::string role, uint64_t size, bool host_written = false) {
    return BufferSpec{std::move(role), size, InitKind::kZero, 0, host_written};
}

// The stencil of vk_stencil: out[i] from in[i-1], in[i], in[i+1] (wrap-around), pass index t.
inline uint32_t StencilWord(uint32_t left, uint32_t mid, uint32_t right, uint32_t t) {
    return left * 3u + mid * 5u + (right ^ (mid >> 3)) + t * kGolden;
}

void StencilPass(const std::vector<uint32_t>& in, std::vector<uint32_t>& out, uint32_t t) {
    const size_t n = in.size();
    if (n == 1) {
        out[0] = StencilWord(in[0], in[0], in[0], t);
        return;
    }
    out[0] = StencilWord(in[n - 1], in[0], in[1], t);
    for (size_t i = 1; i + 1 < n; ++i) out[i] = StencilWord(in[i - 1], in[i], in[i + 1], t);
    out[n - 1] = StencilWord(in[n - 2], in[n - 1], in[0], t);
}

inline uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

}  // namespace

const char* ExampleName(ExampleKind kind) {
    switch (kind) {
        case ExampleKind::kStencil: return "stencil";
        case ExampleKind::kServing: return "serving";
        case ExampleKind::kManybuf: return "manybuf";
    }
    return "unknown";
}

Result<ExampleKind> ParseExampleKind(std::string_view name) {
    for (ExampleKind k : {ExampleKind::kStencil, ExampleKind::kServing, ExampleKind::kManybuf}) {
        if (name == ExampleName(k)) return k;
    }
    return InvalidArgument("unknown example '" + std::string(name) + "' (expected stencil, serving or manybuf)");
}

uint64_t ManybufBufferBytes(const WorkloadParams& params) {
    if (params.buffers == 0) return kBlockBytes;
    uint64_t per = uint64_t{params.mib} * kMiB / params.buffers / kBlockBytes * kBlockBytes;
    return per < kBlockBytes ? kBlockBytes : per;
}

Result<std::vector<BufferSpec>> Layout(const WorkloadParams& params) {
    if (params.mib < 1 || params.mib > kMaxMib) {
        return InvalidArgument("--mib must be between 1 and " + std::to_string(kMaxMib));
    }
    const uint64_t state = uint64_t{params.mib} * kMiB;
    std::vector<BufferSpec> specs;
    switch (params.kind) {
        case ExampleKind::kStencil:
            specs.push_back(Prng("A", state / 2, kSeedStencilA));
            specs.push_back(Prng("B", state / 2, kSeedStencilB));
            break;
        case ExampleKind::kServing:
            specs.push_back(Prng("weights", state, kSeedWeights));
            specs.push_back(Prng("activations", kServingActivationBytes, kSeedActivations));
            specs.push_back(Zero("input", kServingInputBytes, /*host_written=*/true));
            break;
        case ExampleKind::kManybuf: {
            if (params.buffers < 2 || params.buffers > 4096) {
                return InvalidArgument("--buffers must be between 2 and 4096");
            }
            const uint64_t per = ManybufBufferBytes(params);
            for (uint32_t b = 0; b < params.buffers; ++b) {
                specs.push_back(Prng("buf" + std::to_string(b), per, kSeedManybufBase + b));
            }
            break;
        }
    }
    specs.push_back(Zero("meta", kMetaBytes));
    return specs;
}

void FillInitial(const BufferSpec& spec, std::span<uint32_t> words) {
    if (spec.init == InitKind::kZero) {
        std::fill(words.begin(), words.end(), 0u);
        return;
    }
    const uint32_t key = Mix32(spec.seed + kGolden);
    for (size_t i = 0; i < words.size(); ++i) words[i] = Mix32(static_cast<uint32_t>(i) ^ key);
}

void WriteServingInput(uint64_t request, std::span<uint32_t> words) {
    const uint32_t s = static_cast<uint32_t>(request);
    for (size_t i = 1; i < words.size(); ++i) {
        words[i] = Mix32(static_cast<uint32_t>(i) + s * 0x632BE5ABu + 0x5BD1E995u);
    }
    // The header goes last: a reader that sees header == request + 1 sees the whole request.
    std::atomic_ref<uint32_t>(words[0]).store(s + 1, std::memory_order_release);
}

void StencilStep(State& state, uint32_t step) {
    StencilPass(state[0], state[1], 2 * step);      // B <- f(A)
    StencilPass(state[1], state[0], 2 * step + 1);  // A <- f(B)
    state[2][0] = step + 1;
}

void ServingStep(State& state, uint32_t step) {
    const std::vector<uint32_t>& weights = state[0];
    std::vector<uint32_t>& act = state[1];
    const std::vector<uint32_t>& input = state[2];
    const uint32_t n_weights = static_cast<uint32_t>(weights.size());
    const uint32_t n_input = static_cast<uint32_t>(input.size()) - 1;
    for (uint32_t j = 0; j < act.size(); ++j) {
        uint32_t a = act[j];
        const uint32_t x = input[1 + j % n_input];
        for (uint32_t r = 0; r < kServingWeightReads; ++r) {
            const uint32_t idx = j * kServingIndexStride + step * kServingRequestStride + r * kServingReadStride;
            a = ((a ^ weights[idx % n_weights]) * 0x01000193u) + (x >> r) + step;
        }
        act[j] = a;
    }
    state[3][0] = step + 1;
}

void ManybufStep(State& state, uint32_t step) {
    const uint32_t buffers = static_cast<uint32_t>(state.size()) - 1;
    // Ascending b, each update seeing the previous ones: the GPU orders them with barriers.
    for (uint32_t b = 0; b < buffers; ++b) {
        if ((b + step) % 4 != 0) continue;
        std::vector<uint32_t>& out = state[b];
        const std::vector<uint32_t>& other = state[(b + 1) % buffers];
        const uint32_t n = static_cast<uint32_t>(out.size());
        const uint32_t salt = step * 0x85EBCA6Bu;
        for (uint32_t i = 0; i < n; ++i) out[i] = Rotl(out[i], 7) ^ (other[(i * 5u + step) % n] + salt);
    }
    state[buffers][0] = step + 1;
}

Result<State> ComputeReferenceState(const WorkloadParams& params, uint64_t gpu_steps,
                                    std::optional<uint64_t> host_steps) {
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    const uint64_t hosts = host_steps.value_or(gpu_steps);
    if (gpu_steps > UINT32_MAX) return InvalidArgument("gpu steps must fit in 32 bits");
    if (params.kind == ExampleKind::kServing && hosts != gpu_steps && hosts != gpu_steps + 1) {
        return InvalidArgument("host steps must be gpu steps or gpu steps + 1");
    }
    State state(specs.size());
    for (size_t m = 0; m < specs.size(); ++m) {
        state[m].resize(specs[m].size / 4);
        FillInitial(specs[m], state[m]);
    }
    for (uint32_t s = 0; s < gpu_steps; ++s) {
        switch (params.kind) {
            case ExampleKind::kStencil: StencilStep(state, s); break;
            case ExampleKind::kServing:
                WriteServingInput(s, state[2]);
                ServingStep(state, s);
                break;
            case ExampleKind::kManybuf: ManybufStep(state, s); break;
        }
    }
    if (params.kind == ExampleKind::kServing && hosts > gpu_steps) WriteServingInput(gpu_steps, state[2]);
    return state;
}

StateHasher::StateHasher() : state_(XXH64_createState()) { XXH64_reset(static_cast<XXH64_state_t*>(state_), 0); }
StateHasher::~StateHasher() { XXH64_freeState(static_cast<XXH64_state_t*>(state_)); }
void StateHasher::Update(const void* data, size_t bytes) {
    XXH64_update(static_cast<XXH64_state_t*>(state_), data, bytes);
}
uint64_t StateHasher::Digest() const { return XXH64_digest(static_cast<const XXH64_state_t*>(state_)); }

uint64_t StateChecksum(const State& state) {
    StateHasher hasher;
    for (const auto& words : state) hasher.Update(words.data(), words.size() * sizeof(uint32_t));
    return hasher.Digest();
}

std::string ChecksumLine(uint64_t checksum) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "checksum: %016" PRIx64, checksum);
    return buf;
}

}  // namespace gpucr::examples
