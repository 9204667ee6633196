// A hostile worker against the parent's real dispatch (parent/worker_link.cpp).
//
// The test plays the worker: it writes raw datagrams on one end of a real
// SOCK_SEQPACKET socketpair whose other end belongs to a real WorkerLink, with
// a real UpstreamPool (plain TCP) pointed at an upstream stand-in that runs in
// a thread and records every byte it receives. The "worker" pid the link
// kills is a forked child that only pause()s.
//
// Every case checks two things:
//   * the stand-in received nothing but well-formed
//     `POST <configured path> HTTP/1.1` requests with the configured Host and
//     exactly one Authorization (the fake key), one framing header, and a body
//     that matches it (the last request of a connection may be cut short by
//     the kill, never extended);
//   * a hostile message gets the child killed with SIGKILL (waitpid), and a
//     well-behaved one does not.
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
#include "parent/supervisor.hpp"
#include "parent/upstream_exchange.hpp"
#include "parent/upstream_pool.hpp"
#include "parent/worker_link.hpp"

using namespace proxy;

namespace {

constexpr char kFakeKey[] = "sk-test-HostileWorkerFakeKey0123456789abcdefXYZ";
constexpr char kPath[] = "/v1/responses";
constexpr char kCannedResponse[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

// ---------------------------------------------------------------------------
// Checking what the upstream received

bool is_tchar(unsigned char c) {
    if (std::isalnum(c)) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

struct ParsedRequest {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool complete = false;
};

struct ParseResult {
    std::vector<ParsedRequest> requests;
    std::string error;  // empty: everything well-formed (last may be partial)
};

// Parse one connection's bytes as a sequence of requests the parent may have
// written. `host` is the configured Host, `auth` the full header value.
ParseResult parse_upstream_stream(std::string_view in, const std::string& host,
                                  const std::string& auth) {
    ParseResult res;
    auto bad = [&](std::string why) {
        res.error = std::move(why);
        return res;
    };
    while (!in.empty()) {
        ParsedRequest req;
        auto end = in.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            // A head cut short by the kill: it must still be a prefix of a
            // proper head (checked loosely: the request line if complete).
            auto first = in.find("\r\n");
            std::string_view line = in.substr(0, first);
            std::string want = std::string("POST ") + kPath + " HTTP/1.1";
            if (first != std::string_view::npos ? line != want
                                                : want.compare(0, line.size(), line) != 0) {
                return bad("partial head with a bad request line: " + std::string(line));
            }
            res.requests.push_back(req);
            return res;
        }
        std::string_view head = in.substr(0, end);
        in.remove_prefix(end + 4);
        std::vector<std::string_view> lines;
        for (std::size_t pos = 0;;) {
            auto nl = head.find("\r\n", pos);
            lines.push_back(
                head.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
            if (nl == std::string_view::npos) break;
            pos = nl + 2;
        }
        if (lines[0] != std::string("POST ") + kPath + " HTTP/1.1") {
            return bad("request line is not POST of the configured path: " + std::string(lines[0]));
        }
        for (std::size_t i = 1; i < lines.size(); ++i) {
            std::string_view l = lines[i];
            for (char c : l) {
                if (c == '\r' || c == '\n' || c == '\0')
                    return bad("CR, LF or NUL inside a header line");
            }
            auto colon = l.find(':');
            if (colon == std::string_view::npos || colon == 0)
                return bad("header line without a name");
            for (char c : l.substr(0, colon)) {
                if (!is_tchar(static_cast<unsigned char>(c)))
                    return bad("header name is not a token");
            }
            std::string_view v = l.substr(colon + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
            req.headers.emplace_back(std::string(l.substr(0, colon)), std::string(v));
        }
        auto all = [&](std::string_view name) {
            std::vector<std::string> out;
            for (auto& [k, v] : req.headers) {
                if (ieq(k, name)) out.push_back(v);
            }
            return out;
        };
        auto hosts = all("Host");
        if (hosts.size() != 1 || hosts[0] != host)
            return bad("Host is not exactly the configured one");
        auto auths = all("Authorization");
        if (auths.size() != 1 || auths[0] != auth)
            return bad("not exactly one Authorization with our key");
        auto cls = all("Content-Length");
        auto tes = all("Transfer-Encoding");
        if (cls.size() + tes.size() != 1) return bad("not exactly one framing header");
        if (cls.size() == 1) {
            const std::string& cl = cls[0];
            if (cl.empty() || cl.size() > 18 ||
                cl.find_first_not_of("0123456789") != std::string::npos) {
                return bad("bad Content-Length");
            }
            std::size_t n = std::stoull(cl);
            if (in.size() < n) {
                req.body.assign(in);
                res.requests.push_back(req);
                return res;  // cut short: must be the last bytes of the connection
            }
            req.body.assign(in.substr(0, n));
            in.remove_prefix(n);
            req.complete = true;
        } else {
            if (!ieq(tes[0], "chunked")) return bad("Transfer-Encoding other than chunked");
            for (;;) {
                auto nl = in.find("\r\n");
                if (nl == std::string_view::npos) {
                    res.requests.push_back(req);
                    return res;
                }
                std::string_view size_txt = in.substr(0, nl);
                if (size_txt.empty() || size_txt.size() > 15 ||
                    size_txt.find_first_not_of("0123456789abcdefABCDEF") !=
                        std::string_view::npos) {
                    return bad("bad chunk size line");
                }
                std::size_t n = std::stoull(std::string(size_txt), nullptr, 16);
                in.remove_prefix(nl + 2);
                if (n == 0) {
                    if (in.size() < 2) {
                        res.requests.push_back(req);
                        return res;
                    }
                    if (in.substr(0, 2) != "\r\n") return bad("trailers sent by the parent");
                    in.remove_prefix(2);
                    req.complete = true;
                    break;
                }
                if (in.size() < n + 2) {
                    req.body.append(in.substr(0, std::min(n, in.size())));
                    res.requests.push_back(req);
                    return res;
                }
                req.body.append(in.substr(0, n));
                if (in.substr(n, 2) != "\r\n") return bad("chunk not followed by CRLF");
                in.remove_prefix(n + 2);
            }
        }
        res.requests.push_back(req);
    }
    return res;
}

// ---------------------------------------------------------------------------
// The upstream stand-in: plain TCP on 127.0.0.1, records every byte, answers
// every complete request with a small 200.

class StandIn {
  public:
    StandIn() {
        listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(listen_);
        int one = 1;
        ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_.get(), 16) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        wake_r_.reset(p[0]);
        wake_w_.reset(p[1]);
        thread_ = std::thread([this] { run(); });
    }
    ~StandIn() { stop(); }

    void stop() {
        if (!thread_.joinable()) return;
        stop_ = true;
        (void)!::write(wake_w_.get(), "x", 1);
        thread_.join();
    }

    std::uint16_t port() const { return port_; }
    void set_host_auth(std::string host, std::string auth) {
        host_ = std::move(host);
        auth_ = std::move(auth);
    }

    std::size_t connections() {
        std::lock_guard<std::mutex> g(mu_);
        return conns_.size();
    }
    std::vector<std::string> received() {
        std::lock_guard<std::mutex> g(mu_);
        std::vector<std::string> out;
        for (auto& c : conns_) out.push_back(c.data);
        return out;
    }
    std::size_t total_bytes() {
        std::size_t n = 0;
        for (auto& s : received()) n += s.size();
        return n;
    }

  private:
    struct Conn {
        UniqueFd fd;
        std::string data;
        std::size_t answered = 0;
    };

    void run() {
        while (!stop_) {
            std::vector<pollfd> pfds;
            pfds.push_back({listen_.get(), POLLIN, 0});
            pfds.push_back({wake_r_.get(), POLLIN, 0});
            {
                std::lock_guard<std::mutex> g(mu_);
                for (auto& c : conns_)
                    pfds.push_back({c.fd.get(), static_cast<short>(c.fd ? POLLIN : 0), 0});
            }
            if (::poll(pfds.data(), pfds.size(), 200) < 0) continue;
            if (pfds[0].revents & POLLIN) {
                int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
                if (fd >= 0) {
                    std::lock_guard<std::mutex> g(mu_);
                    conns_.push_back(Conn{UniqueFd(fd), {}, 0});
                }
            }
            for (std::size_t i = 2; i < pfds.size(); ++i) {
                if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                char buf[65536];
                ssize_t n = ::recv(pfds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
                std::lock_guard<std::mutex> g(mu_);
                Conn& c = conns_[i - 2];
                if (n <= 0) {
                    if (n == 0 || (errno != EAGAIN && errno != EINTR)) c.fd.reset();
                    continue;
                }
                c.data.append(buf, static_cast<std::size_t>(n));
                ParseResult r = parse_upstream_stream(c.data, host_, auth_);
                std::size_t complete = 0;
                for (auto& q : r.requests) complete += q.complete ? 1 : 0;
                while (r.error.empty() && c.answered < complete) {
                    ::send(c.fd.get(), kCannedResponse, sizeof kCannedResponse - 1, MSG_NOSIGNAL);
                    ++c.answered;
                }
            }
        }
    }

    UniqueFd listen_, wake_r_, wake_w_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<Conn> conns_;  // only the thread adds; others read under mu_
    std::string host_, auth_;
};

// ---------------------------------------------------------------------------
// The rig: everything the parent has for one worker, and the fake worker.

struct Rig {
    StandIn upstream;
    Options opts;
    std::optional<KeyPage> page;
    EventBasePtr base;
    EvDnsBasePtr dns;
    std::unique_ptr<UpstreamPool> pool;
    std::unique_ptr<UpstreamEnv> env;
    std::unique_ptr<Supervisor> supervisor;
    std::unique_ptr<WorkerLink> link;
    UniqueFd worker_end;  // what a worker would hold
    pid_t child = -1;
    bool reaped = false;
    int child_status = 0;
    int stop_status = -1;
    std::string host_header;
    std::vector<ipc::Message> from_parent;

    explicit Rig(bool http_shutdown = false) {
        host_header = "127.0.0.1:" + std::to_string(upstream.port());
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

        UpstreamPool::Config pc;
        REQUIRE_MESSAGE(parse_upstream_url(opts.upstream_url, pc.url, error), error);
        pc.tls = nullptr;
        base.reset(event_base_new());
        REQUIRE(base);
        dns.reset(evdns_base_new(base.get(), 0));
        pool = std::make_unique<UpstreamPool>(base.get(), dns.get(), pc);
        env = std::make_unique<UpstreamEnv>(UpstreamEnv{*pool, *page, opts, nullptr});
        supervisor = std::make_unique<Supervisor>(base.get(), *env, -1, -1);
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
    }

    ~Rig() {
        link.reset();
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
                   BodyFraming framing = BodyFraming::Length, std::uint64_t length = 0) {
        ipc::OpenRequest o;
        o.framing = framing;
        o.content_length = length;
        o.headers = headers;
        std::string payload = ipc::encode_open(o);
        REQUIRE(!payload.empty());
        send(ipc::Type::ReqOpen, stream, payload);
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
    void drain_from_parent() {
        static std::vector<std::uint8_t> buf(ipc::kMaxMessage + 1);
        for (;;) {
            ssize_t n = ::recv(worker_end.get(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n <= 0) return;
            ipc::Message m;
            if (ipc::decode({buf.data(), static_cast<std::size_t>(n)}, m) ==
                ipc::DecodeError::None) {
                // A last body piece means what a RespEnd after it would (as
                // worker/worker_process.cpp reads it): record both.
                const bool last = m.type == ipc::Type::RespBody && (m.flags & ipc::kFlagLast);
                const std::uint32_t stream = m.stream;
                from_parent.push_back(std::move(m));
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

HeaderList codex_like_headers() {
    return {{"content-type", "application/json"},
            {"accept", "text/event-stream"},
            {"originator", "codex_cli_rs"},
            {"session-id", "0199a1b2-c3d4-7e5f-8a9b-000000000001"}};
}

std::string header_value(const ParsedRequest& r, std::string_view name) {
    for (auto& [k, v] : r.headers) {
        if (ieq(k, name)) return v;
    }
    return {};
}

// One hostile ReqOpen: the worker dies, no byte reaches the upstream.
void expect_open_refused(const HeaderList& headers, BodyFraming framing = BodyFraming::Length,
                         std::uint64_t length = 2) {
    Rig rig;
    rig.send_open(1, headers, framing, length);
    if (framing == BodyFraming::Length && length == 2) rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK_MESSAGE(rig.wait_killed(), "the worker was not killed with SIGKILL");
    rig.pump(100);
    CHECK(rig.upstream.total_bytes() == 0);
    CHECK(rig.upstream.connections() == 0);
    rig.check_upstream();
}

}  // namespace

// ---------------------------------------------------------------------------
// Well-behaved worker

TEST_CASE(
    "hostile worker: a valid ReqOpen + body + ReqEnd makes exactly one well-formed upstream "
    "request") {
    Rig rig;
    HeaderList h = codex_like_headers();
    rig.send_open(1, h, BodyFraming::Length, 17);
    rig.send(ipc::Type::ReqBody, 1, "{\"model\":\"gpt-5\"}");
    rig.send(ipc::Type::ReqEnd, 1);
    REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    auto reqs = rig.check_upstream();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].complete);
    CHECK(reqs[0].body == "{\"model\":\"gpt-5\"}");
    CHECK(header_value(reqs[0], "Content-Length") == "17");
    for (auto& [k, v] : h) CHECK(header_value(reqs[0], k) == v);
    // And the worker heard RespHead 200 first.
    bool head = false;
    for (auto& m : rig.from_parent) {
        if (m.type == ipc::Type::RespHead && m.stream == 1) {
            auto s = ipc::decode_response_start(m.payload);
            REQUIRE(s.has_value());
            CHECK(s->status == 200);
            head = true;
        }
    }
    CHECK(head);
}

TEST_CASE("hostile worker: a valid chunked request is forwarded chunked, once") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
    rig.send(ipc::Type::ReqBody, 1, "{\"a\":");
    rig.send(ipc::Type::ReqBody, 1, "1}");
    rig.send(ipc::Type::ReqEnd, 1);
    rig.expect_served_once("{\"a\":1}");
}

// What the real worker's channel sends when ReqEnd follows the last piece in
// one loop turn (common/channel.cpp folds it into kFlagLast).
TEST_CASE("hostile worker: a last body piece (kFlagLast) ends the request like ReqEnd") {
    SUBCASE("Content-Length") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 7);
        rig.send(ipc::Type::ReqBody, 1, "{\"a\":1}", ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
    }
    SUBCASE("chunked: the parent writes the last chunk") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::ReqBody, 1, "{\"a\":");
        rig.send(ipc::Type::ReqBody, 1, "1}", ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
    }
}

TEST_CASE("hostile worker: kFlagLast where it does not belong") {
    SUBCASE("a last piece shorter than Content-Length") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 17);
        rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
        CHECK(rig.wait_killed());
    }
    SUBCASE("ReqEnd after a last piece") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
        rig.send(ipc::Type::ReqEnd, 1);
        CHECK(rig.wait_killed());
    }
    SUBCASE("on ReqOpen") {
        Rig rig;
        ipc::OpenRequest o;
        o.framing = BodyFraming::None;
        o.headers = codex_like_headers();
        rig.send(ipc::Type::ReqOpen, 1, ipc::encode_open(o), ipc::kFlagLast);
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.received().empty());
    }
    SUBCASE("an undefined flag bit on a body piece") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send(ipc::Type::ReqBody, 1, "{}", 0x0002);
        CHECK(rig.wait_killed());
    }
}

