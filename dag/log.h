// log.h — logging for every gpucr component.
//
// Messages go to stderr (never stdout: front-ends live inside applications), filtered by
// GPUCR_LOG=error|warn|info|debug (default warn). Each line carries the component prefix,
// file and line. The _ONCE variants log a given call site at most once (hot paths).
//
//   GPUCR_LOG_WARN("vk", "memory type {} not importable, capture falls back to staging", idx);
//   GPUCR_LOG_ERROR_ONCE("vk", "vkQueueSubmit hook failed: {}", status.message());
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <string_view>

namespace gpucr::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Current threshold, read from GPUCR_LOG on first use.
Level Threshold();
void SetThreshold(Level level);
inline bool Enabled(Level level) { return static_cast<int>(level) >= static_cast<int>(Threshold()); }
void Write(Level level, std::string_view component, const char* file, int line, std::string_view message) noexcept;

}  // namespace gpucr::log

#define GPUCR_LOG_AT(level, component, ...)                                                            \
    do {                                                                                               \
        if (::gpucr::log::Enabled(level)) {                                                            \
            try {                                                                                      \
                ::gpucr::log::Write(level, component, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
            } catch (...) {                                                                            \
            }                                                                                          \
        }                                                                                              \
    } while (0)

#define GPUCR_LOG_ONCE_AT(level, component, ...)                             \
    do {                                                                     \
        static std::atomic<bool> gpucr_logged_once_{false};                  \
        if (!gpucr_logged_once_.exchange(true)) GPUCR_LOG_AT(level, component, __VA_ARGS__); \
    } while (0)

#define GPUCR_LOG_DEBUG(component, ...) GPUCR_LOG_AT(::gpucr::log::Level::kDebug, component, __VA_ARGS__)
#define GPUCR_LOG_INFO(component, ...) GPUCR_LOG_AT(::gpucr::log::Level::kInfo, component, __VA_ARGS__)
#define GPUCR_LOG_WARN(component, ...) GPUCR_LOG_AT(::gpucr::log::Level::kWarn, component, __VA_ARGS__)
#define GPUCR_LOG_ERROR(component, ...) GPUCR_LOG_AT(::gpucr::log::Level::kError, component, __VA_ARGS__)
#define GPUCR_LOG_WARN_ONCE(component, ...) GPUCR_LOG_ONCE_AT(::gpucr::log::Level::kWarn, component, __VA_ARGS__)
#define GPUCR_LOG_ERROR_ONCE(component, ...) GPUCR_LOG_ONCE_AT(::gpucr::log::Level::kError, component, __VA_ARGS__)
