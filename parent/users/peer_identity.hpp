// Who is calling: the uid that owns the other end of a client connection, as
// the kernel knows it. Never the worker's word, never a header.
//
// A worker hands the parent each accepted connection once (ConnOpen, the
// socket itself over SCM_RIGHTS). For TCP the parent asks NETLINK_SOCK_DIAG
// for the socket at the other end of that 4-tuple and takes the uid that
// created it; for the unix listener, SO_PEERCRED. The worker cannot make a
// socket (its seccomp filter), so the only connections it can hand over are
// ones it really accepted on our listeners, and those are checked here.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

struct PeerIdentity {
    // false: unidentified. The peer socket is gone, is a time-wait or FIN_WAIT2
    // mini-socket or an orphan (no inode), or is not on this host.
    bool known = false;
    uid_t uid = 0;
    pid_t pid = 0;  // unix socket peers only (SO_PEERCRED), else 0
    bool unix_socket = false;
};

class PeerIdentifier {
  public:
    // Opens the sock_diag socket (before the sandbox) and records the local
    // addresses of our listeners.
    Result<void> init(std::span<const int> listen_fds);
    // nullopt when `fd` is not a connected stream socket accepted on one of
    // our listeners: a worker handing over anything else is hostile. `why`
    // says what it was.
    std::optional<PeerIdentity> identify(int fd, std::string& why) const;

  private:
    struct Bound {
        sockaddr_storage addr{};
        socklen_t len = 0;
    };
    bool is_our_listener_address(const sockaddr_storage& local, socklen_t len) const;
    bool diag_lookup(const sockaddr_storage& peer, const sockaddr_storage& local,
                     PeerIdentity& out) const;

    UniqueFd diag_;
    std::vector<Bound> listeners_;
    mutable unsigned seq_ = 0;
};

}  // namespace proxy
