// The channel over a real SOCK_SEQPACKET socketpair and a real event loop:
// what leaves as datagrams, and what the receiving side is handed.
#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/channel.hpp"
#include "common/event_ptr.hpp"

using namespace proxy;

namespace {

struct Recorder : ChannelOwner {
    std::vector<ipc::Message> got;
    std::vector<ino_t> fd_inodes;  // of each descriptor handed over, while it was open
    bool down = false, malformed = false;
    void on_message(const ipc::MessageView& m) override {
        got.push_back({m.type, m.flags, m.stream, std::string(m.payload)});
        struct stat st {};
        if (m.fd >= 0 && ::fstat(m.fd, &st) == 0) fd_inodes.push_back(st.st_ino);
    }
    void on_channel_down(const char*, bool bad) override {
        down = true;
        malformed = bad;
    }
};

struct Pair {
    EventBasePtr base{event_base_new()};
    int fds[2] = {-1, -1};
    Recorder sender_owner, receiver_owner;
    std::unique_ptr<Channel> sender, receiver;
    UniqueFd bare_receiver;  // the receiving end when no channel reads it
    explicit Pair(bool receiving_channel = true) {
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
        sender = std::make_unique<Channel>(base.get(), UniqueFd(fds[0]), sender_owner);
        if (receiving_channel)
            receiver = std::make_unique<Channel>(base.get(), UniqueFd(fds[1]), receiver_owner);
        else
            bare_receiver = UniqueFd(fds[1]);
    }
    // Runs loop turns until the receiver has `n` messages (or 200 turns).
    void run_until(std::size_t n) {
        for (int i = 0; i < 200 && receiver_owner.got.size() < n; ++i)
            event_base_loop(base.get(), EVLOOP_NONBLOCK);
    }
    // Datagrams now waiting on the receiver's socket, without taking them.
    static int datagrams_waiting(int fd) {
        int n = 0;
        char buf[ipc::kMaxMessage + 1];
        while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) ++n;
        return n;
    }
};

// A ReqBody piece of stream 1, then `end` for `stream`: both arrive as sent.
void expect_not_folded(ipc::Type end, std::uint32_t stream) {
    Pair p;
    p.sender->send(ipc::Type::ReqBody, 1, "x");
    p.sender->send(end, stream);
    p.run_until(2);
    REQUIRE(p.receiver_owner.got.size() == 2);
    CHECK(p.receiver_owner.got[0].flags == 0);
    CHECK(p.receiver_owner.got[1].type == end);
    CHECK(p.receiver_owner.got[1].stream == stream);
}

}  // namespace

TEST_CASE("channel: an End after its stream's queued body piece becomes kFlagLast on it") {
    Pair p;
    p.sender->send(ipc::Type::RespHead, 3, "head");
    p.run_until(1);  // the head left alone: the body cannot ride on it
    p.sender->send(ipc::Type::RespBody, 3, "body");
    p.sender->send(ipc::Type::RespEnd, 3);
    p.run_until(2);
    REQUIRE(p.receiver_owner.got.size() == 2);
    CHECK(p.receiver_owner.got[0].type == ipc::Type::RespHead);
    CHECK(p.receiver_owner.got[0].flags == 0);
    CHECK(p.receiver_owner.got[1].type == ipc::Type::RespBody);
    CHECK(p.receiver_owner.got[1].payload == "body");
    CHECK(p.receiver_owner.got[1].flags == ipc::kFlagLast);
}

TEST_CASE("channel: a start, its first body piece and its End leave as one datagram") {
    for (auto [start, body, end] :
         {std::tuple{ipc::Type::ReqOpen, ipc::Type::ReqBody, ipc::Type::ReqEnd},
          std::tuple{ipc::Type::RespHead, ipc::Type::RespBody, ipc::Type::RespEnd}}) {
        CAPTURE(ipc::type_name(start));
        Pair p;
        p.sender->send(start, 3, "head");
        p.sender->send(body, 3, "bo");
        p.sender->send(body, 3, "dy");
        p.sender->send(end, 3);
        p.run_until(1);
        REQUIRE(p.receiver_owner.got.size() == 1);
        CHECK(p.receiver_owner.got[0].type == start);
        CHECK(p.receiver_owner.got[0].payload == "headbody");
        CHECK(p.receiver_owner.got[0].flags == (ipc::kFlagBody | ipc::kFlagLast));
    }
}

