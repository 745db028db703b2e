// example_ref — CPU reference of the example workloads (see examples/README.md).
//
//   example_ref --example stencil --mib 4 --gpu-steps 10 --checksum
//   example_ref --example serving --mib 4 --gpu-steps 10 --host-steps 11 --out /tmp/ref
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "examples/reference.h"

namespace gpucr::examples {
namespace {

struct Args {
    std::string example;
    uint32_t mib = 64;
    uint32_t buffers = kDefaultManybufBuffers;
    uint64_t gpu_steps = 0;
    std::optional<uint64_t> host_steps;
    std::string out;
    bool checksum = false;
};

Status WriteFile(const std::filesystem::path& path, const void* data, size_t bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) return IoError("cannot create " + path.string());
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    f.close();
    if (!f) return IoError("cannot write " + path.string());
    return Status::Ok();
}

// mem<index>.bin per memory object and index.json [{"index","size","role"}].
Status WriteState(const std::filesystem::path& dir, const std::vector<BufferSpec>& specs, const State& state) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
    nlohmann::json index = nlohmann::json::array();
    for (size_t m = 0; m < state.size(); ++m) {
        const auto path = dir / ("mem" + std::to_string(m) + ".bin");
        GPUCR_RETURN_IF_ERROR(WriteFile(path, state[m].data(), state[m].size() * sizeof(uint32_t)));
        index.push_back({{"index", m}, {"size", specs[m].size}, {"role", specs[m].role}});
    }
    const std::string text = index.dump(2) + "\n";
    return WriteFile(dir / "index.json", text.data(), text.size());
}

Status Run(const Args& args) {
    GPUCR_ASSIGN_OR_RETURN(ExampleKind kind, ParseExampleKind(args.example));
    WorkloadParams params{.kind = kind, .mib = args.mib, .buffers = args.buffers};
    GPUCR_ASSIGN_OR_RETURN(std::vector<BufferSpec> specs, Layout(params));
    GPUCR_ASSIGN_OR_RETURN(State state, ComputeReferenceState(params, args.gpu_steps, args.host_steps));
    if (!args.out.empty()) GPUCR_RETURN_IF_ERROR(WriteState(args.out, specs, state));
    if (args.checksum) std::printf("%s\n", ChecksumLine(StateChecksum(state)).c_str());
    return Status::Ok();
}

}  // namespace
}  // namespace gpucr::examples

int main(int argc, char** argv) {
    gpucr::examples::Args args;
    CLI::App app{"CPU reference of the gpucr example workloads"};
    app.add_option("--example", args.example, "stencil | serving | manybuf")->required();
    app.add_option("--mib", args.mib, "state size in MiB (as the example's --mib)");
    app.add_option("--buffers", args.buffers, "manybuf: number of buffers");
    app.add_option("--gpu-steps", args.gpu_steps, "completed GPU steps (meta[0])")->required();
    app.add_option("--host-steps", args.host_steps, "serving: host writes of the input buffer (default gpu steps)");
    app.add_option("--out", args.out, "write mem<index>.bin and index.json into this directory");
    app.add_flag("--checksum", args.checksum, "print the checksum the example prints after gpu-steps steps");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (args.out.empty() && !args.checksum) {
        std::fprintf(stderr, "example_ref: nothing to do (give --out DIR and/or --checksum)\n");
        return 2;
    }
    gpucr::Status status = gpucr::examples::Run(args);
    if (!status.ok()) {
        std::fprintf(stderr, "example_ref: %s\n", status.message().c_str());
        return status.code() == gpucr::Code::kInvalidArgument ? 2 : 1;
    }
    return 0;
}
