#include "tools/gpucr/progress_line.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "tools/gpucr/cli_util.h"

namespace gpucr::cli {

using Clock = std::chrono::steady_clock;

ProgressLine::ProgressLine() : tty_(::isatty(STDERR_FILENO) == 1) {}

void ProgressLine::Update(const nlohmann::json& event) {
    if (!tty_) return;
    std::string phase = event.value("phase", std::string("progress"));
    uint64_t done = event.value("done", uint64_t{0});
    uint64_t total = event.value("total", uint64_t{0});
    if (phase != phase_) {
        phase_ = phase;
        phase_start_ = Clock::now();
        phase_start_done_ = done;
    }
    // Rate over this phase, from its first event; shown once it means something.
    double seconds = std::chrono::duration<double>(Clock::now() - phase_start_).count();
    std::string rate;
    if (seconds >= 0.2 && done >= phase_start_done_) {
        rate = fmt::format("  {:.1f} MiB/s", static_cast<double>(done - phase_start_done_) / (1 << 20) / seconds);
    }
    double percent = total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0;
    std::fprintf(stderr, "\r\x1b[K%s %5.1f%%  %s / %s%s", phase.c_str(), percent, FormatBytes(done).c_str(),
                 FormatBytes(total).c_str(), rate.c_str());
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressLine::Clear() {
    if (!drawn_) return;
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
}

}  // namespace gpucr::cli
