// progress_line.h — the self-updating progress line gpucr shows on stderr while the agent
// reports progress events ({"event":"progress","phase":P,"done":N,"total":N}); silent when
// stderr is not a terminal. Shared by dump, suspend, resume and migrate.
//
//   ProgressLine progress;
//   client::Request(fd, request, [&progress](const json& event) { progress.Update(event); });
//   // the line is cleared when `progress` goes out of scope
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace gpucr::cli {

class ProgressLine {
public:
    ProgressLine();
    ~ProgressLine() { Clear(); }
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

    // Draws "<phase> <percent>  <done> / <total>  <MiB/s>" over the previous line.
    void Update(const nlohmann::json& event);
    void Clear();

private:
    bool tty_;
    bool drawn_ = false;
    std::string phase_;
    std::chrono::steady_clock::time_point phase_start_ = std::chrono::steady_clock::now();
    uint64_t phase_start_done_ = 0;
};

}  // namespace gpucr::cli
