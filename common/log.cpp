#include "common/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace proxy::log {

namespace {
char g_role[32] = "parent";
bool g_verbose = false;

const char* level_name(Level l) {
    switch (l) {
        case Level::Debug:
            return "debug";
        case Level::Info:
            return "info";
        case Level::Warn:
            return "warning";
        case Level::Error:
            return "error";
        case Level::Security:
            return "SECURITY";
    }
    return "?";
}
}  // namespace

void set_role(const char* role) {
    std::snprintf(g_role, sizeof g_role, "%s", role);
}
void set_verbose(bool on) {
    g_verbose = on;
}

bool enabled(Level level) {
    return level != Level::Debug || g_verbose;
}

void append_line(std::string& out, Level level, std::string_view text) {
    char prefix[96];
    int n = std::snprintf(prefix, sizeof prefix,
                          "codex-responses-api-proxy[%d] %s: %s: ", static_cast<int>(getpid()),
                          g_role, level_name(level));
    if (n > 0)
        out.append(prefix, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof prefix - 1));
    out.append(text);
    out.push_back('\n');
}

void line(Level level, const char* fmt, ...) {
    if (level == Level::Debug && !g_verbose) return;
    // Format into a stack buffer and emit with one write(2) so lines from
    // several processes sharing stderr do not interleave.
    char buf[4096];  // audit lines carry a client path of up to 256 escaped bytes
    int n = std::snprintf(buf, sizeof buf,
                          "codex-responses-api-proxy[%d] %s: %s: ", static_cast<int>(getpid()),
                          g_role, level_name(level));
    if (n < 0) return;
    std::size_t used =
        static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(buf + used, sizeof buf - used, fmt, ap);
    va_end(ap);
    if (m > 0)
        used += static_cast<std::size_t>(m) < sizeof buf - used ? static_cast<std::size_t>(m)
                                                                : sizeof buf - used - 1;
    if (used >= sizeof buf - 1) used = sizeof buf - 2;
    buf[used++] = '\n';
    ssize_t w = ::write(STDERR_FILENO, buf, used);
    (void)w;
}

}  // namespace proxy::log
