// `gpucr inspect` and `gpucr verify`: read-only views of an image directory.
#include "tools/gpucr/cmd_image.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "dag/image.h"
#include "tools/gpucr/cli_util.h"

namespace gpucr::cli {
namespace {

using nlohmann::json;

// Manifest fields are read defensively: inspect must describe images written by other
// versions, or half-understood, without throwing.
const json& Field(const json& j, const char* key) {
    static const json kNull;
    if (!j.is_object()) return kNull;
    auto it = j.find(key);
    return it == j.end() ? kNull : *it;
}

std::string Text(const json& v, const std::string& fallback = "?") {
    if (v.is_null()) return fallback;
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

uint64_t U64(const json& v) { return v.is_number_unsigned() ? v.get<uint64_t>() : 0; }

const json& List(const json& j, const char* key) {
    static const json kEmpty = json::array();
    const json& v = Field(j, key);
    return v.is_array() ? v : kEmpty;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(sep) : "") + parts[i];
    return out;
}

std::string Hex(const json& v) { return v.is_number_unsigned() ? fmt::format("{:#x}", v.get<uint64_t>()) : Text(v); }

// Vulkan packs versions as variant:3 major:7 minor:10 patch:12.
std::string ApiVersion(const std::string& api, const json& v) {
    if (api != "vulkan" || !v.is_number_unsigned()) return Text(v);
    uint64_t x = v.get<uint64_t>();
    return fmt::format("{}.{}.{}", (x >> 22) & 0x7f, (x >> 12) & 0x3ff, x & 0xfff);
}

std::string SourceLine(const json& source) {
    std::vector<std::string> parts;
    if (!Field(source, "host").is_null()) parts.push_back("host " + Text(Field(source, "host")));
    if (!Field(source, "pid").is_null()) parts.push_back("pid " + Text(Field(source, "pid")));
    if (!Field(source, "exe").is_null()) parts.push_back("exe " + Text(Field(source, "exe")));
    return parts.empty() ? "?" : Join(parts, ", ");
}

std::string CmdlineText(const json& cmdline) {
    if (!cmdline.is_array()) return Text(cmdline, "");
    std::vector<std::string> args;
    for (const auto& a : cmdline) args.push_back(Text(a));
    return Join(args, " ");
}

void AppendDevices(std::string& out, const std::string& api, const json& section) {
    const json& devices = List(section, "devices");
    out += fmt::format("  devices    {}\n", devices.size());
    for (const auto& d : devices) {
        // The fields a front-end records (OpenCL's devices carry a name only).
        std::vector<std::string> details;
        if (!Field(d, "uuid").is_null()) details.push_back("uuid " + Text(Field(d, "uuid")));
        if (!Field(d, "driver_version").is_null()) details.push_back("driver " + Hex(Field(d, "driver_version")));
        if (!Field(d, "api_version").is_null()) details.push_back("api " + ApiVersion(api, Field(d, "api_version")));
        if (!Field(d, "vendor_id").is_null()) details.push_back("vendor " + Hex(Field(d, "vendor_id")));
        if (!Field(d, "device_id").is_null()) details.push_back("device " + Hex(Field(d, "device_id")));
        out += fmt::format("    [{}] {}{}\n", Text(Field(d, "id")), Text(Field(d, "name")),
                           details.empty() ? "" : " (" + Join(details, ", ") + ")");
    }
}

void AppendCut(std::string& out, const json& section) {
    const json& cut = Field(section, "cut");
    if (cut.is_null()) return;
    std::vector<std::string> queues;
    for (const auto& q : List(cut, "queues")) {
        queues.push_back(fmt::format("queue {} at seq {}", Text(Field(q, "queue")), Text(Field(q, "seq"))));
    }
    out += fmt::format("  cut        {}{}\n", queues.empty() ? "no queues" : Join(queues, ", "),
                       Field(cut, "time_ns").is_null() ? "" : "; time_ns " + Text(Field(cut, "time_ns")));
}

void AppendObjects(std::string& out, const json& section) {
    const json& objects = List(section, "objects");
    std::map<std::string, int> by_type;
    size_t deps = 0;
    for (const auto& o : objects) {
        ++by_type[Text(Field(o, "type"))];
        deps += List(o, "deps").size();
    }
    std::vector<std::string> counts;
    for (const auto& [type, n] : by_type) counts.push_back(fmt::format("{} {}", type, n));
    out += fmt::format("  objects    {}{}, {} dependency edges\n", objects.size(),
                       counts.empty() ? "" : " (" + Join(counts, ", ") + ")", deps);
}

void AppendResources(std::string& out, const image::ImageReader& reader, const json& section) {
    const json& resources = List(section, "resources");
    uint64_t total = 0;
    uint64_t refs = 0;
    uint64_t stored = 0;
    uint64_t missing = 0;
    std::set<std::string> distinct;
    for (const auto& r : resources) {
        total += U64(Field(r, "size"));
        for (const auto& c : List(r, "chunks")) {
            ++refs;
            auto ref = image::ChunkRefFromJson(c);
            if (!ref.ok() || !distinct.insert(ref->hash).second) continue;
            auto size = reader.ChunkFileSize(*ref);
            if (size.ok()) {
                stored += *size;
            } else {
                ++missing;
            }
        }
    }
    out += fmt::format("  resources  {}, {}\n", resources.size(), FormatBytes(total));
    out += fmt::format("  chunks     {} references, {} distinct, {} stored{}\n", refs, distinct.size(),
                       FormatBytes(stored), missing ? fmt::format(", {} MISSING", missing) : "");
}

void AppendStats(std::string& out, const json& stats, const std::string& indent) {
    if (!stats.is_object()) return;
    for (const auto& [key, value] : stats.items()) {
        if (key == "threads" && value.is_array()) {
            std::vector<std::string> threads;
            for (const auto& t : value) {
                threads.push_back(fmt::format("{} held {} ms", Text(Field(t, "tid")), Text(Field(t, "held_ms"))));
            }
            out += fmt::format("{}{:<18} {}: {}\n", indent, key, value.size(), Join(threads, ", "));
        } else if (value.is_number_float()) {
            out += fmt::format("{}{:<18} {:.3f}\n", indent, key, value.get<double>());
        } else {
            out += fmt::format("{}{:<18} {}\n", indent, key, Text(value));
        }
    }
}

void AppendSection(std::string& out, const image::ImageReader& reader, const json& section) {
    std::string api = Text(Field(section, "api"));
    out += fmt::format("\nsection {}\n", api);
    AppendDevices(out, api, section);
    AppendCut(out, section);
    AppendObjects(out, section);
    AppendResources(out, reader, section);
    const json& dag = Field(section, "dag");
    if (!dag.is_null()) {
        out += fmt::format("  dag        {} ops, {} edges\n", List(dag, "ops").size(), List(dag, "edges").size());
    }
    if (Field(section, "stats").is_object()) {
        out += "  stats\n";
        AppendStats(out, Field(section, "stats"), "    ");
    }
}

// ---- DOT ----

std::string DotEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void AppendDotSection(std::string& out, size_t index, const json& section) {
    const std::string prefix = fmt::format("s{}_", index);
    std::map<std::string, uint64_t> sizes;
    for (const auto& r : List(section, "resources")) sizes[Text(Field(r, "id"))] = U64(Field(r, "size"));
    const json& dag = Field(section, "dag");
    out +=
        fmt::format("  subgraph \"cluster_{}\" {{\n    label=\"{}\";\n", index, DotEscape(Text(Field(section, "api"))));
    std::set<std::string> resources;
    std::set<std::string> access_edges;
    for (const auto& op : List(dag, "ops")) {
        std::string id = Text(Field(op, "id"));
        std::string label = Text(Field(op, "kind"));
        if (!Field(op, "label").is_null()) label += "\n" + Text(Field(op, "label"));
        label += fmt::format("\nq{} #{}", Text(Field(op, "queue")), Text(Field(op, "seq")));
        out += fmt::format("    \"{}op{}\" [shape=box, label=\"{}\"];\n", prefix, DotEscape(id), DotEscape(label));
        for (const char* dir : {"reads", "writes"}) {
            bool read = std::string_view(dir) == "reads";
            for (const auto& a : List(op, dir)) {
                std::string res = Text(Field(a, "resource"));
                resources.insert(res);
                std::string style = Text(Field(a, "certainty"), "certain") == "speculated" ? "dashed" : "solid";
                std::string from = read ? prefix + "res" + res : prefix + "op" + id;
                std::string to = read ? prefix + "op" + id : prefix + "res" + res;
                access_edges.insert(fmt::format("  \"{}\" -> \"{}\" [color={}, style={}];\n", DotEscape(from),
                                                DotEscape(to), read ? "blue" : "red", style));
            }
        }
    }
    for (const std::string& res : resources) {
        std::string label = "resource " + res;
        if (sizes.count(res)) label += "\n" + FormatBytes(sizes[res]);
        out += fmt::format("    \"{}res{}\" [shape=ellipse, style=filled, fillcolor=lightgrey, label=\"{}\"];\n",
                           prefix, DotEscape(res), DotEscape(label));
    }
    out += "  }\n";
    for (const auto& e : List(dag, "edges")) {
        if (!e.is_array() || e.size() < 2) continue;
        out += fmt::format("  \"{}op{}\" -> \"{}op{}\" [label=\"{}\"];\n", prefix, DotEscape(Text(e[0])), prefix,
                           DotEscape(Text(e[1])), e.size() > 2 ? DotEscape(Text(e[2])) : "");
    }
    for (const std::string& edge : access_edges) out += edge;
}

// ---- verify progress ----

// One self-overwriting line on stderr, only when stderr is a terminal, at most ~10 per second.
class VerifyProgress {
public:
    VerifyProgress() : tty_(::isatty(STDERR_FILENO) == 1) {}
    ~VerifyProgress() {
        if (drawn_) std::fputs("\r\x1b[K", stderr);
    }
    void Update(uint64_t done, uint64_t total) {
        auto now = std::chrono::steady_clock::now();
        if (!tty_ || (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100))) return;
        last_ = now;
        double percent = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
        std::fprintf(stderr, "\r\x1b[Kverifying %5.1f%%  %s / %s", percent, FormatBytes(done).c_str(),
                     FormatBytes(total).c_str());
        std::fflush(stderr);
        drawn_ = true;
    }

private:
    bool tty_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace

std::string InspectText(const image::ImageReader& reader) {
    const json& m = reader.manifest();
    std::string out;
    out += fmt::format("image      {}\n", reader.dir());
    out += fmt::format("format     {} v{}\n", Text(Field(m, "format")), Text(Field(m, "version")));
    out += fmt::format("creator    {}\n", Text(Field(m, "creator")));
    out += fmt::format("created    {}\n", Text(Field(m, "created")));
    out += fmt::format("source     {}\n", SourceLine(Field(m, "source")));
    std::string cmdline = CmdlineText(Field(Field(m, "source"), "cmdline"));
    if (!cmdline.empty()) out += fmt::format("cmdline    {}\n", cmdline);
    out += fmt::format("mode       {}\n", Text(Field(m, "mode")));
    std::vector<std::string> apis;
    for (const auto& a : List(m, "apis")) apis.push_back(Text(a));
    out += fmt::format("apis       {}\n", apis.empty() ? "none" : Join(apis, ", "));
    out += fmt::format("chunks     {} ({} raw offered, {} stored)\n", Text(Field(m, "chunk_count")),
                       FormatBytes(U64(Field(m, "bytes_raw"))), FormatBytes(U64(Field(m, "bytes_stored"))));
    for (const auto& section : List(m, "sections")) AppendSection(out, reader, section);
    if (Field(m, "stats").is_object()) {
        out += "\nstats\n";
        AppendStats(out, Field(m, "stats"), "  ");
    }
    return out;
}

std::string DagToDot(const json& manifest) {
    std::string out = "digraph gpucr {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n";
    const json& sections = List(manifest, "sections");
    for (size_t i = 0; i < sections.size(); ++i) AppendDotSection(out, i, sections[i]);
    out += "}\n";
    return out;
}

int RunInspect(const std::string& dir, InspectFormat format, std::FILE* out) {
    auto reader = image::ImageReader::Open(dir);
    if (!reader.ok()) return Fail(reader.status());
    std::string text;
    try {
        switch (format) {
            case InspectFormat::kText: text = InspectText(**reader); break;
            case InspectFormat::kJson: text = (*reader)->manifest().dump(2) + "\n"; break;
            case InspectFormat::kDot: text = DagToDot((*reader)->manifest()); break;
        }
    } catch (const json::exception& e) {
        return Fail(fmt::format("{}/manifest.json: unexpected content ({})", (*reader)->dir(), e.what()));
    }
    std::fputs(text.c_str(), out);
    return std::fflush(out) == 0 ? kExitOk : Fail("cannot write the output");
}

int RunVerify(const std::string& dir, std::FILE* out) {
    auto reader = image::ImageReader::Open(dir);
    if (!reader.ok()) return Fail(reader.status());
    auto chunks = (*reader)->ReferencedChunks();
    if (!chunks.ok()) return Fail(chunks.status());
    uint64_t bytes = 0;
    for (const auto& c : *chunks) bytes += c.size;
    Status s = [&] {
        VerifyProgress progress;
        return (*reader)->VerifyAll([&progress](uint64_t done, uint64_t total) { progress.Update(done, total); });
    }();
    if (!s.ok()) return Fail(s);
    std::fprintf(out, "ok: %zu chunks, %s verified\n", chunks->size(), FormatBytes(bytes).c_str());
    return std::fflush(out) == 0 ? kExitOk : Fail("cannot write the output");
}

}  // namespace gpucr::cli

void AddImageCommands(CLI::App& app, int* exit_code) {
    using gpucr::cli::InspectFormat;
    struct InspectArgs {
        std::string dir;
        bool json = false;
        bool dot = false;
    };
    auto inspect_args = std::make_shared<InspectArgs>();
    CLI::App* inspect = app.add_subcommand("inspect", "Describe a checkpoint image (checks the manifest only)");
    inspect->add_option("-D,--dir", inspect_args->dir, "Image directory")->required();
    CLI::Option* json = inspect->add_flag("--json", inspect_args->json, "Print the manifest as JSON");
    inspect->add_flag("--dot", inspect_args->dot, "Print the kernel DAG as a Graphviz digraph")->excludes(json);
    inspect->callback([inspect_args, exit_code] {
        InspectFormat format = inspect_args->json  ? InspectFormat::kJson
                               : inspect_args->dot ? InspectFormat::kDot
                                                   : InspectFormat::kText;
        *exit_code = gpucr::cli::RunInspect(inspect_args->dir, format, stdout);
    });

    auto verify_dir = std::make_shared<std::string>();
    CLI::App* verify = app.add_subcommand("verify", "Check every checksum of a checkpoint image");
    verify->add_option("-D,--dir", *verify_dir, "Image directory")->required();
    verify->callback([verify_dir, exit_code] { *exit_code = gpucr::cli::RunVerify(*verify_dir, stdout); });
}
