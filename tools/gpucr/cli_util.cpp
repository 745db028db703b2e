#include "tools/gpucr/cli_util.h"

#include <fmt/format.h>

#include <cstdio>

namespace gpucr::cli {

int Fail(std::string_view message) {
    std::string line(message);
    for (char& c : line) {
        if (c == '\n' || c == '\r') c = ' ';  // one line, always
    }
    std::fprintf(stderr, "gpucr: %s\n", line.c_str());
    return kExitFailure;
}

int Fail(const Status& status) { return Fail(status.message().empty() ? CodeName(status.code()) : status.message()); }

std::string FormatBytes(uint64_t bytes) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double v = static_cast<double>(bytes);
    int unit = 0;
    while (v >= 1024.0 && unit < 4) {
        v /= 1024.0;
        ++unit;
    }
    return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

}  // namespace gpucr::cli
