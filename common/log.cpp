#include "common/log.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace proxy::log {

namespace {
char g_role[32] = "parent";
bool g_verbose = false;

// The pid in every line, asked of the kernel once per process rather than per
// line (an audit line per request; each system call also runs the seccomp
// filter). A forked child asks again: fork() runs the atfork handler.
std::atomic<int> g_pid{0};
int own_pid() {
    int pid = g_pid.load(std::memory_order_relaxed);
    if (pid != 0) return pid;
    static const bool registered = [] {
        pthread_atfork(nullptr, nullptr, [] { g_pid.store(0, std::memory_order_relaxed); });
        return true;
    }();
    (void)registered;
    pid = static_cast<int>(getpid());
    g_pid.store(pid, std::memory_order_relaxed);
    return pid;
}

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
    int n =
        std::snprintf(prefix, sizeof prefix, "codex-responses-api-proxy[%d] %s: %s: ", own_pid(),
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
    int n = std::snprintf(buf, sizeof buf, "codex-responses-api-proxy[%d] %s: %s: ", own_pid(),
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