// What the real worker does for a request without a body
// (worker/client_connection.cpp: ReqOpen then ReqEnd at once).
TEST_CASE("hostile worker: a body-less request (framing None, then ReqEnd) is served, not killed") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::None, 0);
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.complete_requests() == 1);
}

TEST_CASE("hostile worker: Content-Length 0 then ReqEnd is served, not killed") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 0);
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.complete_requests() == 1);
}

TEST_CASE(
    "hostile worker: whatever headers it sends, the upstream line is POST <configured path> to the "
    "configured Host") {
    Rig rig;
    HeaderList h = {{"X-Method", "DELETE"},
                    {"X-Original-URL", "/admin?x=1"},
                    {"X-Forwarded-Host", "evil.example"},
                    {"Forwarded", "host=evil.example"},
                    {"X-HTTP-Method-Override", "GET"}};
    rig.send_open(1, h, BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    auto reqs = rig.check_upstream();  // checks request line and Host
    REQUIRE(reqs.size() == 1);
    auto data = rig.upstream.received();
    REQUIRE(data.size() == 1);
    std::string want =
        std::string("POST ") + kPath + " HTTP/1.1\r\nHost: " + rig.host_header + "\r\n";
    CHECK(data[0].compare(0, want.size(), want) == 0);
}

TEST_CASE("hostile worker: exactly max_headers (100) valid headers are accepted") {
    Rig rig;
    HeaderList h;
    for (int i = 0; i < 100; ++i) h.push_back({"x-h" + std::to_string(i), "v"});
    rig.send_open(1, h, BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.complete_requests() == 1);
}

TEST_CASE("hostile worker: Shutdown is honoured when --http-shutdown is on") {
    Rig rig(true);
    rig.send(ipc::Type::Shutdown, 0);
    rig.pump(200);
    CHECK_FALSE(rig.reaped);
    CHECK(rig.stop_status == 0);
}

// ---------------------------------------------------------------------------
// Hostile ReqOpen headers: killed, nothing forwarded

TEST_CASE("hostile worker: CR/LF in a header value") {
    expect_open_refused({{"x", "a\r\nHost: evil"}});
    expect_open_refused({{"x", "a\nHost: evil"}});
    expect_open_refused({{"x", "a\rb"}});
}

TEST_CASE("hostile worker: NUL in a header value") {
    expect_open_refused({{"x", std::string("a\0b", 3)}});
}

TEST_CASE("hostile worker: denied header names") {
    for (const char* name :
         {"Host", "host", "Authorization", "AUTHORIZATION", "Content-Length", "Transfer-Encoding",
          "transfer-encoding", "Connection", "Proxy-Authorization", "Cookie", "OpenAI-Organization",
          "OpenAI-Project", "Expect", "TE", "Upgrade"}) {
        CAPTURE(name);
        expect_open_refused({{"content-type", "application/json"}, {name, "evil"}});
    }
}

TEST_CASE("hostile worker: non-token header names") {
    for (std::string name :
         {std::string(""), std::string("x y"), std::string("x:y"), std::string("x\r\nHost"),
          std::string(":path"), std::string("x\0y", 3), std::string("\xc3\xa9")}) {
        CAPTURE(name);
        expect_open_refused({{name, "v"}});
    }
}

TEST_CASE("hostile worker: surrounding whitespace in a value") {
    expect_open_refused({{"x", " v"}});
    expect_open_refused({{"x", "v\t"}});
}

TEST_CASE("hostile worker: too many headers") {
    SUBCASE("101 valid headers") {
        HeaderList h;
        for (int i = 0; i < 101; ++i) h.push_back({"x-h" + std::to_string(i), "v"});
        expect_open_refused(h);
    }
    SUBCASE("9,000 headers (all that fit in one datagram with a name)") {
        expect_open_refused(HeaderList(9000, Header{"x", ""}));
    }
    SUBCASE("10,000 headers (empty names)") {
        expect_open_refused(HeaderList(10000, Header{"", ""}));
    }
}

TEST_CASE("hostile worker: header fields over max_header_bytes") {
    expect_open_refused({{"x-big", std::string(40 * 1024, 'a')}});
}

TEST_CASE("hostile worker: bad framing in ReqOpen") {
    SUBCASE("UntilClose is for responses only") {
        expect_open_refused(codex_like_headers(), BodyFraming::UntilClose, 0);
    }
    SUBCASE("framing value out of range") {
        Rig rig;
        ipc::OpenRequest o;
        o.headers = codex_like_headers();
        std::string p = ipc::encode_open(o);
        p[0] = 9;
        rig.send(ipc::Type::ReqOpen, 1, p);
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.total_bytes() == 0);
    }
    SUBCASE("Content-Length over max_body_bytes") {
        expect_open_refused(codex_like_headers(), BodyFraming::Length, (64ull << 20) + 1);
    }
    SUBCASE("trailing garbage after the header list") {
        Rig rig;
        ipc::OpenRequest o;
        o.framing = BodyFraming::None;
        o.headers = codex_like_headers();
        rig.send(ipc::Type::ReqOpen, 1, ipc::encode_open(o) + "zz");
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.total_bytes() == 0);
    }
    SUBCASE("a header count the payload cannot hold") {
        Rig rig;
        ipc::OpenRequest o;
        o.framing = BodyFraming::None;
        std::string p = ipc::encode_open(o);  // framing, u64 length, u16 count 0
        p[9] = '\xff';
        p[10] = '\xff';
        rig.send(ipc::Type::ReqOpen, 1, p);
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.total_bytes() == 0);
    }
}

