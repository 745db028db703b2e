// cmd_image.h — the image commands of gpucr: `inspect -D DIR [--json|--dot]` and `verify -D DIR`.
//
// Both read images only through dag/image.h. inspect prints a summary of the manifest (or the
// manifest itself, or the kernel DAG as Graphviz); it checks the manifest's checksum but not
// the chunks. verify checks every chunk. On failure both print one "gpucr: <message>" line
// naming the damaged piece and leave exit code 1.
//
//   int exit_code = 0;
//   AddImageCommands(app, &exit_code);   // callbacks set exit_code (0 ok, 1 failure)
//
//   std::string dot = gpucr::cli::DagToDot(reader->manifest());   // for tests and other tools
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

namespace gpucr::image {
class ImageReader;
}

namespace gpucr::cli {

enum class InspectFormat { kText, kJson, kDot };

// The commands' bodies; they print to `out` (results) and stderr (errors, progress) and
// return the exit code.
int RunInspect(const std::string& dir, InspectFormat format, std::FILE* out);
int RunVerify(const std::string& dir, std::FILE* out);

// Human-readable summary of an opened image (the text of `gpucr inspect`).
std::string InspectText(const image::ImageReader& reader);
// Graphviz digraph of every section's "dag": op nodes, op->op edges labelled raw/war/waw,
// resource nodes with read (resource->op) and write (op->resource) edges, dashed when speculated.
std::string DagToDot(const nlohmann::json& manifest);

}  // namespace gpucr::cli

// Registers "inspect" and "verify" on `app`.
void AddImageCommands(CLI::App& app, int* exit_code);
