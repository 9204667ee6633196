#include "parent/unix_listener.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace proxy {

namespace {

bool group_id(const std::string& name, gid_t& gid) {
    unsigned long v = 0;
    auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
    if (ec == std::errc() && p == name.data() + name.size()) {
        gid = static_cast<gid_t>(v);
        return true;
    }
    const group* g = ::getgrnam(name.c_str());
    if (g == nullptr) return false;
    gid = g->gr_gid;
    return true;
}

}  // namespace

UniqueFd open_unix_listener(const Options& o, std::string& error) {
    const std::string& path = o.listen_unix;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        error = "--listen-unix " + path + ": path too long";
        return {};
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!o.listen_unix_group.empty() && !group_id(o.listen_unix_group, gid)) {
        error = "--listen-unix-group " + o.listen_unix_group + ": no such group";
        return {};
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error = "--listen-unix " + path + ": exists and is not a socket";
            return {};
        }
        ::unlink(path.c_str());  // a socket left by an earlier run
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        error = std::string("--listen-unix: socket: ") + std::strerror(errno);
        return {};
    }
    // Bound with no access for anyone, then opened up: no window in which
    // the umask's mode applies.
    const mode_t old = ::umask(0777);
    const int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (rc != 0) {
        error = "--listen-unix " + path + ": bind: " + std::strerror(errno);
        return {};
    }
    if ((gid != static_cast<gid_t>(-1) &&
         ::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) ||
        ::chmod(path.c_str(), static_cast<mode_t>(o.listen_unix_mode)) != 0) {
        error = "--listen-unix " + path + ": " + std::strerror(errno);
        ::unlink(path.c_str());
        return {};
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) {
        error = "--listen-unix " + path + ": listen: " + std::strerror(errno);
        ::unlink(path.c_str());
        return {};
    }
    return fd;
}

}  // namespace proxy
