// The worker's side of the channel (worker/parent_link.cpp), from outside: a
// real worker (run_worker in a forked child, sandbox and all) on a real
// listener and a real SOCK_SEQPACKET socketpair, with the test playing the
// parent. What the worker says comes from its ask_X; what the parent says is
// taken by the worker's kHeard table, and anything in it the parent would
// never send (a payload that does not decode, a credit for bytes never sent,
// a stream where none belongs) ends the worker: one log line naming the
// message, exit status exit_code::runtime ("expect, or die").
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "common/exit_codes.hpp"
#include "common/ipc.hpp"
#include "common/options.hpp"
#include "common/unique_fd.hpp"
#include "common/worker_fds.hpp"
#include "worker/worker_process.hpp"

using namespace proxy;

namespace {

// A real worker and the parent's end of its channel.
struct FakeParent {
    pid_t pid = -1;
    UniqueFd channel;   // the parent's end
    UniqueFd listener;  // kept so the port stays ours
    UniqueFd log;       // the worker's stderr
    std::uint16_t port = 0;
    std::string chroot_dir;
    std::string logged;
    int status = -1;  // wait status once reaped

    FakeParent() {
        char tmpl[] = "/tmp/proxy-parent-link-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        chroot_dir = tmpl;
        listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        REQUIRE(listener);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listener.get(), 16) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port = ntohs(a.sin_port);
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        channel.reset(sv[0]);
        UniqueFd worker_end(sv[1]);
        int err[2];
        REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
        log.reset(err[0]);
        UniqueFd err_w(err[1]);

