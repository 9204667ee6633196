#include "parent/listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/socket_address.hpp"
#include "parent/systemd.hpp"

namespace proxy {

Result<Listener> open_listener(std::optional<std::uint16_t> port) {
    Listener l;
    // Socket activation: the port stays bound across restarts, so no other
    // local user can squat it while we are down.
    auto fds = systemd_listen_fds();
    if (!fds.empty()) {
        l.fd.reset(fds.front());
        for (std::size_t i = 1; i < fds.size(); ++i) UniqueFd extra(fds[i]);
        l.port = local_port(l.fd.get());
        l.from_systemd = true;
        return l;
    }
    l.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!l.fd) return Error{std::string("socket: ") + std::strerror(errno)};
    int one = 1;
    setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port.value_or(0));
    if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return Error{"failed to bind 127.0.0.1:" + std::to_string(port.value_or(0)) + ": " +
                     std::strerror(errno)};
    }
    if (::listen(l.fd.get(), SOMAXCONN) != 0)
        return Error{std::string("listen: ") + std::strerror(errno)};
    l.port = local_port(l.fd.get());
    return l;
}

}  // namespace proxy
