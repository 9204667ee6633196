// The rig of the hostile-worker tests (test_hostile_worker_open.cpp,
// test_hostile_worker_messages.cpp): a fake worker against the parent's real
// dispatch (parent/workers/worker_link.cpp).
//
// The test plays the worker: it writes raw datagrams on one end of a real
// SOCK_SEQPACKET socketpair whose other end belongs to a real WorkerLink, with
// a real UpstreamPool (plain TCP) pointed at an upstream stand-in that runs in
// a thread and records every byte it receives (hostile_worker_standin.hpp).
// The "worker" pid the link kills is a forked child that only pause()s.
//
// Every case checks two things:
//   * the stand-in received nothing but well-formed
//     `POST <configured path> HTTP/1.1` requests with the configured Host and
//     exactly one Authorization (the fake key), one framing header, and a body
//     that matches it (the last request of a connection may be cut short by
//     the kill, never extended);
//   * a hostile message gets the child killed with SIGKILL (waitpid), and a
//     well-behaved one does not.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/http_syntax.hpp"
#include "common/ipc.hpp"
#include "common/options.hpp"
#include "common/secret_page.hpp"
#include "common/unique_fd.hpp"
#include "common/upstream_url.hpp"
#include "parent/key/credential.hpp"
#include "parent/upstream/upstream_exchange.hpp"
#include "parent/upstream/upstream_pool.hpp"
#include "parent/users/access_control.hpp"
#include "parent/workers/supervisor.hpp"
#include "parent/workers/worker_link.hpp"
#include "tests/unit/parent/workers/hostile_worker_standin.hpp"

using namespace proxy;

namespace hostile_worker {

using namespace proxy;

inline constexpr char kFakeKey[] = "sk-test-HostileWorkerFakeKey0123456789abcdefXYZ";
inline constexpr char kPath[] = "/v1/responses";

// ---------------------------------------------------------------------------
// The rig: everything the parent has for one worker, and the fake worker.

struct Rig {
    StandIn upstream;
    Options opts;
    std::optional<KeyPage> page;
    Credential credential;
    EventBasePtr base;
    EvDnsBasePtr dns;
    std::unique_ptr<UpstreamPool> pool;
    std::unique_ptr<UpstreamEnv> env;
    // The client side: a real listener whose accepted connections the fake
    // worker hands over (ConnOpen), and the per-user layer that checks them.
    UniqueFd client_listener;
    std::vector<UniqueFd> clients, accepted;
    std::unique_ptr<AccessControl> access;
    std::unique_ptr<Supervisor> supervisor;
    std::unique_ptr<WorkerLink> link;
    UniqueFd worker_end;  // what a worker would hold
    pid_t child = -1;
    bool reaped = false;
    int child_status = 0;
    int stop_status = -1;
    std::string host_header;
    std::vector<ipc::Message> from_parent;
    bool reading = true;  // false: the fake worker leaves the parent's messages unread