        Options o;
        o.worker_user = "nobody";
        o.chroot_dir = chroot_dir;
        o.worker_id = 1;
        std::fflush(stdout);
        std::fflush(stderr);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (int sig = 1; sig < NSIG; ++sig) {
                if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
            }
            // The fixed descriptors a worker finds at start (dup2 clears
            // close-on-exec, as the parent's spawn leaves them); first out
            // of the way, so one dup2 cannot close the source of the next.
            const int l = ::fcntl(listener.get(), F_DUPFD_CLOEXEC, 10);
            const int w = ::fcntl(worker_end.get(), F_DUPFD_CLOEXEC, 10);
            if (l < 0 || w < 0 || ::dup2(l, kWorkerListenFd) < 0 || ::dup2(w, kWorkerIpcFd) < 0 ||
                ::dup2(err_w.get(), STDERR_FILENO) < 0)
                ::_exit(90);
            ::_exit(run_worker(o));
        }
    }

    ~FakeParent() {
        if (pid > 0 && status == -1) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        std::error_code ec;
        std::filesystem::remove_all(chroot_dir, ec);
    }

    void send(ipc::Type type, std::uint32_t stream, std::string_view payload = {},
              std::uint16_t flags = 0) {
        std::string wire;
        REQUIRE(ipc::encode(type, stream, payload, wire, flags));
        REQUIRE(::send(channel.get(), wire.data(), wire.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(wire.size()));
    }

    // The next message from the worker (a descriptor riding along is closed).
    std::optional<ipc::Message> receive(int ms = 10000) {
        pollfd p{channel.get(), POLLIN, 0};
        if (::poll(&p, 1, ms) != 1) return std::nullopt;
        std::string buf(ipc::kMaxMessage + 1, '\0');
        iovec iov{buf.data(), buf.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(channel.get(), &mh, MSG_CMSG_CLOEXEC);
        if (n <= 0) return std::nullopt;
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
                ::close(fd);
            }
        }
        ipc::Message m;
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(buf.data());
        if (ipc::decode({bytes, static_cast<std::size_t>(n)}, m) != ipc::DecodeError::None)
            return std::nullopt;
        return m;
    }

    // Messages until one of `type`; nullopt if the channel goes quiet first.
    std::optional<ipc::Message> receive_until(ipc::Type type) {
        while (auto m = receive()) {
            if (m->type == type) return m;
        }
        return std::nullopt;
    }

    // Waits (at most `ms`) for the worker to exit; true when it has.
    bool exited(int ms = 10000) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until) {
            int st = 0;
            if (::waitpid(pid, &st, WNOHANG) == pid) {
                status = st;
                read_log();
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

    void read_log() {
        ::fcntl(log.get(), F_SETFL, O_NONBLOCK);
        char buf[4096];
        ssize_t n;
        while ((n = ::read(log.get(), buf, sizeof buf)) > 0)
            logged.append(buf, static_cast<std::size_t>(n));
    }

    int exit_status() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

    // A client of the worker: connects and sends `bytes`.
    UniqueFd client(const std::string& bytes) {
        UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(c);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::send(c.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(bytes.size()));
        return c;
    }

    // A request whose body has only begun: the worker holds stream 1 open
    // and has sent some body bytes. Returns the stream.
    std::uint32_t open_stream(UniqueFd& c) {
        c = client(head(100) + "0123456789");
        auto open = receive_until(ipc::Type::ReqOpen);
        REQUIRE(open);
        return open->stream;
    }

    std::string head(std::size_t length) const {
        return "POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(length) +
               "\r\n\r\n";
    }

    // The worker ended itself as the table says: runtime status, one line
    // naming the message.
    void expect_fatal(const std::string& type_name) {
        REQUIRE_MESSAGE(exited(), "the worker kept running after a malformed " << type_name);
        CHECK(exit_status() == exit_code::runtime);
        CHECK_MESSAGE(logged.find(type_name) != std::string::npos, logged);
        CHECK_MESSAGE(logged.find('\n') == logged.size() - 1, "more than one line: " << logged);
    }
};

// The worker's answer to one request: its head and `body_bytes` more.
std::string read_answer(int fd, std::size_t body_bytes) {
    std::string out;
    char buf[4096];
    for (;;) {
        const auto end = out.find("\r\n\r\n");
        if (end != std::string::npos && out.size() >= end + 4 + body_bytes) return out;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1) return out;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace

TEST_CASE("parent link: an honest exchange, every message named and well formed") {
    FakeParent parent;
    UniqueFd c = parent.client(parent.head(2) + "{}");
    auto conn = parent.receive();
    REQUIRE(conn);
    CHECK(conn->type == ipc::Type::ConnOpen);
    CHECK(ipc::decode_u32(conn->payload) == 1u);
    // The request: a ReqOpen, its body riding along or behind it, and its end
    // (folded into one datagram when the channel could).
    auto open = parent.receive();
    REQUIRE(open);
    REQUIRE(open->type == ipc::Type::ReqOpen);
    std::string_view first;
    auto req = ipc::decode_req_open(open->payload, open->flags, first);
    REQUIRE(req);
    CHECK(req->conn == 1u);
    std::string body(first);
    bool ended = (open->flags & ipc::kFlagLast) != 0;
    while (!ended) {
        auto m = parent.receive();
        REQUIRE(m);
        REQUIRE(m->stream == open->stream);
        REQUIRE((m->type == ipc::Type::ReqBody || m->type == ipc::Type::ReqEnd));
        if (m->type == ipc::Type::ReqBody) body += m->payload;
        ended = m->type == ipc::Type::ReqEnd || (m->flags & ipc::kFlagLast) != 0;
    }
    CHECK(body == "{}");

    ipc::RespHead head;
    head.status = 200;
    head.framing = BodyFraming::Length;
    head.content_length = 2;
    head.headers = {{"Content-Type", "application/json"}};
    parent.send(ipc::Type::RespHead, open->stream, ipc::encode_resp_head(head));
    parent.send(ipc::Type::RespBody, open->stream, "ok", ipc::kFlagLast);
    const std::string answer = read_answer(c.get(), 2);
    CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(answer.size() >= 2);
    CHECK(answer.substr(answer.size() - 2) == "ok");
    c.reset();  // the client leaves
    auto closed = parent.receive_until(ipc::Type::ConnClose);
    REQUIRE(closed);
    CHECK(ipc::decode_u32(closed->payload) == 1u);

    CHECK_FALSE(parent.exited(200));
    ::kill(parent.pid, SIGTERM);
    REQUIRE(parent.exited());
    CHECK(parent.exit_status() == 0);
}

TEST_CASE("parent link: a ShutdownAnswer that does not decode ends the worker") {
    FakeParent parent;
    parent.send(ipc::Type::ShutdownAnswer, 0, std::string_view("\x01\x00\x00", 3));
    parent.expect_fatal("SHUTDOWN_ANSWER");
}

TEST_CASE("parent link: a ReqCredit that does not decode ends the worker") {
    FakeParent parent;
    UniqueFd c;
    const std::uint32_t stream = parent.open_stream(c);
    parent.send(ipc::Type::ReqCredit, stream, "abc");
    parent.expect_fatal("REQ_CREDIT");
}

TEST_CASE("parent link: credit for more than the worker sent ends the worker") {
    FakeParent parent;
    UniqueFd c;
    const std::uint32_t stream = parent.open_stream(c);  // 10 body bytes sent
    parent.send(ipc::Type::ReqCredit, stream, ipc::encode_u32(1000000));
    parent.expect_fatal("REQ_CREDIT");
}

TEST_CASE("parent link: a RespHead or RespError that does not decode ends the worker") {
    for (auto type : {ipc::Type::RespHead, ipc::Type::RespError}) {
        const std::string name = ipc::type_name(type);
        CAPTURE(name);
        FakeParent parent;
        UniqueFd c;
        const std::uint32_t stream = parent.open_stream(c);
        parent.send(type, stream, "\x01");
        parent.expect_fatal(ipc::type_name(type));
    }
}

TEST_CASE("parent link: an End or Abort with a payload ends the worker") {
    for (auto type : {ipc::Type::RespEnd, ipc::Type::RespAbort}) {
        const std::string name = ipc::type_name(type);
        CAPTURE(name);
        FakeParent parent;
        UniqueFd c;
        const std::uint32_t stream = parent.open_stream(c);
        parent.send(type, stream, "x");
        parent.expect_fatal(ipc::type_name(type));
    }
}

TEST_CASE("parent link: a stream where none belongs, or none where one must be") {
    {
        FakeParent parent;
        parent.send(ipc::Type::ShutdownAnswer, 7,
                    ipc::encode_shutdown_answer(1, ipc::ShutdownVerdict::Refused));
        parent.expect_fatal("SHUTDOWN_ANSWER");
    }
    {
        FakeParent parent;
        parent.send(ipc::Type::RespBody, 0, "x");
        parent.expect_fatal("RESP_BODY");
    }
}

TEST_CASE("parent link: a message only a worker sends ends the worker") {
    FakeParent parent;
    parent.send(ipc::Type::ReqEnd, 1);
    parent.expect_fatal("REQ_END");
}

TEST_CASE("parent link: what arrives for a stream that has ended is dropped") {
    // The client left; the parent's answers already on their way are not
    // the parent's fault.
    FakeParent parent;
    UniqueFd c;
    const std::uint32_t stream = parent.open_stream(c);
    c.reset();
    auto cancel = parent.receive_until(ipc::Type::ReqCancel);
    REQUIRE(cancel);
    CHECK(cancel->stream == stream);
    parent.send(ipc::Type::ReqCredit, stream, ipc::encode_u32(10));
    parent.send(ipc::Type::RespBody, stream, "late");
    parent.send(ipc::Type::RespEnd, stream);
    CHECK_FALSE(parent.exited(300));
}

TEST_CASE("parent link: GET /metrics goes to the parent, and its answer in pieces to the client") {
    FakeParent parent;
    UniqueFd c = parent.client(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(parent.port) + "\r\n\r\n");
    auto ask = parent.receive_until(ipc::Type::MetricsAsk);
    REQUIRE(ask);
    auto conn = ipc::decode_u32(ask->payload);
    REQUIRE(conn);
    parent.send(ipc::Type::MetricsAnswer, 0,
                ipc::encode_metrics_answer(*conn, ipc::MetricsVerdict::Granted, "# a\n"));
    parent.send(ipc::Type::MetricsAnswer, 0,
                ipc::encode_metrics_answer(*conn, ipc::MetricsVerdict::Granted, "b 1\n"),
                ipc::kFlagLast);
    const std::string got = read_answer(c.get(), 8);
    CHECK(got.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(got.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
          std::string::npos);
    CHECK(got.substr(got.size() - 8) == "# a\nb 1\n");
}

TEST_CASE("parent link: a MetricsAnswer nobody asked for ends the worker") {
    FakeParent parent;
    UniqueFd c;
    parent.open_stream(c);  // connection 1, a request in flight, no MetricsAsk
    parent.send(ipc::Type::MetricsAnswer, 0,
                ipc::encode_metrics_answer(1, ipc::MetricsVerdict::Granted, "x 1\n"),
                ipc::kFlagLast);
    parent.expect_fatal("METRICS_ANSWER");
}
