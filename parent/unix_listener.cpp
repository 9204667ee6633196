#include "parent/unix_listener.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "parent/files/trusted_path.hpp"

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

Result<UniqueFd> open_unix_listener(const Options& o) {
    const std::string& path = o.listen_unix;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return Error{"--listen-unix " + path + ": path too long"};
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!o.listen_unix_group.empty() && !group_id(o.listen_unix_group, gid)) {
        return Error{"--listen-unix-group " + o.listen_unix_group + ": no such group"};
    }
    // Only in a directory that nobody but root and our own user can change,
    // or a sticky one (/tmp), where nobody else can rename or remove the
    // socket once it is bound: elsewhere another user could swap a symbolic
    // link in between bind and the chown/chmod below, which act on names,
    // and send them to a file of his choice; or later replace the socket
    // with his own and collect the clients' requests. Binding in a private
    // directory and renaming into place would close the first hole only:
    // an fd-based chmod does not reach the file a unix socket binds
    // (fchmod before bind sets its mode on Linux, but not its group).
    auto parent = open_trusted_parent(path, false);
    if (!parent) return Error{"--listen-unix: " + parent.error()};
    const int dir = parent->dir.get();
    const char* name = parent->name.c_str();
    struct stat st {};
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return Error{"--listen-unix " + path + ": exists and is not a socket"};
        }
        ::unlinkat(dir, name, 0);  // a socket left by an earlier run
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
        return Error{std::string("--listen-unix: socket: ") + std::strerror(errno)};
    }
    // Bound with no access for anyone, then opened up: no window in which
    // the umask's mode applies.
    const mode_t old = ::umask(0777);
    const int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (rc != 0) {
        return Error{"--listen-unix " + path + ": bind: " + std::strerror(errno)};
    }
    // Relative to the checked directory, and never through a link.
    const char* failed = nullptr;
    if (gid != static_cast<gid_t>(-1) &&
        ::fchownat(dir, name, static_cast<uid_t>(-1), gid, AT_SYMLINK_NOFOLLOW) != 0) {
        failed = "chown";
    } else if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        failed = "stat";
    } else if (!S_ISSOCK(st.st_mode)) {
        return Error{"--listen-unix " + path + ": replaced while it was being set up"};
    } else if (::fchmodat(dir, name, static_cast<mode_t>(o.listen_unix_mode), 0) != 0) {
        failed = "chmod";
    }
    if (failed != nullptr) {
        Error e{"--listen-unix " + path + ": " + failed + ": " + std::strerror(errno)};
        ::unlinkat(dir, name, 0);
        return e;
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) {
        Error e{"--listen-unix " + path + ": listen: " + std::strerror(errno)};
        ::unlinkat(dir, name, 0);
        return e;
    }
    return fd;
}

}  // namespace proxy
