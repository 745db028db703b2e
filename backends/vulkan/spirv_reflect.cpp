// spirv_reflect.cpp — see spirv_reflect.h.
//
// One pass over the module records where each id is defined, the decorations, the global
// variables and, per function, which roots (global variables or the function's own pointer
// parameters) are loaded from or stored to. Pointers and image handles carry the root they
// derive from (access chains, copies, loads of handles). An entry point's interface is the
// summary of its call tree: callees' accesses through parameters are mapped back to the
// arguments' roots at each call site.
#include "backends/vulkan/spirv_reflect.h"

#define SPV_ENABLE_UTILITY_CODE
#include <spirv/unified1/spirv.hpp>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

namespace gpucr::vk {
namespace {

constexpr uint32_t kMaxIdBound = 0x400000;  // SPIR-V universal limit: ids below 4,194,304
constexpr uint32_t kMaxMembers = 16384;     // SPIR-V universal limit on struct members
constexpr int kMaxDepth = 256;              // type nesting and call depth
constexpr uint8_t kRead = 1;
constexpr uint8_t kWrite = 2;
constexpr uint8_t kReadWrite = kRead | kWrite;

struct Insn {
    spv::Op op = spv::OpNop;
    const uint32_t* w = nullptr;
    uint32_t wc = 0;

    uint32_t Word(uint32_t i) const { return i < wc ? w[i] : 0; }
};

struct Decorations {
    bool has_binding = false;
    uint32_t set = 0;
    uint32_t binding = 0;
    bool non_writable = false;
    bool non_readable = false;
    bool buffer_block = false;
    uint32_t array_stride = 0;
};

struct MemberDecorations {
    bool has_offset = false;
    uint32_t offset = 0;
    uint32_t matrix_stride = 0;
    bool row_major = false;
    bool non_writable = false;
    bool non_readable = false;
};

struct Call {
    uint32_t callee = 0;
    std::vector<uint32_t> arg_roots;  // 0 where the argument is no tracked pointer or handle
};

// Accesses keyed by root id; used holds the global variables referenced at all.
struct Summary {
    std::unordered_map<uint32_t, uint8_t> access;
    std::unordered_set<uint32_t> used;
    bool atomics = false;
};

struct Function {
    uint32_t id = 0;
    std::vector<uint32_t> params;
    std::vector<Call> calls;
    Summary local;
};

struct EntryPoint {
    uint32_t model = 0;
    uint32_t function = 0;
    std::string name;
};

bool IsAtomic(spv::Op op) {
    return (op >= spv::OpAtomicLoad && op <= spv::OpAtomicXor) || op == spv::OpAtomicFlagTestAndSet ||
           op == spv::OpAtomicFlagClear || op == spv::OpAtomicFMinEXT || op == spv::OpAtomicFMaxEXT ||
           op == spv::OpAtomicFAddEXT;
}

bool IsImageQuery(spv::Op op) {
    return (op >= spv::OpImageQueryFormat && op <= spv::OpImageQuerySamples) || op == spv::OpArrayLength;
}

// Control flow and debug instructions carry literals that could alias ids; they never touch memory.
bool IsInert(spv::Op op) {
    switch (op) {
        case spv::OpLine: case spv::OpNoLine: case spv::OpLabel: case spv::OpBranch:
        case spv::OpBranchConditional: case spv::OpSwitch: case spv::OpSelectionMerge:
        case spv::OpLoopMerge: case spv::OpReturn: case spv::OpUnreachable: case spv::OpKill:
        case spv::OpName: case spv::OpMemberName: case spv::OpString:
            return true;
        default:
            return false;
    }
}

class Module {
public:
    Status Parse(const uint32_t* words, size_t word_count);
    Result<ShaderInterface> Interface(const EntryPoint& entry) const;
    const std::vector<EntryPoint>& entry_points() const { return entry_points_; }

private:
    Status ParseInstruction(const Insn& in, size_t offset);
    Status ParseEntryPoint(const Insn& in);
    void ParseDecoration(const Insn& in);
    void ParseMemberDecoration(const Insn& in);
    void ScanBody(const Insn& in);
    void ScanFallback(const Insn& in, uint32_t first_operand);

