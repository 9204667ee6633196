// The upstream stand-in of the hostile-worker rig (hostile_worker_rig.hpp):
// plain TCP on 127.0.0.1, records every byte, answers every complete request
// with a small 200, and the parser that checks what the parent wrote to it.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/unique_fd.hpp"

namespace hostile_worker {

using namespace proxy;

inline constexpr char kCannedResponse[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

// ---------------------------------------------------------------------------
// Checking what the upstream received

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
                                  const std::string& auth);

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
    // What each complete request is answered with (default: kCannedResponse).
    void set_response(std::string bytes) {
        std::lock_guard<std::mutex> g(mu_);
        response_ = std::move(bytes);
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
                    send_all(c.fd.get(), response_);
                    ++c.answered;
                }
            }
        }
    }

    static void send_all(int fd, std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) {
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            if (n <= 0) return;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    std::string response_ = kCannedResponse;
    UniqueFd listen_, wake_r_, wake_w_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<Conn> conns_;  // only the thread adds; others read under mu_
    std::string host_, auth_;
};

HeaderList codex_like_headers();

}  // namespace hostile_worker
