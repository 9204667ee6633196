#include "parent/systemd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>

#include "common/log.hpp"
#include "common/unique_fd.hpp"

namespace proxy {
namespace {

// Strict decimal without sign or spaces: the variables come from our own
// service manager, but a value we half-understand must not pick our fds.
std::optional<long long> parse_env_decimal(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    std::string_view s(value);
    long long n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || s[0] == '-') {
        LOG_WARN("systemd: ignoring malformed %s", name);
        return std::nullopt;
    }
    return n;
}

void unset_listen_env() {
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
}

// The notify socket kept open by systemd_notify_prepare(), for the life of the
// process. Opened before the upstream threads start, and only the main loop's
// thread notifies, so a plain static is enough.
UniqueFd g_notify_fd;

int open_notify_socket() {
    return ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

// Fills `addr` from NOTIFY_SOCKET; returns the address length, 0 if unusable.
socklen_t notify_address(sockaddr_un& addr) {
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (value == nullptr) return 0;
    std::string_view s(value);
    // Only "/path" and "@abstract"; systemd's "vsock:" form is for VMs.
    if (s.size() < 2 || (s[0] != '/' && s[0] != '@')) return 0;
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (s[0] == '@') {
        // Abstract names are length-delimited, not NUL-terminated.
        if (s.size() > sizeof addr.sun_path) return 0;
        addr.sun_path[0] = '\0';
        std::memcpy(addr.sun_path + 1, s.data() + 1, s.size() - 1);
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + s.size());
    }
    if (s.size() >= sizeof addr.sun_path) return 0;
    std::memcpy(addr.sun_path, s.data(), s.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + s.size() + 1);
}

}  // namespace

std::vector<int> systemd_listen_fds() {
    std::vector<int> fds;
    auto pid = parse_env_decimal("LISTEN_PID");
    auto n = parse_env_decimal("LISTEN_FDS");
    // Unset before returning, whatever the outcome: a child that inherited
    // these would otherwise take fds 3.. for sockets (sd_listen_fds(1) does
    // the same).
    unset_listen_env();
    if (!pid || !n || *pid != static_cast<long long>(::getpid())) return fds;
    if (*n <= 0 || *n > INT_MAX - systemd_listen_fds_start) {
        LOG_WARN("systemd: ignoring LISTEN_FDS=%lld", *n);
        return fds;
    }
    for (int fd = systemd_listen_fds_start; fd < systemd_listen_fds_start + *n; ++fd) {
        int fd_flags = ::fcntl(fd, F_GETFD);
        int fl_flags = fd_flags < 0 ? -1 : ::fcntl(fd, F_GETFL);
        if (fl_flags < 0 || ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) < 0 ||
            ::fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK) < 0) {
            // A missing fd means the environment lies about what we got;
            // serving on whatever else sits at that number would be worse.
            LOG_WARN("systemd: LISTEN_FDS names fd %d, which is not usable: %s", fd,
                     std::strerror(errno));
            return {};
        }
        fds.push_back(fd);
    }
    return fds;
}

bool systemd_notify_prepare() {
    if (std::getenv("NOTIFY_SOCKET") == nullptr) return false;
    if (g_notify_fd) return true;
    g_notify_fd.reset(open_notify_socket());
    return static_cast<bool>(g_notify_fd);
}

bool systemd_notify(std::string_view state) {
    if (state.empty()) return false;
    sockaddr_un addr;
    socklen_t addr_len = notify_address(addr);
    if (addr_len == 0) return false;

    // Without systemd_notify_prepare(), a socket for this notification only.
    UniqueFd one_shot(g_notify_fd ? -1 : open_notify_socket());
    int fd = g_notify_fd ? g_notify_fd.get() : one_shot.get();
    if (fd < 0) return false;

    ssize_t sent;
    do {
        sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                        reinterpret_cast<const sockaddr*>(&addr), addr_len);
    } while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(state.size())) {
        LOG_DEBUG("systemd: notification not delivered: %s",
                  sent < 0 ? std::strerror(errno) : "short send");
        return false;
    }
    return true;
}

std::string systemd_reloading_state() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    std::uint64_t usec = static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
                         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

std::uint64_t systemd_watchdog_period_usec() {
    auto usec = parse_env_decimal("WATCHDOG_USEC");
    if (!usec || *usec <= 0) return 0;
    if (std::getenv("WATCHDOG_PID") != nullptr) {
        auto pid = parse_env_decimal("WATCHDOG_PID");
        if (!pid || *pid != static_cast<long long>(::getpid())) return 0;  // not ours
    }
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(*usec) / 2);
}

std::string systemd_credential_path(std::string_view name) {
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (dir == nullptr || dir[0] != '/') return {};
    // A credential name is a file name: no separators, no way out of the dir.
    if (name.empty() || name == "." || name == ".." ||
        name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos) {
        return {};
    }
    std::string path(dir);
    if (path.back() != '/') path += '/';
    path += name;
    return path;
}

}  // namespace proxy