    Insn Def(uint32_t id) const;
    uint32_t Root(uint32_t id) const { return id < root_.size() ? root_[id] : 0; }
    void SetRoot(uint32_t id, uint32_t from) {
        if (id < root_.size()) root_[id] = Root(from);
    }
    void Touch(uint32_t pointer, uint8_t what) {
        if (uint32_t r = Root(pointer)) current_->local.access[r] |= what;
    }
    bool IsGlobal(uint32_t id) const { return id < is_global_.size() && is_global_[id]; }
    bool IsHandleType(uint32_t type_id) const;

    Status Summarize(uint32_t function_id, int depth, const Summary** out) const;
    void AddBinding(uint32_t var, const Summary& summary, ShaderInterface& out) const;
    uint64_t TypeSize(uint32_t type_id, const MemberDecorations* member, int depth) const;
    uint32_t ConstantValue(uint32_t id) const;
    bool AllMembers(uint32_t struct_id, bool MemberDecorations::*flag) const;

    std::vector<uint32_t> owned_;  // byte-swapped copy when the module is big-endian
    const uint32_t* words_ = nullptr;
    size_t word_count_ = 0;
    uint32_t bound_ = 0;
    bool physical_ = false;
    std::vector<uint32_t> def_;  // word offset of each id's defining instruction, 0 = none
    std::vector<uint32_t> root_;
    std::vector<uint8_t> is_global_;
    std::unordered_set<uint32_t> non_semantic_sets_;
    std::unordered_map<uint32_t, Decorations> decorations_;
    std::unordered_map<uint32_t, std::vector<MemberDecorations>> members_;
    std::vector<uint32_t> globals_;
    std::vector<EntryPoint> entry_points_;
    std::vector<Function> functions_;
    std::unordered_map<uint32_t, size_t> function_index_;
    Function* current_ = nullptr;
    mutable std::unordered_map<uint32_t, Summary> summaries_;
    mutable std::unordered_set<uint32_t> in_progress_;
    mutable uint64_t type_budget_ = 1 << 20;  // bounds TypeSize on hostile DAGs of shared types
};

Status Module::Parse(const uint32_t* words, size_t word_count) {
    if (words == nullptr || word_count < 5) return InvalidArgument("SPIR-V module shorter than its header");
    if (words[0] != spv::MagicNumber) {
        if (words[0] != __builtin_bswap32(spv::MagicNumber)) {
            return InvalidArgument(fmt::format("not SPIR-V: magic {:#010x}", words[0]));
        }
        owned_.resize(word_count);
        for (size_t i = 0; i < word_count; ++i) owned_[i] = __builtin_bswap32(words[i]);
        words = owned_.data();
    }
    words_ = words;
    word_count_ = word_count;
    bound_ = words[3];
    if (bound_ == 0 || bound_ > kMaxIdBound) return InvalidArgument(fmt::format("SPIR-V id bound {} invalid", bound_));
    def_.assign(bound_, 0);
    root_.assign(bound_, 0);
    is_global_.assign(bound_, 0);
    for (size_t offset = 5; offset < word_count;) {
        uint32_t wc = words[offset] >> 16;
        if (wc == 0 || wc > word_count - offset) {
            return InvalidArgument(fmt::format("SPIR-V instruction at word {} has bad length {}", offset, wc));
        }
        Insn in{static_cast<spv::Op>(words[offset] & 0xffff), words + offset, wc};
        GPUCR_RETURN_IF_ERROR(ParseInstruction(in, offset));
        offset += wc;
    }
    if (current_ != nullptr) return InvalidArgument("SPIR-V function without OpFunctionEnd");
    return Status::Ok();
}

Status Module::ParseInstruction(const Insn& in, size_t offset) {
    bool has_result = false;
    bool has_type = false;
    spv::HasResultAndType(in.op, &has_result, &has_type);
    uint32_t id = has_result ? in.Word(has_type ? 2 : 1) : 0;
    if (has_result) {
        if (id == 0 || id >= bound_) {
            return InvalidArgument(fmt::format("SPIR-V id {} at word {} out of bound", id, offset));
        }
        if (def_[id] != 0) return InvalidArgument(fmt::format("SPIR-V id {} defined twice", id));
        def_[id] = static_cast<uint32_t>(offset);
    }
    switch (in.op) {
        case spv::OpCapability:
            if (in.Word(1) == spv::CapabilityPhysicalStorageBufferAddresses) physical_ = true;
            return Status::Ok();
        case spv::OpMemoryModel:
            if (in.Word(1) == spv::AddressingModelPhysicalStorageBuffer64) physical_ = true;
            return Status::Ok();
        case spv::OpExtInstImport:
            if (in.wc >= 5 && std::string_view(reinterpret_cast<const char*>(in.w + 2), 12) == "NonSemantic.") {
                non_semantic_sets_.insert(id);
            }
            return Status::Ok();
        case spv::OpEntryPoint: return ParseEntryPoint(in);
        case spv::OpDecorate: ParseDecoration(in); return Status::Ok();
        case spv::OpMemberDecorate:
            if (in.Word(2) >= kMaxMembers) return InvalidArgument("SPIR-V member index out of range");
            ParseMemberDecoration(in);
            return Status::Ok();
        case spv::OpGroupDecorate:
            if (auto it = decorations_.find(in.Word(1)); it != decorations_.end()) {
                for (uint32_t i = 2; i < in.wc; ++i) decorations_[in.w[i]] = it->second;
            }
            return Status::Ok();
        case spv::OpFunction:
            if (current_ != nullptr) return InvalidArgument("SPIR-V nested OpFunction");
            function_index_[id] = functions_.size();
            current_ = &functions_.emplace_back();
            current_->id = id;
            return Status::Ok();
        case spv::OpFunctionEnd:
            if (current_ == nullptr) return InvalidArgument("SPIR-V OpFunctionEnd outside a function");
            current_ = nullptr;
            return Status::Ok();
        default: break;
    }
    if (current_ != nullptr) {
        ScanBody(in);
    } else if (in.op == spv::OpVariable && in.Word(3) != spv::StorageClassFunction) {
        is_global_[id] = 1;
        root_[id] = id;
        globals_.push_back(id);
    }
    return Status::Ok();
}

Status Module::ParseEntryPoint(const Insn& in) {
    EntryPoint entry{in.Word(1), in.Word(2), {}};
    const char* chars = reinterpret_cast<const char*>(in.w + 3);
    size_t max_chars = in.wc > 3 ? (in.wc - 3) * 4 : 0;
    size_t len = std::find(chars, chars + max_chars, '\0') - chars;
    if (len == max_chars) return InvalidArgument("SPIR-V entry point name not terminated");
    entry.name.assign(chars, len);
    entry_points_.push_back(std::move(entry));
    return Status::Ok();
}

void Module::ParseDecoration(const Insn& in) {
    Decorations& d = decorations_[in.Word(1)];
    switch (in.Word(2)) {
        case spv::DecorationDescriptorSet: d.set = in.Word(3); break;
        case spv::DecorationBinding: d.binding = in.Word(3); d.has_binding = true; break;
        case spv::DecorationNonWritable: d.non_writable = true; break;
        case spv::DecorationNonReadable: d.non_readable = true; break;
        case spv::DecorationBufferBlock: d.buffer_block = true; break;
        case spv::DecorationArrayStride: d.array_stride = in.Word(3); break;
        default: break;
    }
}

void Module::ParseMemberDecoration(const Insn& in) {
    std::vector<MemberDecorations>& all = members_[in.Word(1)];
    uint32_t member = in.Word(2);
    if (all.size() <= member) all.resize(member + 1);
    MemberDecorations& m = all[member];
    switch (in.Word(3)) {
        case spv::DecorationOffset: m.offset = in.Word(4); m.has_offset = true; break;
        case spv::DecorationMatrixStride: m.matrix_stride = in.Word(4); break;
        case spv::DecorationRowMajor: m.row_major = true; break;
        case spv::DecorationColMajor: m.row_major = false; break;
        case spv::DecorationNonWritable: m.non_writable = true; break;
        case spv::DecorationNonReadable: m.non_readable = true; break;
        default: break;
    }
}

// Records what one instruction inside a function does to memory reachable from a root.
void Module::ScanBody(const Insn& in) {
    if (IsInert(in.op)) return;
    for (uint32_t i = 1; i < in.wc; ++i) {
        if (IsGlobal(in.w[i])) current_->local.used.insert(in.w[i]);
    }
    if (IsAtomic(in.op)) {
        current_->local.atomics = true;
        bool pointer_first = in.op == spv::OpAtomicStore || in.op == spv::OpAtomicFlagClear;
        uint8_t what = in.op == spv::OpAtomicLoad ? kRead : in.op == spv::OpAtomicStore ? kWrite : kReadWrite;
        Touch(in.Word(pointer_first ? 1 : 3), what);
        return;
    }
    switch (in.op) {
        case spv::OpFunctionParameter:
            current_->params.push_back(in.Word(2));
            if (in.Word(2) < root_.size()) root_[in.Word(2)] = in.Word(2);
            return;
        case spv::OpAccessChain: case spv::OpInBoundsAccessChain: case spv::OpPtrAccessChain:
        case spv::OpInBoundsPtrAccessChain: case spv::OpCopyObject: case spv::OpSampledImage:
        case spv::OpImage: case spv::OpImageTexelPointer:
            SetRoot(in.Word(2), in.Word(3));
            return;
        case spv::OpLoad:
            if (IsHandleType(in.Word(1))) SetRoot(in.Word(2), in.Word(3));
            else Touch(in.Word(3), kRead);
            return;
        case spv::OpStore:
            Touch(in.Word(1), kWrite);
            Touch(in.Word(2), kReadWrite);  // a pointer or handle stored away escapes tracking
            return;
        case spv::OpCopyMemory: case spv::OpCopyMemorySized:
            Touch(in.Word(1), kWrite);
            Touch(in.Word(2), kRead);
            return;
        case spv::OpImageRead: case spv::OpImageFetch: case spv::OpImageSparseRead: case spv::OpImageSparseFetch:
            Touch(in.Word(3), kRead);
            return;
        case spv::OpImageWrite:
            Touch(in.Word(1), kWrite);
            return;
        case spv::OpFunctionCall: {
            Call& call = current_->calls.emplace_back();
            call.callee = in.Word(3);
            for (uint32_t i = 4; i < in.wc; ++i) call.arg_roots.push_back(Root(in.w[i]));
            return;
        }
        case spv::OpPhi: case spv::OpSelect: {
            // Variable pointers: the result may be any operand; all roots become read-write.
            uint32_t first = in.op == spv::OpSelect ? 4 : 3;
            uint32_t step = in.op == spv::OpSelect ? 1 : 2;
            for (uint32_t i = first; i < in.wc; i += step) {
                if (Root(in.w[i]) == 0) continue;
                if (Root(in.Word(2)) == 0) SetRoot(in.Word(2), in.w[i]);
                Touch(in.w[i], kReadWrite);
            }
            return;
        }
        case spv::OpExtInst:
            if (non_semantic_sets_.count(in.Word(3)) == 0) ScanFallback(in, 5);
            return;
        case spv::OpVariable:
            return;
        default:
            break;
    }
    if (IsImageQuery(in.op)) return;
    if (in.op >= spv::OpImageSampleImplicitLod && in.op <= spv::OpImageDrefGather) {
        Touch(in.Word(3), kRead);
        return;
    }
    bool has_result = false;
    bool has_type = false;
    spv::HasResultAndType(in.op, &has_result, &has_type);
    ScanFallback(in, 1 + has_result + has_type);
}

// Unknown use of a tracked pointer or handle: assume it is read and written.
void Module::ScanFallback(const Insn& in, uint32_t first_operand) {
    for (uint32_t i = first_operand; i < in.wc; ++i) Touch(in.w[i], kReadWrite);
}

Insn Module::Def(uint32_t id) const {
    if (id >= def_.size() || def_[id] == 0) return {};
    const uint32_t* w = words_ + def_[id];
    return {static_cast<spv::Op>(w[0] & 0xffff), w, w[0] >> 16};
}

bool Module::IsHandleType(uint32_t type_id) const {
    spv::Op op = Def(type_id).op;
    return op == spv::OpTypeImage || op == spv::OpTypeSampledImage || op == spv::OpTypeSampler ||
           op == spv::OpTypeAccelerationStructureKHR;
}

// Call trees are acyclic in shaders; summaries are memoised per function.
Status Module::Summarize(uint32_t function_id, int depth, const Summary** out) const {
    if (auto it = summaries_.find(function_id); it != summaries_.end()) {
        *out = &it->second;
        return Status::Ok();
    }
    auto index = function_index_.find(function_id);
    if (index == function_index_.end()) {
        return InvalidArgument(fmt::format("SPIR-V call to non-function {}", function_id));
    }
    if (depth > kMaxDepth || !in_progress_.insert(function_id).second) {
        return InvalidArgument("SPIR-V call graph is recursive or too deep");
    }
    const Function& f = functions_[index->second];
    Summary s = f.local;
    for (const Call& call : f.calls) {
        const Summary* callee = nullptr;
        GPUCR_RETURN_IF_ERROR(Summarize(call.callee, depth + 1, &callee));
        const Function& g = functions_[function_index_.at(call.callee)];
        for (const auto& [root, what] : callee->access) {
            if (IsGlobal(root)) s.access[root] |= what;
        }
        for (size_t i = 0; i < g.params.size() && i < call.arg_roots.size(); ++i) {
            auto it = callee->access.find(g.params[i]);
            if (it != callee->access.end() && call.arg_roots[i] != 0) s.access[call.arg_roots[i]] |= it->second;
        }
        s.used.insert(callee->used.begin(), callee->used.end());
        s.atomics |= callee->atomics;
    }
    in_progress_.erase(function_id);
    *out = &(summaries_[function_id] = std::move(s));
    return Status::Ok();
}

uint32_t Module::ConstantValue(uint32_t id) const {
    Insn c = Def(id);
    if (c.op != spv::OpConstant && c.op != spv::OpSpecConstant) return 1;  // unknown: one element
    return c.Word(4) != 0 ? UINT32_MAX : c.Word(3);
}

uint64_t Module::TypeSize(uint32_t type_id, const MemberDecorations* member, int depth) const {
    if (depth > kMaxDepth || type_budget_ == 0) return 0;
    --type_budget_;
    Insn t = Def(type_id);
    switch (t.op) {
        case spv::OpTypeBool: return 4;
        case spv::OpTypeInt: case spv::OpTypeFloat: return t.Word(2) / 8;
        case spv::OpTypePointer: return 8;  // only PhysicalStorageBuffer pointers live in blocks
        case spv::OpTypeVector: return uint64_t{t.Word(3)} * TypeSize(t.Word(2), nullptr, depth + 1);
        case spv::OpTypeMatrix: {
            uint32_t columns = t.Word(3);
            if (member == nullptr || member->matrix_stride == 0) {
                return columns * TypeSize(t.Word(2), nullptr, depth + 1);
            }
            uint32_t rows = Def(t.Word(2)).Word(3);
            return uint64_t{member->row_major ? rows : columns} * member->matrix_stride;
        }
        case spv::OpTypeArray: {
            uint64_t count = ConstantValue(t.Word(3));
            auto d = decorations_.find(type_id);
            uint64_t stride = d != decorations_.end() && d->second.array_stride != 0
                                  ? d->second.array_stride
                                  : TypeSize(t.Word(2), member, depth + 1);
            return count * stride;
        }
        case spv::OpTypeStruct: {
            auto m = members_.find(type_id);
            uint64_t end = 0;
            for (uint32_t i = 2; i < t.wc; ++i) {
                const MemberDecorations* md =
                    m != members_.end() && i - 2 < m->second.size() ? &m->second[i - 2] : nullptr;
                uint64_t start = md != nullptr && md->has_offset ? md->offset : end;
                end = std::max(end, start + TypeSize(t.w[i], md, depth + 1));
            }
            return end;
        }
        default: return 0;  // runtime arrays and opaque types have no static size
    }
}

bool Module::AllMembers(uint32_t struct_id, bool MemberDecorations::*flag) const {
    Insn s = Def(struct_id);
    auto m = members_.find(struct_id);
    if (s.op != spv::OpTypeStruct || s.wc <= 2 || m == members_.end() || m->second.size() < s.wc - 2) return false;
    return std::all_of(m->second.begin(), m->second.begin() + (s.wc - 2),
                       [flag](const MemberDecorations& md) { return md.*flag; });
}

ShaderBinding::Kind ClassifyImage(const Insn& image) {
    bool buffer = image.Word(3) == spv::DimBuffer;
    switch (image.Word(7)) {
        case 1: return buffer ? ShaderBinding::Kind::kUniformTexelBuffer : ShaderBinding::Kind::kSampledImage;
        case 2: return buffer ? ShaderBinding::Kind::kStorageTexelBuffer : ShaderBinding::Kind::kStorageImage;
        default: return ShaderBinding::Kind::kOther;
    }
}

void Module::AddBinding(uint32_t var, const Summary& summary, ShaderInterface& out) const {
    using Kind = ShaderBinding::Kind;
    Insn pointer = Def(Def(var).Word(1));
    uint32_t storage = Def(var).Word(3);
    if (storage == spv::StorageClassPushConstant) {
        uint64_t size = TypeSize(pointer.Word(3), nullptr, 0);
        uint32_t clamped = static_cast<uint32_t>(std::min<uint64_t>(size, UINT32_MAX));
        out.push_constant_size = std::max(out.push_constant_size, clamped);
        return;
    }
    auto deco = decorations_.find(var);
    bool resource = storage == spv::StorageClassUniform || storage == spv::StorageClassStorageBuffer ||
                    storage == spv::StorageClassUniformConstant;
    if (!resource || deco == decorations_.end() || !deco->second.has_binding) return;

    ShaderBinding b;
    b.set = deco->second.set;
    b.binding = deco->second.binding;
    uint32_t type_id = pointer.Word(3);
    for (int depth = 0; depth < kMaxDepth; ++depth) {
        Insn t = Def(type_id);
        if (t.op == spv::OpTypeArray) b.array_size *= ConstantValue(t.Word(3));
        else if (t.op == spv::OpTypeRuntimeArray) b.array_size = 0;
        else break;
        type_id = t.Word(2);
    }
    Insn base = Def(type_id);
    auto base_deco = decorations_.find(type_id);
    bool buffer_block = base_deco != decorations_.end() && base_deco->second.buffer_block;
    if (storage == spv::StorageClassStorageBuffer || (storage == spv::StorageClassUniform && buffer_block)) {
        b.kind = Kind::kStorageBuffer;
    } else if (storage == spv::StorageClassUniform) {
        b.kind = Kind::kUniformBuffer;
    } else if (base.op == spv::OpTypeImage) {
        b.kind = ClassifyImage(base);
    } else if (base.op == spv::OpTypeSampledImage) {
        // glslang wraps samplerBuffer in a sampled image; Vulkan binds it as a uniform texel buffer.
        bool buffer = Def(base.Word(2)).Word(3) == spv::DimBuffer;
        b.kind = buffer ? Kind::kUniformTexelBuffer : Kind::kCombinedImageSampler;
    } else if (base.op == spv::OpTypeSampler) {
        b.kind = Kind::kSampler;
    } else if (base.op == spv::OpTypeAccelerationStructureKHR) {
        b.kind = Kind::kAccelerationStructure;
    }

    bool refinable = b.kind == Kind::kStorageBuffer || b.kind == Kind::kStorageImage ||
                     b.kind == Kind::kStorageTexelBuffer || b.kind == Kind::kOther;
    if (refinable) {
        auto it = summary.access.find(var);
        uint8_t used = it == summary.access.end() ? 0 : it->second;
        bool non_writable = deco->second.non_writable || AllMembers(type_id, &MemberDecorations::non_writable);
        bool non_readable = deco->second.non_readable || AllMembers(type_id, &MemberDecorations::non_readable);
        b.reads = !non_readable && (used & kRead) != 0;
        b.writes = !non_writable && (used & kWrite) != 0;
    } else {
        b.reads = true;
        b.writes = false;
    }
    out.bindings.push_back(b);
}

Result<ShaderInterface> Module::Interface(const EntryPoint& entry) const {
    const Summary* summary = nullptr;
    GPUCR_RETURN_IF_ERROR(Summarize(entry.function, 0, &summary));
    ShaderInterface out;
    out.entry_point = entry.name;
    out.execution_model = entry.model;
    out.uses_physical_pointers = physical_;
    out.uses_atomics = summary->atomics;
    for (uint32_t var : globals_) {
        if (summary->used.count(var) != 0) AddBinding(var, *summary, out);
    }
    std::sort(out.bindings.begin(), out.bindings.end(), [](const ShaderBinding& a, const ShaderBinding& b) {
        return std::pair(a.set, a.binding) < std::pair(b.set, b.binding);
    });
    return out;
}

}  // namespace

const char* ShaderBindingKindName(ShaderBinding::Kind kind) {
    using Kind = ShaderBinding::Kind;
    switch (kind) {
        case Kind::kStorageBuffer: return "storage_buffer";
        case Kind::kUniformBuffer: return "uniform_buffer";
        case Kind::kStorageImage: return "storage_image";
        case Kind::kSampledImage: return "sampled_image";
        case Kind::kCombinedImageSampler: return "combined_image_sampler";
        case Kind::kSampler: return "sampler";
        case Kind::kUniformTexelBuffer: return "uniform_texel_buffer";
        case Kind::kStorageTexelBuffer: return "storage_texel_buffer";
        case Kind::kAccelerationStructure: return "acceleration_structure";
        case Kind::kOther: return "other";
    }
    return "other";
}

Result<std::vector<ShaderInterface>> ReflectSpirv(const uint32_t* words, size_t word_count) {
    Module module;
    GPUCR_RETURN_IF_ERROR(module.Parse(words, word_count));
    std::vector<ShaderInterface> out;
    for (const EntryPoint& entry : module.entry_points()) {
        GPUCR_ASSIGN_OR_RETURN(ShaderInterface iface, module.Interface(entry));
        out.push_back(std::move(iface));
    }
    return out;
}

Result<ShaderInterface> ReflectEntryPoint(const uint32_t* words, size_t word_count, std::string_view entry_point) {
    Module module;
    GPUCR_RETURN_IF_ERROR(module.Parse(words, word_count));
    for (const EntryPoint& entry : module.entry_points()) {
        if (entry.name == entry_point) return module.Interface(entry);
    }
    return NotFound(fmt::format("SPIR-V module has no entry point '{}'", entry_point));
}

}  // namespace gpucr::vk