// ---------------------------------------------------------------------------
// Malformed datagrams

TEST_CASE("hostile worker: datagram whose length field is larger than its payload") {
    Rig rig;
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, "abcd", wire));
    wire[8] = 100;  // length 100, 4 bytes follow
    rig.send_raw(wire);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: datagram whose length field is smaller than its payload") {
    Rig rig;
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqCancel, 1, "", wire));
    rig.send_raw(wire + "extra");
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: datagram shorter than the header") {
    Rig rig;
    rig.send_raw(std::string("\x01\x00\x00\x00\x01", 5));
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: datagram larger than 64 KiB + 12") {
    Rig rig;
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, std::string(ipc::kMaxPayload, 'a'), wire));
    wire += "b";  // one byte over the cap
    rig.send_raw(wire);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: datagram with a length field over the cap") {
    Rig rig;
    std::string payload(ipc::kMaxPayload + 100, 'a');
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, "", wire));
    std::uint32_t len = static_cast<std::uint32_t>(payload.size());
    std::memcpy(&wire[8], &len, 4);  // little-endian host
    rig.send_raw(wire + payload);
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: unknown message type") {
    for (std::uint16_t t : {0, 7, 31, 38, 99, 0xffff}) {
        CAPTURE(t);
        Rig rig;
        std::string wire;
        REQUIRE(ipc::encode(ipc::Type::ReqEnd, 1, "", wire));
        wire[0] = static_cast<char>(t & 0xff);
        wire[1] = static_cast<char>(t >> 8);
        rig.send_raw(wire);
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: parent->worker types sent by the worker") {
    for (ipc::Type t : {ipc::Type::RespHead, ipc::Type::RespBody, ipc::Type::RespEnd,
                        ipc::Type::RespAbort, ipc::Type::RespError, ipc::Type::ReqCredit}) {
        CAPTURE(ipc::type_name(t));
        Rig rig;
        std::string payload;
        if (t == ipc::Type::RespHead) {
            ipc::ResponseStart s;
            s.status = 200;
            payload = ipc::encode_response_start(s);
        } else if (t == ipc::Type::ReqCredit) {
            payload = ipc::encode_u32(1);
        }
        rig.send(t, 1, payload);
        CHECK(rig.wait_killed());
    }
}

