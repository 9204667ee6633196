// One-line logging to stderr (journald under systemd). Never pass the key or
// anything derived from it; log call sites only get what they format.
#pragma once

#include <string>
#include <string_view>

namespace proxy::log {

enum class Level { Debug, Info, Warn, Error, Security };

// Role shown in every line: "parent" or "worker N".
void set_role(const char* role);
void set_verbose(bool on);

void line(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Appends one whole log line (prefix, text, newline) to `out`, for callers
// that write many lines with one write(2) (the audit log, once per loop turn).
void append_line(std::string& out, Level level, std::string_view text);
bool enabled(Level level);

}  // namespace proxy::log

#define LOG_DEBUG(...) ::proxy::log::line(::proxy::log::Level::Debug, __VA_ARGS__)
#define LOG_INFO(...) ::proxy::log::line(::proxy::log::Level::Info, __VA_ARGS__)
#define LOG_WARN(...) ::proxy::log::line(::proxy::log::Level::Warn, __VA_ARGS__)
#define LOG_ERROR(...) ::proxy::log::line(::proxy::log::Level::Error, __VA_ARGS__)
#define LOG_SECURITY(...) ::proxy::log::line(::proxy::log::Level::Security, __VA_ARGS__)