TEST_CASE("channel: an End right after a start marks the start") {
    Pair p;
    p.sender->send(ipc::Type::ReqOpen, 4, "open");
    p.sender->send(ipc::Type::ReqEnd, 4);
    p.run_until(1);
    REQUIRE(p.receiver_owner.got.size() == 1);
    CHECK(p.receiver_owner.got[0].flags == ipc::kFlagLast);
    CHECK(p.receiver_owner.got[0].payload == "open");
}

TEST_CASE("channel: a body piece rides on a start only while the datagram stays in the cap") {
    SUBCASE("too big together: two datagrams, the piece unflagged") {
        Pair p;
        p.sender->send(ipc::Type::RespHead, 1, "head");
        const std::string big(ipc::kMaxPayload - 3, 'b');
        p.sender->send(ipc::Type::RespBody, 1, big);
        p.sender->send(ipc::Type::RespEnd, 1);
        p.run_until(2);
        REQUIRE(p.receiver_owner.got.size() == 2);
        CHECK(p.receiver_owner.got[0].flags == 0);
        CHECK(p.receiver_owner.got[1].payload == big);
        CHECK(p.receiver_owner.got[1].flags == ipc::kFlagLast);
    }
    SUBCASE("exactly the cap: one") {
        Pair p;
        p.sender->send(ipc::Type::RespHead, 1, "head");
        p.sender->send(ipc::Type::RespBody, 1, std::string(ipc::kMaxPayload - 4, 'b'));
        p.run_until(1);
        REQUIRE(p.receiver_owner.got.size() == 1);
        CHECK(p.receiver_owner.got[0].payload.size() == ipc::kMaxPayload);
        CHECK(p.receiver_owner.got[0].flags == ipc::kFlagBody);
    }
    SUBCASE("another stream's piece stays apart") {
        Pair p;
        p.sender->send(ipc::Type::RespHead, 1, "head");
        p.sender->send(ipc::Type::RespBody, 2, "x");
        p.run_until(2);
        REQUIRE(p.receiver_owner.got.size() == 2);
        CHECK(p.receiver_owner.got[0].flags == 0);
    }
    SUBCASE("not after an ended start") {
        Pair p;
        p.sender->send(ipc::Type::ReqOpen, 1, "open");
        p.sender->send(ipc::Type::ReqEnd, 1);
        p.sender->send(ipc::Type::ReqBody, 1, "x");
        p.run_until(2);
        REQUIRE(p.receiver_owner.got.size() == 2);
        CHECK(p.receiver_owner.got[0].flags == ipc::kFlagLast);
        CHECK(p.receiver_owner.got[1].type == ipc::Type::ReqBody);
    }
}

TEST_CASE("channel: an End stays a message of its own when it cannot be folded") {
    SUBCASE("nothing queued: the body piece already left") {
        Pair p;
        p.sender->send(ipc::Type::ReqBody, 1, "x");
        p.run_until(1);
        p.sender->send(ipc::Type::ReqEnd, 1);
        p.run_until(2);
        REQUIRE(p.receiver_owner.got.size() == 2);
        CHECK(p.receiver_owner.got[0].flags == 0);
        CHECK(p.receiver_owner.got[1].type == ipc::Type::ReqEnd);
    }
    SUBCASE("the queued piece belongs to another stream") {
        expect_not_folded(ipc::Type::ReqEnd, 2);
    }
    SUBCASE("the queued message is not that End's body type") {
        expect_not_folded(ipc::Type::RespEnd, 1);
    }
    SUBCASE("a second End: the piece already carries kFlagLast") {
        Pair p;
        p.sender->send(ipc::Type::ReqBody, 1, "x");
        p.sender->send(ipc::Type::ReqEnd, 1);
        p.sender->send(ipc::Type::ReqEnd, 1);
        p.run_until(2);
        REQUIRE(p.receiver_owner.got.size() == 2);
        CHECK(p.receiver_owner.got[0].flags == ipc::kFlagLast);
        CHECK(p.receiver_owner.got[1].type == ipc::Type::ReqEnd);
    }
}