// ---------------------------------------------------------------------------
// Out-of-state messages

TEST_CASE("hostile worker: ReqBody for a stream never opened, id above any seen") {
    Rig rig;
    rig.send(ipc::Type::ReqBody, 7, "data");
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: ReqEnd / RespCredit / ReqCancel for a stream never opened") {
    for (ipc::Type t : {ipc::Type::ReqEnd, ipc::Type::RespCredit, ipc::Type::ReqCancel}) {
        CAPTURE(ipc::type_name(t));
        Rig rig;
        rig.send(t, 3, t == ipc::Type::RespCredit ? ipc::encode_u32(10) : std::string());
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: ReqOpen on stream 0") {
    Rig rig;
    rig.send_open(0, codex_like_headers(), BodyFraming::None, 0);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: a second ReqOpen reusing a stream id") {
    SUBCASE("while the stream is open") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        CHECK(rig.wait_killed());
        rig.pump(100);
        CHECK(rig.complete_requests() == 0);
    }
    SUBCASE("after it finished") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send(ipc::Type::ReqBody, 1, "{}");
        rig.send(ipc::Type::ReqEnd, 1);
        REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
        rig.pump(50);
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        CHECK(rig.wait_killed());
        rig.pump(100);
        CHECK(rig.complete_requests() == 1);
    }
    SUBCASE("a lower id than one already seen") {
        Rig rig;
        rig.send_open(5, codex_like_headers(), BodyFraming::Length, 2);
        rig.send_open(3, codex_like_headers(), BodyFraming::Length, 2);
        CHECK(rig.wait_killed());
        rig.pump(100);
        CHECK(rig.complete_requests() == 0);
    }
}

