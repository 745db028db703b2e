// params.h — kernel parameter buffers: packing, the `extra` launch array, and pointer speculation.
//
// A kernel's parameters reach the driver either as `kernelParams` (one pointer per parameter,
// which the driver copies into one flat buffer at each parameter's offset) or already flat, in
// the `extra` array of cuLaunchKernel / cuLaunchKernelEx. gpucr reads the flat buffer: every
// 8-byte-aligned word that falls inside a known allocation is speculated to be a pointer to that
// buffer, words inside struct parameters included. Which way the kernel uses the buffer is
// unknown, so the caller treats each speculated resource as read and written until validated.
//
//   std::vector<uint8_t> flat = PackParams(layout, kernel_params);   // or ExtraBuffer(extra)
//   std::vector<PointerHit> hits = ScanForPointers(flat, layout, addr_map);
//   op.reads = SpeculateAccesses(hits, addr_map);
//   op.writes = op.reads;
//
// Needs no CUDA headers: the `extra` keys are defined here with the driver's values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "backends/cuda/addr_map.h"
#include "dag/dag.h"

namespace gpucr::cuda {

// Keys of cuLaunchKernel's `extra` array (cuda.h: CU_LAUNCH_PARAM_*).
inline void* const kLaunchParamEnd = reinterpret_cast<void*>(0x00);
inline void* const kLaunchParamBufferPointer = reinterpret_cast<void*>(0x01);
inline void* const kLaunchParamBufferSize = reinterpret_cast<void*>(0x02);
// Largest parameter buffer the driver accepts (32764 bytes since CUDA 12.1); a larger size in
// `extra` is taken for garbage rather than read.
inline constexpr size_t kMaxParamBufferSize = 32768;

// Offsets and sizes of a kernel's parameters in its flat parameter buffer, in declaration order.
// known == false: the layout could not be obtained (neither driver nor cubin told us).
struct ParamLayout {
    struct Param {
        uint32_t offset = 0;
        uint32_t size = 0;
    };
    std::vector<Param> params;
    bool known = false;

    // Bytes the parameters span: the largest offset + size (0 without parameters).
    [[nodiscard]] uint32_t Total() const;
};

// Copies each parameter (kernel_params[i] points to parameter i's bytes) to its offset in one
// buffer of layout.Total() bytes, as the driver does. A null kernel_params, or a null entry,
// leaves those bytes zero.
[[nodiscard]] std::vector<uint8_t> PackParams(const ParamLayout& layout, void* const* kernel_params);

// The flat parameter buffer an `extra` array names: (key, value) pairs, BUFFER_POINTER's value the
// buffer, BUFFER_SIZE's value a pointer to its size_t size, ended by END. nullopt when extra is
// null, a key is unknown or repeated, one of the two is missing, or the size is implausible.
[[nodiscard]] std::optional<std::span<const uint8_t>> ExtraBuffer(void* const* extra);

// One parameter-buffer word that points into a known allocation.
struct PointerHit {
    uint64_t resource = 0;  // Allocation::id
    uint64_t address = 0;   // the word's value
    uint32_t param = 0;     // parameter index, kUnknownParam when the layout is unknown
    uint32_t offset = 0;    // byte offset of the word in the buffer
};
inline constexpr uint32_t kUnknownParam = UINT32_MAX;

// Reads every full little-endian 8-byte word at an 8-byte-aligned buffer offset inside each
// parameter's [offset, offset + size) and reports those map.Find resolves, in buffer order per
// parameter. With layout.known false the whole buffer is scanned (param = kUnknownParam).
[[nodiscard]] std::vector<PointerHit> ScanForPointers(std::span<const uint8_t> buffer, const ParamLayout& layout,
                                                      const AddrMap& map);

// One access per distinct resource hit (the whole allocation: offset 0, its size, speculated),
// sorted by resource id. Hits whose address no longer resolves to their resource are dropped.
[[nodiscard]] std::vector<dag::Access> SpeculateAccesses(std::span<const PointerHit> hits, const AddrMap& map);

}  // namespace gpucr::cuda
