// params.cpp — kernel parameter packing and pointer speculation (see params.h).
#include "backends/cuda/params.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace gpucr::cuda {
namespace {

uint64_t LoadLe64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// Appends the hits among the aligned words of buffer[begin, end).
void ScanRange(std::span<const uint8_t> buffer, uint64_t begin, uint64_t end, uint32_t param, const AddrMap& map,
               std::vector<PointerHit>& hits) {
    end = std::min<uint64_t>(end, buffer.size());
    for (uint64_t at = (begin + 7) & ~uint64_t{7}; at + 8 <= end; at += 8) {
        uint64_t word = LoadLe64(buffer.data() + at);
        if (const Allocation* a = map.Find(word)) {
            hits.push_back({.resource = a->id, .address = word, .param = param, .offset = static_cast<uint32_t>(at)});
        }
    }
}

}  // namespace

uint32_t ParamLayout::Total() const {
    uint64_t total = 0;
    for (const Param& p : params) total = std::max(total, uint64_t{p.offset} + p.size);
    return static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX));
}

std::vector<uint8_t> PackParams(const ParamLayout& layout, void* const* kernel_params) {
    std::vector<uint8_t> buffer(layout.Total(), 0);
    if (kernel_params == nullptr) return buffer;
    for (size_t i = 0; i < layout.params.size(); ++i) {
        const ParamLayout::Param& p = layout.params[i];
        if (kernel_params[i] == nullptr || p.size == 0 || uint64_t{p.offset} + p.size > buffer.size()) continue;
        std::memcpy(buffer.data() + p.offset, kernel_params[i], p.size);
    }
    return buffer;
}

std::optional<std::span<const uint8_t>> ExtraBuffer(void* const* extra) {
    if (extra == nullptr) return std::nullopt;
    const void* pointer = nullptr;
    const size_t* size = nullptr;
    bool have_pointer = false;
    // Two known keys, each once: a well-formed array ends within three pairs.
    for (int i = 0; i < 5; i += 2) {
        void* key = extra[i];
        if (key == kLaunchParamEnd) {
            if (!have_pointer || size == nullptr) return std::nullopt;
            if (*size > kMaxParamBufferSize || (pointer == nullptr && *size != 0)) return std::nullopt;
            return std::span<const uint8_t>(static_cast<const uint8_t*>(pointer), *size);
        }
        if (key == kLaunchParamBufferPointer && !have_pointer) {
            pointer = extra[i + 1];
            have_pointer = true;
        } else if (key == kLaunchParamBufferSize && size == nullptr) {
            size = static_cast<const size_t*>(extra[i + 1]);
            if (size == nullptr) return std::nullopt;
        } else {
            return std::nullopt;  // unknown or repeated key
        }
    }
    return std::nullopt;  // no END where it must be
}

std::vector<PointerHit> ScanForPointers(std::span<const uint8_t> buffer, const ParamLayout& layout,
                                        const AddrMap& map) {
    std::vector<PointerHit> hits;
    if (!layout.known) {
        ScanRange(buffer, 0, buffer.size(), kUnknownParam, map, hits);
        return hits;
    }
    for (size_t i = 0; i < layout.params.size(); ++i) {
        const ParamLayout::Param& p = layout.params[i];
        ScanRange(buffer, p.offset, uint64_t{p.offset} + p.size, static_cast<uint32_t>(i), map, hits);
    }
    return hits;
}

std::vector<dag::Access> SpeculateAccesses(std::span<const PointerHit> hits, const AddrMap& map) {
    std::map<uint64_t, uint64_t> sizes;  // resource -> allocation size
    for (const PointerHit& hit : hits) {
        const Allocation* a = map.Find(hit.address);
        if (a != nullptr && a->id == hit.resource) sizes.emplace(a->id, a->size);
    }
    std::vector<dag::Access> accesses;
    accesses.reserve(sizes.size());
    for (const auto& [resource, size] : sizes) {
        accesses.push_back({.resource = resource, .offset = 0, .size = size, .certainty = dag::Certainty::kSpeculated});
    }
    return accesses;
}

}  // namespace gpucr::cuda