TEST_CASE("hostile worker: ReqEnd twice") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_killed());
    rig.pump(100);
    CHECK(rig.complete_requests() <= 1);
}

TEST_CASE("hostile worker: ReqEnd before the declared Content-Length arrived") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 10);
    rig.send(ipc::Type::ReqBody, 1, "12345");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_killed());
    rig.pump(100);
    CHECK(rig.complete_requests() == 0);
}

TEST_CASE("hostile worker: body bytes beyond the declared Content-Length") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 5);
    rig.send(ipc::Type::ReqBody, 1, "hello SMUGGLED");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_killed());
    rig.pump(100);
    rig.check_upstream();
    for (auto& d : rig.upstream.received()) CHECK(d.find("SMUGGLED") == std::string::npos);
}

TEST_CASE("hostile worker: a smuggled second request inside a Content-Length body stays body") {
    // Within the declared length, bytes that look like a request are just
    // body: the stand-in sees one request whose body holds them.
    Rig rig;
    std::string inner = "POST /v1/other HTTP/1.1\r\nHost: evil\r\nContent-Length: 0\r\n\r\n";
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, inner.size());
    rig.send(ipc::Type::ReqBody, 1, inner);
    rig.send(ipc::Type::ReqEnd, 1);
    REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
    auto reqs = rig.check_upstream();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].body == inner);
}

