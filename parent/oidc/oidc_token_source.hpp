// --github-oidc: the parent obtains OpenAI access tokens itself. Each round
// asks GitHub's token-request URL for an ID token (authenticated with the
// request token read from stdin), exchanges it at OpenAI's token endpoint
// (RFC 8693 token exchange), and installs the access token in the
// Credential that request heads reference. The original's requests, headers
// and bodies are reproduced byte for byte (README, "GitHub Actions OIDC").
//
// Everything runs on the parent's event loop; nothing blocks it. Tokens live
// only in locked pages: the request token in one page for the whole run, the
// access token in one page per token (the old one wiped once no request head
// references it), GitHub's ID token only in the locked buffers of one round.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/event_ptr.hpp"
#include "common/secret_page.hpp"
#include "parent/key/credential.hpp"
#include "parent/oidc/oidc_https.hpp"
#include "parent/oidc/oidc_messages.hpp"
#include "parent/parent_ptr.hpp"

namespace proxy {

class OidcTokenSource {
  public:
    using Clock = std::chrono::steady_clock;
    // Called once after the first round: empty on success, else the
    // original's message (the caller exits 1).
    using FirstResultFn = std::function<void(const std::string& error)>;

    OidcTokenSource(event_base* base, evdns_base* dns, SSL_CTX* tls, Credential& credential,
                    KeyPage request_token, OidcSettings settings);
    ~OidcTokenSource();

    void start(FirstResultFn first_result);

    // Seconds before expiry at which a new token is fetched, and the retry
    // delays after a failed round (doubling up to the cap).
    static constexpr std::chrono::seconds kRefreshMargin{60};
    static constexpr std::chrono::seconds kMinRetry{1};
    static constexpr std::chrono::seconds kMaxRetry{30};

  private:
    static void on_timer(evutil_socket_t, short, void* arg) noexcept;
    static void on_expiry(evutil_socket_t, short, void* arg) noexcept;

    void begin_round();
    void on_github(OidcHttpsRequest& req);
    void on_exchange(OidcHttpsRequest& req);
    void round_failed(const std::string& message, const std::string& detail);
    void install(AccessTokenGrant grant);
    void arm(event* ev, std::chrono::milliseconds delay);

    event_base* base_;
    evdns_base* dns_;
    SSL_CTX* tls_;
    Credential& credential_;
    std::shared_ptr<const KeyPage> request_token_;
    OidcSettings settings_;
    std::unique_ptr<OidcHttpsRequest> request_;
    EventPtr timer_;   // next round: refresh or retry
    EventPtr expiry_;  // the current token's end
    FirstResultFn first_result_;
    bool have_token_ = false;
    std::chrono::seconds retry_{0};
};

}  // namespace proxy
