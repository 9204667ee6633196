// PeerIdentifier against real sockets: the uid that owns the other end of a
// loopback TCP connection (NETLINK_SOCK_DIAG) or a unix one (SO_PEERCRED).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/unique_fd.hpp"
#include "parent/users/peer_identity.hpp"

using namespace proxy;

namespace {

UniqueFd tcp_listener(sockaddr_in& a) {
    UniqueFd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(l.get(), 8) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return l;
}

// A child that connects as `uid` and stays connected until killed.
pid_t connect_as(uid_t uid, const sockaddr* addr, socklen_t len, int family) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::getuid() != uid &&
            (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0))
            _exit(2);
        int c = ::socket(family, SOCK_STREAM, 0);
        if (c < 0 || ::connect(c, addr, len) != 0) _exit(3);
        (void)!::write(ready[1], "x", 1);
        for (;;) ::pause();
    }
    ::close(ready[1]);
    char b;
    REQUIRE(::read(ready[0], &b, 1) == 1);
    ::close(ready[0]);
    return pid;
}

void stop_peer(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

}  // namespace

TEST_CASE("peer identity: the uid behind a loopback TCP connection, from the kernel") {
    sockaddr_in a{};
    UniqueFd l = tcp_listener(a);
    PeerIdentifier ids;
    const int lfd = l.get();
    const auto ready = ids.init(std::span<const int>(&lfd, 1));
    REQUIRE_MESSAGE(ready, ready.error());
    // Ourselves, and (as root) an unprivileged user: the answer follows the
    // socket's owner, not who accepted it.
    std::vector<uid_t> uids{::getuid()};
    if (::geteuid() == 0) uids.push_back(65534);
    for (uid_t uid : uids) {
        CAPTURE(uid);
        pid_t child = connect_as(uid, reinterpret_cast<sockaddr*>(&a), sizeof a, AF_INET);
        UniqueFd s(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(s);
        std::string why;
        auto id = ids.identify(s.get(), why);
        REQUIRE_MESSAGE(id, why);
        CHECK(id->known);
        CHECK(id->uid == uid);
        CHECK_FALSE(id->unix_socket);
        stop_peer(child);
    }
}

TEST_CASE("peer identity: a unix socket peer by SO_PEERCRED") {
    std::string path = "/tmp/peer-identity-test-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::chmod(path.c_str(), 0666);
    REQUIRE(::listen(l.get(), 8) == 0);
    PeerIdentifier ids;
    const int lfd = l.get();
    const auto ready = ids.init(std::span<const int>(&lfd, 1));
    REQUIRE_MESSAGE(ready, ready.error());
    const uid_t uid = ::geteuid() == 0 ? 65534 : ::getuid();
    pid_t child = connect_as(uid, reinterpret_cast<sockaddr*>(&a), sizeof a, AF_UNIX);
    UniqueFd s(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(s);
    std::string why;
    auto id = ids.identify(s.get(), why);
    REQUIRE_MESSAGE(id, why);
    CHECK(id->known);
    CHECK(id->unix_socket);
    CHECK(id->uid == uid);
    CHECK(id->pid == child);
    stop_peer(child);
    ::unlink(path.c_str());
}

TEST_CASE("peer identity: refuses what is not an accepted connection on our listeners") {
    sockaddr_in a{}, other{};
    UniqueFd l = tcp_listener(a);
    UniqueFd l2 = tcp_listener(other);
    PeerIdentifier ids;
    const int lfd = l.get();
    REQUIRE(ids.init(std::span<const int>(&lfd, 1)));
    std::string why;
    CHECK_FALSE(ids.identify(l.get(), why));  // the listener
    CHECK(why == "a listening socket");
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&other), sizeof other) == 0);
    UniqueFd s(::accept4(l2.get(), nullptr, nullptr, SOCK_CLOEXEC));
    CHECK_FALSE(ids.identify(s.get(), why));  // accepted on another listener
    CHECK(why == "not a connection to one of our listeners");
    int p[2];
    REQUIRE(::pipe(p) == 0);
    UniqueFd r(p[0]), w(p[1]);
    CHECK_FALSE(ids.identify(r.get(), why));
    CHECK(why == "not a socket");
}

// A client that closed before the parent got to its connection leaves a
// time-wait mini-socket (FIN_WAIT2 while our side has not closed) that
// sock_diag reports with uid 0: that must never read as root.
TEST_CASE("peer identity: a client that has closed is unidentified, never root") {
    sockaddr_in a{};
    UniqueFd l = tcp_listener(a);
    PeerIdentifier ids;
    const int lfd = l.get();
    const auto ready = ids.init(std::span<const int>(&lfd, 1));
    REQUIRE_MESSAGE(ready, ready.error());
    const uid_t uid = ::geteuid() == 0 ? 65534 : ::getuid();
    for (int round = 0; round < 2; ++round) {
        CAPTURE(round);
        pid_t child = connect_as(uid, reinterpret_cast<sockaddr*>(&a), sizeof a, AF_INET);
        UniqueFd s(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(s);
        std::string why;
        auto before = ids.identify(s.get(), why);
        REQUIRE(before);
        REQUIRE(before->known);
        // The client's process dies: its socket is closed, our side is not.
        stop_peer(child);
        // Our socket has seen the FIN once the client's close is through.
        pollfd p{s.get(), POLLRDHUP, 0};
        REQUIRE(::poll(&p, 1, 5000) == 1);
        for (int i = 0; i < 50; ++i) {  // the ACK of its FIN makes it a mini-socket
            auto id = ids.identify(s.get(), why);
            REQUIRE(id);
            CHECK_FALSE(id->known);
            if (id->known) break;
            ::usleep(1000);
        }
    }
}
