// cubin_info.cpp — .nv.info parameter attributes of cubins, fatbin containers (see cubin_info.h).
//
// Every read is bounds-checked against the image span: a damaged or hostile image yields an
// error, never a read outside it.
#include "backends/cuda/cubin_info.h"

#include <fmt/format.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>

namespace gpucr::cuda {
namespace {

static_assert(std::endian::native == std::endian::little, "cubin and fatbin fields are read in host order");

constexpr uint8_t kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
constexpr size_t kElfHeaderSize = 64;
constexpr size_t kElfSectionHeaderSize = 64;
constexpr size_t kElfSymbolSize = 24;
constexpr uint32_t kShtSymtab = 2;
constexpr uint32_t kShtNobits = 8;
constexpr uint8_t kSttFunc = 2;
constexpr uint8_t kStoCudaEntry = 0x10;

constexpr uint8_t kEifmtNval = 0x01;
constexpr uint8_t kEifmtBval = 0x02;
constexpr uint8_t kEifmtHval = 0x03;
constexpr uint8_t kEifmtSval = 0x04;
constexpr uint8_t kEiattrParamCbank = 0x0a;
constexpr uint8_t kEiattrKparamInfo = 0x17;
constexpr uint8_t kEiattrCbankParamSize = 0x19;

constexpr size_t kFatbinHeaderSize = 16;
constexpr size_t kFatbinEntryHeaderSize = 64;
// Largest cubin we decompress (the biggest library cubins are tens of MiB).
constexpr uint64_t kMaxDecompressedSize = uint64_t{1} << 31;

// Reads a T at offset, or nullopt when it does not fit.
template <typename T>
std::optional<T> Load(std::span<const uint8_t> data, uint64_t offset) {
    if (offset > data.size() || data.size() - offset < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, data.data() + offset, sizeof(T));
    return v;
}

// Like Load, for fields whose presence the caller checked already (the span is large enough).
template <typename T>
T At(std::span<const uint8_t> data, uint64_t offset) {
    return Load<T>(data, offset).value_or(T{});
}

// The subspan [offset, offset + size), or nullopt when it does not lie inside data.
std::optional<std::span<const uint8_t>> Slice(std::span<const uint8_t> data, uint64_t offset, uint64_t size) {
    if (offset > data.size() || data.size() - offset < size) return std::nullopt;
    return data.subspan(offset, size);
}

struct Section {
    uint32_t index = 0;
    std::string_view name;
    uint32_t type = 0;
    uint32_t link = 0;
    std::span<const uint8_t> data;  // empty for NOBITS
};

// NUL-terminated string at offset inside strtab.
Result<std::string_view> StringAt(std::span<const uint8_t> strtab, uint64_t offset, std::string_view what) {
    if (offset >= strtab.size()) {
        return DataLoss(fmt::format("cubin: {} name offset {} outside its string table", what, offset));
    }
    const auto* begin = reinterpret_cast<const char*>(strtab.data() + offset);
    const void* nul = std::memchr(begin, 0, strtab.size() - offset);
    if (nul == nullptr) return DataLoss(fmt::format("cubin: {} name at {} is not terminated", what, offset));
    return std::string_view(begin, static_cast<const char*>(nul) - begin);
}

Status CheckElfIdent(std::span<const uint8_t> elf) {
    if (elf.size() < 4 || std::memcmp(elf.data(), kElfMagic, 4) != 0) return InvalidArgument("cubin: not an ELF image");
    if (elf.size() < kElfHeaderSize) return DataLoss(fmt::format("cubin: truncated ELF header ({} bytes)", elf.size()));
    if (elf[4] != 2 || elf[5] != 1) return Unsupported("cubin: not a little-endian ELF64 image");
    return Status::Ok();
}

// The section headers, names resolved, data bounds-checked.
Result<std::vector<Section>> ReadSections(std::span<const uint8_t> elf) {
    GPUCR_RETURN_IF_ERROR(CheckElfIdent(elf));
    uint64_t shoff = At<uint64_t>(elf, 0x28);
    uint16_t shentsize = At<uint16_t>(elf, 0x3a);
    uint16_t shnum = At<uint16_t>(elf, 0x3c);
    uint16_t shstrndx = At<uint16_t>(elf, 0x3e);
    if (shentsize < kElfSectionHeaderSize) return DataLoss(fmt::format("cubin: section header size {}", shentsize));
    if (shnum == 0 || shstrndx >= shnum) {
        return DataLoss(fmt::format("cubin: {} sections, names in {}", shnum, shstrndx));
    }
    auto table = Slice(elf, shoff, uint64_t{shnum} * shentsize);
    if (!table) {
        return DataLoss(fmt::format("cubin: section headers at {} ({} x {}) past the end ({} bytes)", shoff, shnum,
                                    shentsize, elf.size()));
    }
    std::vector<Section> sections(shnum);
    std::vector<uint32_t> name_offsets(shnum);
    for (uint32_t i = 0; i < shnum; ++i) {
        std::span<const uint8_t> sh = table->subspan(uint64_t{i} * shentsize, kElfSectionHeaderSize);
        Section& s = sections[i];
        s.index = i;
        name_offsets[i] = At<uint32_t>(sh, 0x00);
        s.type = At<uint32_t>(sh, 0x04);
        s.link = At<uint32_t>(sh, 0x28);
        uint64_t offset = At<uint64_t>(sh, 0x18);
        uint64_t size = At<uint64_t>(sh, 0x20);
        if (s.type == kShtNobits || i == 0) continue;
        auto data = Slice(elf, offset, size);
        if (!data) {
            return DataLoss(
                fmt::format("cubin: section {} at {} ({} bytes) past the end ({} bytes)", i, offset, size, elf.size()));
        }
        s.data = *data;
    }
    std::span<const uint8_t> names = sections[shstrndx].data;
    for (uint32_t i = 1; i < shnum; ++i) {
        GPUCR_ASSIGN_OR_RETURN(sections[i].name, StringAt(names, name_offsets[i], fmt::format("section {}", i)));
    }
    return sections;
}

// Names of the kernels (entry functions) in the symbol tables.
Result<std::set<std::string, std::less<>>> EntryNames(const std::vector<Section>& sections) {
    std::set<std::string, std::less<>> names;
    for (const Section& s : sections) {
        if (s.type != kShtSymtab) continue;
        if (s.link >= sections.size()) {
            return DataLoss(fmt::format("cubin: symbol table {} links to section {}", s.index, s.link));
        }
        std::span<const uint8_t> strtab = sections[s.link].data;
        for (uint64_t at = 0; at + kElfSymbolSize <= s.data.size(); at += kElfSymbolSize) {
            uint8_t info = At<uint8_t>(s.data, at + 4);
            uint8_t other = At<uint8_t>(s.data, at + 5);
            if ((info & 0xf) != kSttFunc || (other & kStoCudaEntry) == 0) continue;
            GPUCR_ASSIGN_OR_RETURN(std::string_view name, StringAt(strtab, At<uint32_t>(s.data, at), "symbol"));
            names.emplace(name);
        }
    }
    return names;
}

struct NvInfo {
    std::vector<std::pair<uint16_t, ParamLayout::Param>> params;  // (ordinal, param)
    std::optional<uint32_t> param_bytes;                          // from PARAM_CBANK / CBANK_PARAM_SIZE
};

Status ParseKparamInfo(std::span<const uint8_t> v, std::string_view kernel, NvInfo& info) {
    if (v.size() < 12) return DataLoss(fmt::format("cubin: {}: KPARAM_INFO of {} bytes", kernel, v.size()));
    uint16_t ordinal = At<uint16_t>(v, 4);
    uint16_t offset = At<uint16_t>(v, 6);
    uint32_t size = At<uint32_t>(v, 8) >> 18;
    info.params.push_back({ordinal, {.offset = offset, .size = size}});
    return Status::Ok();
}

// The parameter attributes of one .nv.info.<kernel> section.
Result<NvInfo> ParseNvInfo(std::span<const uint8_t> d, std::string_view kernel) {
    NvInfo info;
    uint64_t at = 0;
    while (at < d.size()) {
        if (d.size() - at < 4) return DataLoss(fmt::format("cubin: {}: attribute at {} truncated", kernel, at));
        uint8_t format = d[at];
        uint8_t attribute = d[at + 1];
        uint16_t value = At<uint16_t>(d, at + 2);
        if (format == kEifmtNval || format == kEifmtBval || format == kEifmtHval) {
            if (attribute == kEiattrCbankParamSize && format == kEifmtHval) info.param_bytes = value;
            at += 4;
            continue;
        }
        if (format != kEifmtSval) {
            return DataLoss(fmt::format("cubin: {}: attribute format {:#x} at {}", kernel, format, at));
        }
        auto v = Slice(d, at + 4, value);
        if (!v) {
            return DataLoss(
                fmt::format("cubin: {}: attribute {:#x} at {} ({} bytes) truncated", kernel, attribute, at, value));
        }
        if (attribute == kEiattrKparamInfo) GPUCR_RETURN_IF_ERROR(ParseKparamInfo(*v, kernel, info));
        if (attribute == kEiattrParamCbank && v->size() >= 8) info.param_bytes = At<uint16_t>(*v, 6);
        at += 4 + uint64_t{value};
    }
    return info;
}

// Orders the parameters by ordinal and checks they are 0..n-1, each once, inside the bank.
Result<ParamLayout> BuildLayout(NvInfo info, std::string_view kernel) {
    ParamLayout layout;
    layout.known = true;
    std::sort(info.params.begin(), info.params.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < info.params.size(); ++i) {
        auto [ordinal, param] = info.params[i];
        if (ordinal != i) {
            return DataLoss(fmt::format("cubin: {}: parameter ordinal {} missing or repeated", kernel, i));
        }
        if (param.size == 0) return DataLoss(fmt::format("cubin: {}: parameter {} of size 0", kernel, i));
        if (info.param_bytes && param.offset + param.size > *info.param_bytes) {
            return DataLoss(fmt::format("cubin: {}: parameter {} ({}+{}) past the {} parameter bytes", kernel, i,
                                        param.offset, param.size, *info.param_bytes));
        }
        layout.params.push_back(param);
    }
    // Parameter bytes but no description of them: the layout is not known.
    if (layout.params.empty() && info.param_bytes.value_or(0) > 0) layout.known = false;
    return layout;
}

bool IsElf(std::span<const uint8_t> image) { return image.size() >= 4 && std::memcmp(image.data(), kElfMagic, 4) == 0; }
bool IsFatbin(std::span<const uint8_t> image) { return Load<uint32_t>(image, 0) == kFatbinMagic; }

// LZ4 block format (what fatbinary's speed-mode compression writes): sequences of literals and
// back-references, the last sequence literals only.
Result<std::vector<uint8_t>> Lz4Decompress(std::span<const uint8_t> in, uint64_t out_size) {
    std::vector<uint8_t> out;
    out.reserve(out_size);
    size_t at = 0;
    auto length = [&](size_t base) -> std::optional<size_t> {
        size_t n = base;
        if (base != 15) return n;
        while (true) {
            if (at >= in.size()) return std::nullopt;
            uint8_t b = in[at++];
            n += b;
            if (n > out_size) return std::nullopt;
            if (b != 255) return n;
        }
    };
    while (at < in.size()) {
        uint8_t token = in[at++];
        auto literals = length(token >> 4);
        if (!literals || in.size() - at < *literals || out_size - out.size() < *literals) break;
        out.insert(out.end(), in.begin() + at, in.begin() + at + *literals);
        at += *literals;
        if (out.size() == out_size) break;  // the last sequence has no match
        if (in.size() - at < 2) break;
        size_t distance = in[at] | (size_t{in[at + 1]} << 8);
        at += 2;
        auto match = length(token & 0xf);
        if (!match || distance == 0 || distance > out.size() || out_size - out.size() < *match + 4) break;
        for (size_t i = 0, n = *match + 4; i < n; ++i) out.push_back(out[out.size() - distance]);
    }
    if (out.size() != out_size) {
        return DataLoss(fmt::format("fatbin: LZ4 payload decodes to {} of {} bytes", out.size(), out_size));
    }
    return out;
}

Result<std::vector<uint8_t>> Decompress(const FatbinEntry& e) {
    if (e.decompressed_size == 0 || e.decompressed_size > kMaxDecompressedSize) {
        return DataLoss(fmt::format("fatbin: sm_{} entry decompresses to {} bytes", e.sm_arch, e.decompressed_size));
    }
    if (e.flags & kFatbinFlagLz4) return Lz4Decompress(e.payload, e.decompressed_size);
    // The frame states its size too: a damaged entry header must not make us allocate gigabytes.
    unsigned long long frame_size = ZSTD_getFrameContentSize(e.payload.data(), e.payload.size());
    if (frame_size != e.decompressed_size) {
        return DataLoss(fmt::format("fatbin: sm_{} zstd frame holds {} bytes, entry says {}", e.sm_arch,
                                    static_cast<int64_t>(frame_size), e.decompressed_size));
    }
    std::vector<uint8_t> out(e.decompressed_size);
    size_t n = ZSTD_decompress(out.data(), out.size(), e.payload.data(), e.payload.size());
    if (ZSTD_isError(n) || n != out.size()) {
        return DataLoss(fmt::format("fatbin: sm_{} zstd payload: {}", e.sm_arch,
                                    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch"));
    }
    return out;
}

// The ELF entry for sm_arch: highest architecture <= sm_arch, uncompressed before compressed.
const FatbinEntry* PickElf(const std::vector<FatbinEntry>& entries, uint32_t sm_arch) {
    const FatbinEntry* best = nullptr;
    for (const FatbinEntry& e : entries) {
        if (e.kind != kFatbinKindElf || e.sm_arch > sm_arch) continue;
        if (best == nullptr || e.sm_arch > best->sm_arch ||
            (e.sm_arch == best->sm_arch && best->compressed && !e.compressed)) {
            best = &e;
        }
    }
    return best;
}

}  // namespace

Result<std::map<std::string, ParamLayout>> ParseCubinParams(std::span<const uint8_t> elf) {
    GPUCR_ASSIGN_OR_RETURN(std::vector<Section> sections, ReadSections(elf));
    GPUCR_ASSIGN_OR_RETURN(auto entries, EntryNames(sections));
    std::map<std::string, ParamLayout> layouts;
    constexpr std::string_view kPrefix = ".nv.info.";
    for (const Section& s : sections) {
        if (!s.name.starts_with(kPrefix)) continue;
        std::string_view kernel = s.name.substr(kPrefix.size());
        GPUCR_ASSIGN_OR_RETURN(NvInfo info, ParseNvInfo(s.data, kernel));
        // Device functions (-rdc) have .nv.info sections too; kernels are entry symbols, or, in a
        // cubin without symbols, sections that describe parameters.
        bool has_param_attributes = !info.params.empty() || info.param_bytes.has_value();
        if (!entries.contains(kernel) && !has_param_attributes) continue;
        GPUCR_ASSIGN_OR_RETURN(ParamLayout layout, BuildLayout(std::move(info), kernel));
        layouts.insert_or_assign(std::string(kernel), std::move(layout));
    }
    for (const std::string& kernel : entries) layouts.try_emplace(kernel);  // no .nv.info: unknown
    return layouts;
}

Result<std::vector<FatbinEntry>> ParseFatbin(std::span<const uint8_t> data) {
    if (!IsFatbin(data)) return InvalidArgument("fatbin: bad magic");
    if (data.size() < kFatbinHeaderSize) {
        return DataLoss(fmt::format("fatbin: truncated header ({} bytes)", data.size()));
    }
    uint16_t header_size = At<uint16_t>(data, 6);
    uint64_t entries_size = At<uint64_t>(data, 8);
    if (header_size < kFatbinHeaderSize) return DataLoss(fmt::format("fatbin: header size {}", header_size));
    auto region = Slice(data, header_size, entries_size);
    if (!region) {
        return DataLoss(fmt::format("fatbin: {} bytes of entries past the end ({} bytes)", entries_size, data.size()));
    }
    std::vector<FatbinEntry> entries;
    for (uint64_t at = 0; at < region->size();) {
        auto h = Slice(*region, at, kFatbinEntryHeaderSize);
        if (!h) return DataLoss(fmt::format("fatbin: entry header at {} truncated", header_size + at));
        uint32_t entry_header_size = At<uint32_t>(*h, 0x04);
        uint64_t payload_size = At<uint64_t>(*h, 0x08);
        if (entry_header_size < kFatbinEntryHeaderSize) {
            return DataLoss(fmt::format("fatbin: entry header size {}", entry_header_size));
        }
        auto payload = Slice(*region, at + entry_header_size, payload_size);
        if (!payload) {
            return DataLoss(fmt::format("fatbin: entry at {} ({} bytes) past the end", header_size + at, payload_size));
        }
        FatbinEntry e{.kind = At<uint16_t>(*h, 0x00),
                      .sm_arch = At<uint32_t>(*h, 0x1c),
                      .payload = *payload,
                      .flags = At<uint64_t>(*h, 0x28)};
        e.compressed = (e.flags & (kFatbinFlagLz4 | kFatbinFlagZstd)) != 0;
        if (e.compressed) {
            uint32_t compressed_size = At<uint32_t>(*h, 0x10);  // the payload is padded past it
            if (compressed_size != 0 && compressed_size <= payload_size) e.payload = payload->first(compressed_size);
            e.decompressed_size = At<uint64_t>(*h, 0x38);
        }
        entries.push_back(e);
        at += entry_header_size + payload_size;
    }
    return entries;
}

Result<std::map<std::string, ParamLayout>> ParseModuleImageParams(std::span<const uint8_t> image, uint32_t sm_arch) {
    if (IsElf(image)) return ParseCubinParams(image);
    // PTX text, or something else the driver may know: the caller asks the driver instead.
    if (!IsFatbin(image)) return Unsupported("module image is neither a cubin nor a fatbin (PTX?)");
    GPUCR_ASSIGN_OR_RETURN(std::vector<FatbinEntry> entries, ParseFatbin(image));
    const FatbinEntry* e = PickElf(entries, sm_arch);
    if (e == nullptr) return Unsupported(fmt::format("fatbin holds no cubin for sm_{} or below (PTX only)", sm_arch));
    if (!e->compressed) return ParseCubinParams(e->payload);
    GPUCR_ASSIGN_OR_RETURN(std::vector<uint8_t> elf, Decompress(*e));
    return ParseCubinParams(elf);
}

Result<size_t> ModuleImageSize(const void* image) {
    if (image == nullptr) return InvalidArgument("module image is null");
    const auto* p = static_cast<const uint8_t*>(image);
    // Byte by byte, so that a short PTX string is not read past its NUL.
    auto starts_with = [p](const uint8_t(&magic)[4]) {
        for (size_t i = 0; i < 4; ++i) {
            if (p[i] != magic[i]) return false;
        }
        return true;
    };
    if (starts_with(kElfMagic)) {
        std::span<const uint8_t> header(p, kElfHeaderSize);
        GPUCR_RETURN_IF_ERROR(CheckElfIdent(header));
        uint64_t phoff = At<uint64_t>(header, 0x20);
        uint64_t shoff = At<uint64_t>(header, 0x28);
        uint64_t end = std::max<uint64_t>({kElfHeaderSize,
                                           phoff + uint64_t{At<uint16_t>(header, 0x36)} * At<uint16_t>(header, 0x38),
                                           shoff + uint64_t{At<uint16_t>(header, 0x3a)} * At<uint16_t>(header, 0x3c)});
        uint16_t shentsize = At<uint16_t>(header, 0x3a);
        if (shentsize < kElfSectionHeaderSize) return DataLoss(fmt::format("cubin: section header size {}", shentsize));
        for (uint32_t i = 1; i < At<uint16_t>(header, 0x3c); ++i) {
            std::span<const uint8_t> sh(p + shoff + uint64_t{i} * shentsize, kElfSectionHeaderSize);
            if (At<uint32_t>(sh, 0x04) != kShtNobits) {
                end = std::max(end, At<uint64_t>(sh, 0x18) + At<uint64_t>(sh, 0x20));
            }
        }
        return static_cast<size_t>(end);
    }
    constexpr uint8_t kFatbinMagicBytes[4] = {0x50, 0xed, 0x55, 0xba};
    if (starts_with(kFatbinMagicBytes)) {
        std::span<const uint8_t> header(p, kFatbinHeaderSize);
        return static_cast<size_t>(At<uint16_t>(header, 6) + At<uint64_t>(header, 8));
    }
    return std::strlen(reinterpret_cast<const char*>(p)) + 1;  // PTX text
}

}  // namespace gpucr::cuda