TEST_CASE("channel: a folded request is one datagram on the wire") {
    Pair p(false);  // read the wire directly
    p.sender->send(ipc::Type::ReqOpen, 1, "open");
    p.sender->send(ipc::Type::ReqBody, 1, "{}");
    p.sender->send(ipc::Type::ReqEnd, 1);
    for (int i = 0; i < 5; ++i) event_base_loop(p.base.get(), EVLOOP_NONBLOCK);
    CHECK(Pair::datagrams_waiting(p.fds[1]) == 1);
}

TEST_CASE("channel: a descriptor rides along with ConnOpen, and only with it") {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    UniqueFd r(p[0]), w(p[1]);
    struct stat st {};
    REQUIRE(::fstat(r.get(), &st) == 0);
    {
        Pair pair;
        REQUIRE(pair.sender->send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(1), r.get()));
        pair.run_until(1);
        REQUIRE(pair.receiver_owner.got.size() == 1);
        CHECK(pair.receiver_owner.got[0].type == ipc::Type::ConnOpen);
        REQUIRE(pair.receiver_owner.fd_inodes.size() == 1);
        CHECK(pair.receiver_owner.fd_inodes[0] == st.st_ino);
        CHECK_FALSE(pair.receiver_owner.down);
        // The sender keeps its own descriptor: the message carried a copy.
        CHECK(::fstat(r.get(), &st) == 0);
        // Any other type may not carry one: the sending side refuses it...
        CHECK_FALSE(
            pair.sender->send_with_fd(ipc::Type::ConnClose, 0, ipc::encode_u32(1), r.get()));
    }
    {
        // ...and a receiving side that gets one anyway takes the peer for hostile.
        Pair pair;
        std::string wire;
        REQUIRE(ipc::encode(ipc::Type::ConnClose, 0, ipc::encode_u32(1), wire));
        iovec iov{wire.data(), wire.size()};
        REQUIRE(sendmsg_with_fd(pair.fds[0], &iov, 1, r.get(), 0) ==
                static_cast<ssize_t>(wire.size()));
        for (int i = 0; i < 50 && !pair.receiver_owner.down; ++i)
            event_base_loop(pair.base.get(), EVLOOP_NONBLOCK);
        CHECK(pair.receiver_owner.down);
        CHECK(pair.receiver_owner.malformed);
        CHECK(pair.receiver_owner.got.empty());
    }
}

namespace {
int open_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d) != nullptr) ++n;
        ::closedir(d);
    }
    return n;
}

// One datagram from a bare receiving socket: the message and, if one came
// with it, its descriptor's inode (the descriptor is closed).
bool take_datagram(int fd, ipc::Message& out, ino_t& inode) {
    char buf[ipc::kMaxMessage + 1];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{buf, sizeof buf};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) return false;
    ipc::MessageView m;
    REQUIRE(ipc::decode({reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)},
                        m) == ipc::DecodeError::None);
    out = {m.type, m.flags, m.stream, std::string(m.payload)};
    inode = 0;
    if (cmsghdr* c = CMSG_FIRSTHDR(&h)) {
        int got = -1;
        std::memcpy(&got, CMSG_DATA(c), sizeof got);
        struct stat st {};
        REQUIRE(::fstat(got, &st) == 0);
        inode = st.st_ino;
        ::close(got);
    }
    return true;
}
}  // namespace

