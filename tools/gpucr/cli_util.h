// cli_util.h — helpers shared by gpucr's command files: failure reporting and number formatting.
//
//   if (!status.ok()) { *exit_code = Fail(status); return; }   // prints "gpucr: <message>", returns 1
//   std::string s = FormatBytes(3 << 20);                        // "3.0 MiB"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dag/status.h"

namespace gpucr::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints exactly one line, "gpucr: <message>", on stderr and returns kExitFailure.
int Fail(const Status& status);
int Fail(std::string_view message);

// "512 B", "4.0 KiB", "1.5 GiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace gpucr::cli