    // `upstream_host` names the upstream in its URL; a name other than an
    // address is resolved only through `hosts_file` (no name servers).
    explicit Rig(bool http_shutdown = false, const std::string& upstream_host = "127.0.0.1",
                 const std::string& hosts_file = {}, std::vector<std::string> allow_users = {},
                 std::uint32_t max_connections = Options{}.max_connections,
                 void (*configure)(Options&) = nullptr) {
        opts.allow_users = std::move(allow_users);
        opts.max_connections = max_connections;
        if (configure) configure(opts);  // before the per-user layer reads them
        host_header = upstream_host + ":" + std::to_string(upstream.port());
        opts.allow_insecure_upstream = true;
        opts.http_shutdown = http_shutdown;
        opts.upstream_url = "http://" + host_header + kPath;
        opts.upstream_connect_timeout_s = 5;
        upstream.set_host_auth(host_header, std::string("Bearer ") + kFakeKey);

        std::string error;
        page = KeyPage::create(error);
        REQUIRE_MESSAGE(page.has_value(), error);
        std::string full = std::string("Bearer ") + kFakeKey;
        auto w = page->writable();
        REQUIRE(w.size() > full.size());
        std::memcpy(w.data(), full.data(), full.size());
        page->set_length(full.size());
        REQUIRE(page->seal());
        credential.replace(std::move(*page));

        UpstreamPool::Config pc;
        REQUIRE_MESSAGE(parse_upstream_url(opts.upstream_url, pc.url, error), error);
        pc.tls = nullptr;
        base.reset(event_base_new());
        REQUIRE(base);
        dns.reset(evdns_base_new(base.get(), 0));
        REQUIRE(dns);
        if (!hosts_file.empty()) REQUIRE(evdns_base_load_hosts(dns.get(), hosts_file.c_str()) == 0);
        pool = std::make_unique<UpstreamPool>(base.get(), dns.get(), pc);
        client_listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(client_listener);
        sockaddr_in la{};
        la.sin_family = AF_INET;
        la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(client_listener.get(), reinterpret_cast<sockaddr*>(&la), sizeof la) == 0);
        REQUIRE(::listen(client_listener.get(), 16) == 0);
        const int lfd = client_listener.get();
        auto created = AccessControl::create(base.get(), opts, std::span<const int>(&lfd, 1));
        REQUIRE_MESSAGE(created, created.error());
        access = std::move(*created);
        env = std::make_unique<UpstreamEnv>(UpstreamEnv{*pool, credential, opts, nullptr, *access});
        supervisor =
            std::make_unique<Supervisor>(base.get(), *env, -1, -1, -1, std::vector<unsigned>{1});
        supervisor->set_stop_handler([this](int st) { stop_status = st; });

        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        UniqueFd parent_end(sv[0]);
        worker_end.reset(sv[1]);
        child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            for (;;) ::pause();
        }
        link = std::make_unique<WorkerLink>(*supervisor, *env, base.get(), 1u, child,
                                            std::move(parent_end));
        // Connection 1, as a real worker announces each client it accepts.
        send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(1), accept_client());
    }

    // A client connects to the listener; returns the accepted end.
    int accept_client() {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(client_listener.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
        UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        UniqueFd s(::accept4(client_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(s);
        clients.push_back(std::move(c));
        accepted.push_back(std::move(s));
        return accepted.back().get();
    }
    // A message with a descriptor (SCM_RIGHTS); fd < 0 sends none.
    void send_with_fd(ipc::Type type, std::uint32_t stream, std::string_view payload, int fd) {
        std::string wire;
        REQUIRE(ipc::encode(type, stream, payload, wire));
        iovec iov{wire.data(), wire.size()};
        REQUIRE(sendmsg_with_fd(worker_end.get(), &iov, 1, fd, MSG_NOSIGNAL) ==
                static_cast<ssize_t>(wire.size()));
    }

    ~Rig() {
        link.reset();
        access.reset();
        if (!reaped && child > 0) {
            ::kill(child, SIGKILL);
            ::waitpid(child, nullptr, 0);
        }
        supervisor.reset();
        env.reset();
        pool.reset();
        dns.reset();
        base.reset();
        upstream.stop();
    }

    // Raw datagram, exactly these bytes.
    void send_raw(const std::string& datagram) {
        ssize_t n = ::send(worker_end.get(), datagram.data(), datagram.size(), MSG_NOSIGNAL);
        REQUIRE_MESSAGE(n == static_cast<ssize_t>(datagram.size()),
                        "send: " << std::strerror(errno));
    }
    void send(ipc::Type type, std::uint32_t stream, std::string_view payload = {},
              std::uint16_t flags = 0) {
        std::string wire;
        REQUIRE(ipc::encode(type, stream, payload, wire, flags));
        send_raw(wire);
    }
    void send_open(std::uint32_t stream, const HeaderList& headers,
                   BodyFraming framing = BodyFraming::Length, std::uint64_t length = 0,
                   std::uint32_t conn = 1) {
        ipc::ReqOpen o;
        o.conn = conn;
        o.framing = framing;
        o.content_length = length;
        o.headers = headers;
        std::string payload = ipc::encode_req_open(o);
        REQUIRE(!payload.empty());
        send(ipc::Type::ReqOpen, stream, payload);
    }
    // A ReqOpen with `flags` and `body` behind it, as the worker's channel
    // folds them (common/channel.cpp), or as a hostile worker may.
    void send_open_with(std::uint32_t stream, BodyFraming framing, std::uint64_t length,
                        std::string_view body, std::uint16_t flags) {
        ipc::ReqOpen o;
        o.conn = 1;
        o.framing = framing;
        o.content_length = length;
        o.headers = codex_like_headers();
        send(ipc::Type::ReqOpen, stream, ipc::encode_req_open(o).append(body), flags);
    }

    // Run the parent's loop for about `ms`, collecting what it sends us.
    void pump(int ms) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until) {
            timeval tv{0, 10000};
            event_base_loopexit(base.get(), &tv);
            event_base_dispatch(base.get());
            drain_from_parent();
            reap();
        }
    }
    // One turn of the parent's loop, without waiting.
    void pump_once() {
        event_base_loop(base.get(), EVLOOP_NONBLOCK);
        drain_from_parent();
        reap();
    }
    void drain_from_parent() {
        if (!reading) return;  // a worker that does not read its channel
        static std::vector<std::uint8_t> buf(ipc::kMaxMessage + 1);
        for (;;) {
            ssize_t n = ::recv(worker_end.get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n <= 0) return;
            ipc::Message m;
            if (ipc::decode({buf.data(), static_cast<std::size_t>(n)}, m) ==
                ipc::DecodeError::None) {
                // A body riding on a RespHead, and a last body piece, mean
                // what separate messages would (as worker/worker_process.cpp
                // reads them): record those.
                const bool last =
                    (m.type == ipc::Type::RespBody || m.type == ipc::Type::RespHead) &&
                    (m.flags & ipc::kFlagLast);
                const std::uint32_t stream = m.stream;
                std::string body;
                if (m.type == ipc::Type::RespHead && m.flags != 0) {
                    std::string_view rest;
                    auto start = ipc::decode_resp_head(m.payload, m.flags, rest);
                    REQUIRE(start);
                    body.assign(rest);
                    m.payload = ipc::encode_resp_head(*start);
                    m.flags = 0;
                }
                from_parent.push_back(std::move(m));
                if (!body.empty())
                    from_parent.push_back({ipc::Type::RespBody, 0, stream, std::move(body)});
                if (last) from_parent.push_back({ipc::Type::RespEnd, 0, stream, {}});
            }
        }
    }
    void reap() {
        if (reaped) return;
        int st = 0;
        if (::waitpid(child, &st, WNOHANG) == child) {
            reaped = true;
            child_status = st;
        }
    }
    bool killed_by_sigkill() const {
        return reaped && WIFSIGNALED(child_status) && WTERMSIG(child_status) == SIGKILL;
    }

    // Pump until the child died (or `ms` passed); true if it died of SIGKILL.
    bool wait_killed(int ms = 3000) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!reaped && std::chrono::steady_clock::now() < until) pump(20);
        return killed_by_sigkill();
    }
    bool wait_message(ipc::Type t, std::uint32_t stream, int ms = 3000) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            for (auto& m : from_parent) {
                if (m.type == t && m.stream == stream) return true;
            }
            if (std::chrono::steady_clock::now() >= until) return false;
            pump(20);
        }
    }

    // Everything the stand-in got is well-formed; returns the requests.
    std::vector<ParsedRequest> check_upstream() {
        std::vector<ParsedRequest> all;
        for (auto& data : upstream.received()) {
            ParseResult r =
                parse_upstream_stream(data, host_header, std::string("Bearer ") + kFakeKey);
            CHECK_MESSAGE(r.error.empty(), "upstream received a malformed request: "
                                               << r.error << "\n--- bytes ---\n"
                                               << data);
            for (auto& q : r.requests) all.push_back(q);
        }
        return all;
    }
    // Served and not killed: one complete upstream request carrying `body`.
    void expect_served_once(std::string_view body) {
        REQUIRE(wait_message(ipc::Type::RespEnd, 1));
        CHECK_FALSE(reaped);
        auto reqs = check_upstream();
        REQUIRE(reqs.size() == 1);
        CHECK(reqs[0].complete);
        CHECK(reqs[0].body == body);
    }
    std::size_t complete_requests() {
        std::size_t n = 0;
        for (auto& q : check_upstream()) n += q.complete ? 1 : 0;
        return n;
    }
};

HeaderList codex_like_headers();
std::string header_value(const ParsedRequest& r, std::string_view name);

// One hostile ReqOpen: the worker dies, no byte reaches the upstream.
void expect_open_refused(const HeaderList& headers, BodyFraming framing = BodyFraming::Length,
                         std::uint64_t length = 2);

}  // namespace hostile_worker
