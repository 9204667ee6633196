#include "parent/users/peer_identity.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace proxy {

namespace {

std::uint16_t port_of(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET) return reinterpret_cast<const sockaddr_in&>(a).sin_port;
    return reinterpret_cast<const sockaddr_in6&>(a).sin6_port;
}

bool is_any(const sockaddr_storage& a) {
    if (a.ss_family == AF_INET)
        return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == htonl(INADDR_ANY);
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(a);
    return IN6_IS_ADDR_UNSPECIFIED(&a6.sin6_addr);
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) return false;
    if (a.ss_family == AF_INET)
        return reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr ==
               reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
    return std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr,
                       &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, 16) == 0;
}

// An IPv4 peer of a dual-stack IPv6 listener shows as ::ffff:a.b.c.d; its
// own socket is AF_INET, so that is what sock_diag must be asked about.
sockaddr_storage unmap_v4(const sockaddr_storage& a) {
    if (a.ss_family != AF_INET6) return a;
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(a);
    if (!IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) return a;
    sockaddr_storage out{};
    auto& v4 = reinterpret_cast<sockaddr_in&>(out);
    v4.sin_family = AF_INET;
    v4.sin_port = a6.sin6_port;
    std::memcpy(&v4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
    return out;
}

void copy_addr(const sockaddr_storage& a, __be32 (&out)[4]) {
    std::memset(out, 0, sizeof out);
    if (a.ss_family == AF_INET)
        std::memcpy(out, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, 4);
    else
        std::memcpy(out, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, 16);
}

}  // namespace

Result<void> PeerIdentifier::init(std::span<const int> listen_fds) {
    for (int fd : listen_fds) {
        Bound b;
        b.len = sizeof b.addr;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&b.addr), &b.len) != 0)
            return Error{std::string("getsockname on a listener: ") + std::strerror(errno)};
        listeners_.push_back(b);
    }
    diag_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!diag_)
        return Error{std::string("cannot open a NETLINK_SOCK_DIAG socket: ") +
                     std::strerror(errno)};
    // The kernel answers inside sendto(), so the reply is queued before recv
    // looks; the timeout only guards against a kernel that does otherwise.
    timeval tv{0, 200 * 1000};
    setsockopt(diag_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return {};
}

bool PeerIdentifier::is_our_listener_address(const sockaddr_storage& local, socklen_t len) const {
    for (const Bound& b : listeners_) {
        if (b.addr.ss_family != local.ss_family) continue;
        if (local.ss_family == AF_UNIX) {
            if (b.len == len && std::memcmp(&b.addr, &local, len) == 0) return true;
            continue;
        }
        if (port_of(b.addr) == port_of(local) && (is_any(b.addr) || same_address(b.addr, local)))
            return true;
    }
    return false;
}

std::optional<PeerIdentity> PeerIdentifier::identify(int fd, std::string& why) const {
    int type = 0, accepting = 0;
    socklen_t ilen = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) != 0) {
        why = "not a socket";
        return std::nullopt;
    }
    ilen = sizeof accepting;
    if (type != SOCK_STREAM ||
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &ilen) != 0 || accepting) {
        why = accepting ? "a listening socket" : "not a stream socket";
        return std::nullopt;
    }
    sockaddr_storage local{}, peer{};
    socklen_t llen = sizeof local, plen = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0 ||
        !is_our_listener_address(local, llen)) {
        why = "not a connection to one of our listeners";
        return std::nullopt;
    }
    PeerIdentity id;
    if (local.ss_family == AF_UNIX) {
        id.unix_socket = true;
        ucred cred{};
        socklen_t clen = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid != 0) {
            id.known = true;
            id.uid = cred.uid;
            id.pid = cred.pid;
        }
        return id;
    }
    // A peer that is already gone has no address: nobody to name.
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) return id;
    diag_lookup(unmap_v4(peer), unmap_v4(local), id);
    return id;
}

// NETLINK_SOCK_DIAG exact lookup of the client's own socket: its local end is
// our peer, its remote end our local address. The kernel fills idiag_uid with
// the uid that created that socket (sock_i_uid).
bool PeerIdentifier::diag_lookup(const sockaddr_storage& peer, const sockaddr_storage& local,
                                 PeerIdentity& out) const {
    if (!diag_ || peer.ss_family != local.ss_family) return false;
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.nlh.nlmsg_seq = ++seq_;
    msg.req.sdiag_family = static_cast<__u8>(peer.ss_family);
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = ~0u;
    msg.req.id.idiag_sport = port_of(peer);
    msg.req.id.idiag_dport = port_of(local);
    copy_addr(peer, msg.req.id.idiag_src);
    copy_addr(local, msg.req.id.idiag_dst);
    msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(diag_.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) != static_cast<ssize_t>(sizeof msg))
        return false;
    alignas(nlmsghdr) char buf[8192];
    for (;;) {
        ssize_t n = ::recv(diag_.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        int len = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != seq_) continue;  // a late answer to an earlier question
            if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) return false;
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
                return false;
            const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            // Only a socket that a process still holds has an owner. A client
            // that closed (or whose process died) leaves a time-wait mini-socket
            // (TIME_WAIT, or FIN_WAIT2 for a close before our FIN) or an orphan:
            // no inode, and uid 0 in the answer, which is nobody's, least of
            // all root's. Unidentified, never guessed.
            if (d->idiag_inode == 0 || d->idiag_state == TCP_TIME_WAIT) return false;
            out.known = true;
            out.uid = d->idiag_uid;
            return true;
        }
    }
}

}  // namespace proxy
