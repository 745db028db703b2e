// image_extract — test helper: writes every resource of an image's API sections (Vulkan, OpenCL) to
// <out>/res<i>.bin (i: position in creation order, i.e. ascending resource id) and
// <out>/index.json [{"index", "id", "size", "object", "kind", ...the resource entry's other fields}], verifying every chunk on the way.
//
//   image_extract /tmp/img /tmp/out
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "dag/image.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: image_extract IMAGE_DIR OUT_DIR\n");
        return 2;
    }
    auto reader = gpucr::image::ImageReader::Open(argv[1]);
    if (!reader.ok()) {
        std::fprintf(stderr, "image_extract: %s\n", reader.status().message().c_str());
        return 1;
    }
    const auto& manifest = (*reader)->manifest();
    std::vector<nlohmann::json> resources;
    for (const auto& section : manifest.at("sections")) {
        const std::string api = section.value("api", "");
        if (api != "vulkan" && api != "opencl" && api != "cuda") continue;
        for (const auto& r : section.at("resources")) resources.push_back(r);
    }
    std::sort(resources.begin(), resources.end(),
              [](const auto& a, const auto& b) { return a.at("id").template get<uint64_t>() < b.at("id").template get<uint64_t>(); });
    nlohmann::json index = nlohmann::json::array();
    for (size_t i = 0; i < resources.size(); ++i) {
        const auto& r = resources[i];
        const uint64_t size = r.at("size").get<uint64_t>();
        std::vector<char> bytes(size);
        auto s = (*reader)->ReadResource(r, bytes.data(), size);
        if (!s.ok()) {
            std::fprintf(stderr, "image_extract: %s\n", s.message().c_str());
            return 1;
        }
        std::ofstream out(std::string(argv[2]) + "/res" + std::to_string(i) + ".bin", std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(size));
        nlohmann::json entry = r;  // every field of the resource entry (CUDA: address, origin, ...)
        entry.erase("chunks");
        entry["index"] = i;
        entry["size"] = size;
        entry["object"] = r.value("object", nlohmann::json());
        entry["kind"] = r.value("kind", std::string());
        index.push_back(std::move(entry));
    }
    std::ofstream(std::string(argv[2]) + "/index.json") << index.dump(2) << "\n";
    return 0;
}
