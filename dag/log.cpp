#include "dag/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace gpucr::log {
namespace {

std::atomic<int> g_threshold{-1};

Level ParseLevel(const char* s) {
    if (s == nullptr) return Level::kWarn;
    if (std::strcmp(s, "debug") == 0) return Level::kDebug;
    if (std::strcmp(s, "info") == 0) return Level::kInfo;
    if (std::strcmp(s, "warn") == 0) return Level::kWarn;
    if (std::strcmp(s, "error") == 0) return Level::kError;
    if (std::strcmp(s, "off") == 0) return Level::kOff;
    return Level::kWarn;
}

// A private logger (not registered globally) so that an application's own spdlog set-up is untouched.
spdlog::logger& Logger() {
    static spdlog::logger* logger = [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto* l = new spdlog::logger("gpucr", sink);
        l->set_pattern("gpucr %L %v");
        l->set_level(spdlog::level::trace);
        return l;
    }();
    return *logger;
}

spdlog::level::level_enum ToSpd(Level level) {
    switch (level) {
        case Level::kDebug: return spdlog::level::debug;
        case Level::kInfo: return spdlog::level::info;
        case Level::kWarn: return spdlog::level::warn;
        case Level::kError: return spdlog::level::err;
        case Level::kOff: return spdlog::level::off;
    }
    return spdlog::level::info;
}

}  // namespace

Level Threshold() {
    int t = g_threshold.load(std::memory_order_relaxed);
    if (t < 0) {
        t = static_cast<int>(ParseLevel(std::getenv("GPUCR_LOG")));
        g_threshold.store(t, std::memory_order_relaxed);
    }
    return static_cast<Level>(t);
}

void SetThreshold(Level level) { g_threshold.store(static_cast<int>(level)); }

void Write(Level level, std::string_view component, const char* file, int line, std::string_view message) noexcept {
    try {
        const char* base = std::strrchr(file, '/');
        Logger().log(ToSpd(level), "[{}] {}:{}: {}", component, base ? base + 1 : file, line, message);
    } catch (...) {
    }
}

}  // namespace gpucr::log