TEST_CASE("channel: a descriptor sent while the socket is full waits its turn, as a copy") {
    // A busy worker's channel is often full of request bodies. A connection
    // accepted then must still reach the parent (it used to be closed: the
    // client saw a reset), in order, with the right socket even after the
    // caller closed its descriptor and the number was reused.
    Pair pair(false);
    std::string filler;
    REQUIRE(ipc::encode(ipc::Type::ConnClose, 0, ipc::encode_u32(77), filler));
    int filled = 0;
    while (::send(pair.fds[0], filler.data(), filler.size(), MSG_DONTWAIT) > 0) ++filled;
    REQUIRE(errno == EAGAIN);
    REQUIRE(filled > 0);

    pair.sender->send(ipc::Type::ConnClose, 0, ipc::encode_u32(9));
    event_base_loop(pair.base.get(), EVLOOP_NONBLOCK);  // the flush finds the socket full
    const int fds_before = open_fds();
    int p[2];
    REQUIRE(::pipe(p) == 0);
    struct stat original {};
    REQUIRE(::fstat(p[0], &original) == 0);
    REQUIRE(pair.sender->send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(1), p[0]));
    ::close(p[0]);
    ::close(p[1]);
    int q[2];
    REQUIRE(::pipe(q) == 0);  // takes the numbers the caller just gave up
    UniqueFd q0(q[0]), q1(q[1]);
    pair.sender->send(ipc::Type::ConnClose, 0, ipc::encode_u32(1));

    std::vector<ipc::Message> got;
    std::vector<ino_t> inodes;
    for (int turn = 0; turn < 1000 && got.size() < static_cast<std::size_t>(filled) + 3; ++turn) {
        ipc::Message m;
        ino_t inode = 0;
        while (take_datagram(pair.fds[1], m, inode)) {
            got.push_back(m);
            inodes.push_back(inode);
        }
        event_base_loop(pair.base.get(), EVLOOP_NONBLOCK);
    }
    REQUIRE(got.size() == static_cast<std::size_t>(filled) + 3);
    const std::size_t at = static_cast<std::size_t>(filled);
    CHECK(got[at].type == ipc::Type::ConnClose);
    CHECK(got[at].payload == ipc::encode_u32(9));
    CHECK(inodes[at] == 0);
    CHECK(got[at + 1].type == ipc::Type::ConnOpen);
    CHECK(got[at + 1].payload == ipc::encode_u32(1));
    CHECK(inodes[at + 1] == original.st_ino);
    CHECK(got[at + 2].type == ipc::Type::ConnClose);
    CHECK(got[at + 2].payload == ipc::encode_u32(1));
    CHECK(inodes[at + 2] == 0);
    CHECK_FALSE(pair.sender_owner.down);
    // The channel's copy was closed once the message had left.
    q0.reset();
    q1.reset();
    CHECK(open_fds() == fds_before);
}

TEST_CASE("channel: buffers reused from sent messages carry only their new message") {
    Pair p;
    const std::string longer(3000, 'l');
    p.sender->send(ipc::Type::ReqBody, 1, longer);
    p.sender->send(ipc::Type::ReqBody, 1, "a");
    p.run_until(2);
    for (int round = 0; round < 3; ++round) {
        p.sender->send(ipc::Type::ReqBody, 2, "short");
        p.sender->send(ipc::Type::ReqBody, 2, std::string(5000, 'b'));  // not kept
        p.sender->send(ipc::Type::ReqCredit, 2, ipc::encode_u32(7));
    }
    p.run_until(11);
    REQUIRE(p.receiver_owner.got.size() == 11);
    CHECK(p.receiver_owner.got[0].payload == longer);
    CHECK(p.receiver_owner.got[1].payload == "a");
    for (int round = 0; round < 3; ++round) {
        CHECK(p.receiver_owner.got[2 + 3 * round].payload == "short");
        CHECK(p.receiver_owner.got[3 + 3 * round].payload == std::string(5000, 'b'));
        CHECK(p.receiver_owner.got[4 + 3 * round].payload == ipc::encode_u32(7));
    }
}