TEST_CASE("hostile worker: ReqBody for a body-less request") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::None, 0);
    rig.send(ipc::Type::ReqBody, 1, "x");
    CHECK(rig.wait_killed());
    rig.pump(100);
    rig.check_upstream();
}

TEST_CASE("hostile worker: payload on ReqEnd / ReqCancel, bad RespCredit payload") {
    SUBCASE("ReqEnd with payload") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::ReqEnd, 1, "x");
        CHECK(rig.wait_killed());
    }
    SUBCASE("ReqCancel with payload") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::ReqCancel, 1, "x");
        CHECK(rig.wait_killed());
    }
    SUBCASE("RespCredit with 3 bytes") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::RespCredit, 1, "abc");
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: Shutdown when --http-shutdown is off") {
    Rig rig(false);
    rig.send(ipc::Type::Shutdown, 0);
    CHECK(rig.wait_killed());
    CHECK(rig.stop_status == -1);
}

TEST_CASE("hostile worker: Shutdown on a stream, or with a payload") {
    SUBCASE("stream 1") {
        Rig rig(true);
        rig.send(ipc::Type::Shutdown, 1);
        CHECK(rig.wait_killed());
        CHECK(rig.stop_status == -1);
    }
    SUBCASE("payload") {
        Rig rig(true);
        rig.send(ipc::Type::Shutdown, 0, "now");
        CHECK(rig.wait_killed());
        CHECK(rig.stop_status == -1);
    }
}

TEST_CASE("hostile worker: ignoring the request credit window") {
    // The parent allows 2 windows (512 KiB) + one message uncredited. A worker
    // that pushes far more at once (here before the upstream connection is
    // even up, so nothing can have been credited) must die rather than make
    // the parent buffer it.
    Rig rig;
    int big = 16 << 20;
    if (::setsockopt(rig.worker_end.get(), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0) {
        MESSAGE("SO_SNDBUFFORCE needs CAP_NET_ADMIN: cannot queue enough datagrams; case skipped");
        return;
    }
    rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, std::string(ipc::kMaxPayload, 'a'), wire));
    for (int i = 0; i < 16; ++i) rig.send_raw(wire);
    CHECK(rig.wait_killed());
}
