// cubin_info.h — kernel parameter layouts read from CUDA binaries, without CUDA.
//
// A module image handed to cuModuleLoadData / cuLibraryLoadData is a cubin (ELF64), a fatbin
// (a container of cubins and PTX for several architectures) or PTX text. A cubin describes each
// kernel's parameters in its `.nv.info.<kernel>` section (EIATTR_KPARAM_INFO: ordinal, offset,
// size), which is what gpucr needs to find the pointers in a launch's parameter buffer when the
// driver's cuFuncGetParamInfo is unavailable or the image is all there is.
//
//   GPUCR_ASSIGN_OR_RETURN(size_t size, ModuleImageSize(image));
//   auto bytes = std::span(static_cast<const uint8_t*>(image), size);
//   Result<std::map<std::string, ParamLayout>> layouts = ParseModuleImageParams(bytes, /*sm_arch=*/90);
//   if (!layouts.ok()) ...;  // kUnsupported: PTX only, or LZ4-compressed; ask the driver instead
//   const ParamLayout& l = layouts->at("k_pointers");   // params {0, 8}, {8, 8}, {16, 4}
//
// Formats (verified on nvcc 13.0 output; docs/ has none, NVIDIA does not publish them):
// - .nv.info.<kernel>: entries {u8 format, u8 attribute, value}; formats 1 (none), 2 (byte), 3 (u16)
//   take 4 bytes in all, format 4 is {u16 length, length bytes}. KPARAM_INFO (0x17), 12 bytes:
//   u32 index, u16 ordinal, u16 offset, u32 with the size in bytes in bits 18..31. PARAM_CBANK
//   (0x0a): u32 symbol, u16 bank offset, u16 parameter bytes. CBANK_PARAM_SIZE (0x19): u16.
// - Kernels are the FUNC symbols with STO_CUDA_ENTRY (st_other 0x10); device functions of -rdc
//   code have .nv.info sections too and are not kernels.
// - Fatbin: header {u32 magic 0xBA55ED50, u16 version 1, u16 header size 16, u64 bytes of
//   entries}; entry header (64 bytes or more): u16 kind (1 PTX, 2 ELF), u16, u32 header size,
//   u64 payload size, u32 compressed size, u32, u16 minor, u16 major, u32 sm arch (e.g. 90),
//   u32 name offset, u32 name length, u64 flags (0x2000: LZ4 compressed, 0x8000: zstd
//   compressed), u64, u64 decompressed size; the payload follows the entry header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "backends/cuda/params.h"
#include "dag/status.h"

namespace gpucr::cuda {

inline constexpr uint32_t kFatbinMagic = 0xBA55ED50;
inline constexpr uint32_t kFatbinKindPtx = 1;
inline constexpr uint32_t kFatbinKindElf = 2;
inline constexpr uint64_t kFatbinFlagLz4 = 0x2000;   // payload is an LZ4 block
inline constexpr uint64_t kFatbinFlagZstd = 0x8000;  // payload is a zstd frame

struct FatbinEntry {
    uint32_t kind = 0;     // kFatbinKindPtx or kFatbinKindElf
    uint32_t sm_arch = 0;  // e.g. 90 for sm_90 / compute_90
    bool compressed = false;
    std::span<const uint8_t> payload;  // points into the parsed data; compressed bytes when compressed
    uint64_t flags = 0;                // raw entry flags
    uint64_t decompressed_size = 0;    // payload size once decompressed (0 when not compressed)
};

// Parameter layouts (sorted by ordinal, known = true) of every kernel of an ELF64 cubin, keyed by
// (mangled) kernel name. A kernel whose .nv.info section is missing, or that has parameter bytes
// but no KPARAM_INFO, gets known = false. Malformed input gives an error naming the defect.
[[nodiscard]] Result<std::map<std::string, ParamLayout>> ParseCubinParams(std::span<const uint8_t> elf);

// The entries of the fatbin container at the start of data, in file order.
[[nodiscard]] Result<std::vector<FatbinEntry>> ParseFatbin(std::span<const uint8_t> data);

// Layouts from a module image: a cubin directly; from a fatbin the ELF entry for sm_arch, or else
// the highest architecture below it (uncompressed preferred; zstd and LZ4 payloads are
// decompressed). kUnsupported when there is no such cubin (PTX only) or the image is PTX text.
[[nodiscard]] Result<std::map<std::string, ParamLayout>> ParseModuleImageParams(std::span<const uint8_t> image,
                                                                                uint32_t sm_arch);

// Size in bytes of the module image at `image` (cuModuleLoadData passes no size): from the ELF
// or fatbin headers, or the NUL-terminated length of PTX text. Reads only headers (and PTX text);
// the pointer must be what the application gave the driver.
[[nodiscard]] Result<size_t> ModuleImageSize(const void* image);

}  // namespace gpucr::cuda
