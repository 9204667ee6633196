// One HTTPS request from the parent to a token endpoint (GitHub's token
// request URL, OpenAI's token exchange), on the parent's event loop with the
// upstream's transport (async DNS, TCP, TLS with verification). Separate from
// the upstream pool: these connections carry other credentials to other
// hosts, and are never shared with client traffic.
//
// Secrets on the way in are kept to one place: every plaintext byte of the
// response is moved into a locked scratch page and the transport's buffer is
// zeroed before it is drained; OpenSSL is told to cleanse its record buffer
// (SSL_OP_CLEANSE_PLAINTEXT). The request bytes may reference locked pages.
#pragma once

#include <event2/buffer.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/event_ptr.hpp"
#include "common/secret_page.hpp"
#include "parent/parent_ptr.hpp"
#include "parent/upstream/upstream_transport.hpp"

namespace proxy {

struct HttpsTarget {
    std::string host;  // name or address, no brackets
    int port = 443;
};

class OidcHttpsRequest {
  public:
    // How the request ended. Transport: no answer (DNS, TCP, TLS, timeout,
    // a response cut short or too large); Answered: a complete response.
    enum class Outcome { Transport, Answered };
    using DoneFn = std::function<void(OidcHttpsRequest&)>;

    // The whole response, head and body, must fit in this (a token response
    // is a few KiB).
    static constexpr std::size_t kMaxResponse = 64 * 1024;

    OidcHttpsRequest(event_base* base, evdns_base* dns, SSL_CTX* tls);
    ~OidcHttpsRequest();
    OidcHttpsRequest(const OidcHttpsRequest&) = delete;
    OidcHttpsRequest& operator=(const OidcHttpsRequest&) = delete;

    // Sends `request` (its bytes are moved out) and calls `done` once, from
    // the loop, never from inside start(). `timeout_s` bounds each wait.
    void start(const HttpsTarget& target, evbuffer* request, unsigned timeout_s, DoneFn done);

    Outcome outcome() const { return outcome_; }
    int status() const { return status_; }
    // The decoded body, inside the locked scratch page; valid until the
    // request is destroyed (which wipes it). Writable, for in-place parsing.
    std::span<char> body() { return body_; }
    // Why Outcome::Transport, for the log (never contains response bytes).
    const std::string& error() const { return error_; }

  private:
    static void on_read(void* arg) noexcept;
    static void on_event(short what, void* arg) noexcept;
    static void on_deferred(evutil_socket_t, short, void* arg) noexcept;

    void absorb();
    // True when the response is complete (or failed); finishes the request.
    bool check_complete(bool eof);
    void finish(Outcome outcome, std::string error);

    event_base* base_;
    evdns_base* dns_;
    SSL_CTX* tls_;
    std::unique_ptr<UpstreamTransport> transport_;
    std::optional<KeyPage> scratch_;
    std::size_t used_ = 0;
    std::span<char> body_;
    EventPtr deferred_;
    Outcome outcome_ = Outcome::Transport;
    int status_ = 0;
    std::string error_;
    DoneFn done_;
    bool finished_ = false;
};

}  // namespace proxy
