#include "parent/oidc/oidc_token_source.hpp"

#include <event2/event.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <utility>

#include "common/log.hpp"

namespace proxy {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// What the original prints when a round fails at start-up (and logs later).
constexpr char kGithubFailed[] = "GitHub OIDC token request failed";
constexpr char kExchangeFailed[] = "OpenAI workload identity token exchange failed";

std::string rejected(const char* who, int status) {
    return std::string(who) + " request rejected (HTTP " + std::to_string(status) + ")";
}

std::shared_ptr<const KeyPage> share(KeyPage page) {
    return std::make_shared<const KeyPage>(std::move(page));
}

}  // namespace

OidcTokenSource::OidcTokenSource(event_base* base, evdns_base* dns, SSL_CTX* tls,
                                 Credential& credential, KeyPage request_token,
                                 OidcSettings settings)
    : base_(base),
      dns_(dns),
      tls_(tls),
      credential_(credential),
      request_token_(share(std::move(request_token))),
      settings_(std::move(settings)),
      timer_(evtimer_new(base, &OidcTokenSource::on_timer, this)),
      expiry_(evtimer_new(base, &OidcTokenSource::on_expiry, this)) {}

OidcTokenSource::~OidcTokenSource() = default;

void OidcTokenSource::start(FirstResultFn first_result) {
    first_result_ = std::move(first_result);
    begin_round();
}

void OidcTokenSource::arm(event* ev, milliseconds delay) {
    const auto ms = std::max<long long>(delay.count(), 0);
    const timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
    evtimer_add(ev, &tv);
}

void OidcTokenSource::on_timer(evutil_socket_t, short, void* arg) noexcept {
    static_cast<OidcTokenSource*>(arg)->begin_round();
}

// The token has run out and no round has replaced it: requests now get a 502
// until one does (rounds keep being retried meanwhile).
void OidcTokenSource::on_expiry(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<OidcTokenSource*>(arg);
    self->have_token_ = false;
    self->credential_.clear();
    self->credential_.set_unavailable_reason(
        "workload identity renewal temporarily unavailable; retry later");
    LOG_WARN("github-oidc: the access token expired before it could be renewed");
}

// Step 1: GitHub's ID token. GET <request URL>&audience=<audience>, the
// request token as bearer credential; header names and order as reqwest
// sends them for the original.
void OidcTokenSource::begin_round() {
    if (request_) return;  // a round is under way
    EvBufferPtr out(evbuffer_new());
    evbuffer_add_printf(out.get(),
                        "GET %s HTTP/1.1\r\nauthorization: ", settings_.github_target.c_str());
    Credential::append_reference(out.get(), request_token_);
    evbuffer_add_printf(out.get(), "\r\naccept: */*\r\nhost: %s\r\n\r\n",
                        settings_.github_host.c_str());
    request_ = std::make_unique<OidcHttpsRequest>(base_, dns_, tls_);
    request_->start(settings_.github, out.get(), settings_.timeout_s,
                    [this](OidcHttpsRequest& r) { on_github(r); });
}

void OidcTokenSource::on_github(OidcHttpsRequest& req) {
    auto done = std::move(request_);  // wiped (scratch page) when this returns
    if (req.outcome() != OidcHttpsRequest::Outcome::Answered) {
        round_failed(kGithubFailed, req.error());
        return;
    }
    if (req.status() < 200 || req.status() > 299) {
        round_failed(rejected("GitHub OIDC token", req.status()), {});
        return;
    }
    std::string error;
    auto body = make_exchange_body(req.body(), settings_.identity_provider_id,
                                   settings_.service_account_id, error);
    if (!body) {
        round_failed(error, {});
        return;
    }
    // Step 2: OpenAI's token exchange, the body (which holds GitHub's ID
    // token) by reference to its locked page.
    auto page = share(std::move(*body));
    EvBufferPtr out(evbuffer_new());
    evbuffer_add_printf(out.get(),
                        "POST %s HTTP/1.1\r\ncontent-type: application/json\r\naccept: */*\r\n"
                        "host: %s\r\ncontent-length: %zu\r\n\r\n",
                        settings_.exchange_target.c_str(), settings_.exchange_host.c_str(),
                        page->header_value().size());
    Credential::append_reference(out.get(), page);
    page.reset();  // the buffer holds the only reference now
    request_ = std::make_unique<OidcHttpsRequest>(base_, dns_, tls_);
    request_->start(settings_.exchange, out.get(), settings_.timeout_s,
                    [this](OidcHttpsRequest& r) { on_exchange(r); });
}

void OidcTokenSource::on_exchange(OidcHttpsRequest& req) {
    auto done = std::move(request_);
    if (req.outcome() != OidcHttpsRequest::Outcome::Answered) {
        round_failed(kExchangeFailed, req.error());
        return;
    }
    if (req.status() < 200 || req.status() > 299) {
        round_failed(rejected("OpenAI workload identity token", req.status()), {});
        return;
    }
    std::string error;
    auto grant =
        parse_exchange_response(req.body(), static_cast<std::int64_t>(std::time(nullptr)), error);
    if (!grant) {
        round_failed(error, {});
        return;
    }
    install(std::move(*grant));
}

void OidcTokenSource::install(AccessTokenGrant grant) {
    const seconds lifetime = grant.lifetime;
    credential_.replace(std::move(grant.page));
    have_token_ = true;
    retry_ = seconds{0};
    // Renew well before the end, so requests never wait for a round; stop
    // using the token a little before the end, as the original does, so a
    // request is not sent with a token that dies in flight.
    const milliseconds life = lifetime;
    const milliseconds renew = life - std::min<milliseconds>(kRefreshMargin, life / 2);
    const milliseconds usable = life - std::min<milliseconds>(seconds{5}, life / 4);
    arm(timer_.get(), renew);
    arm(expiry_.get(), usable);
    LOG_INFO("github-oidc: access token obtained (expires in %llds, renewal in %lldms)",
             static_cast<long long>(lifetime.count()), static_cast<long long>(renew.count()));
    if (first_result_) std::exchange(first_result_, nullptr)("");
}

void OidcTokenSource::round_failed(const std::string& message, const std::string& detail) {
    if (first_result_) {
        // Start-up: the original exits with the message; so do we.
        if (!detail.empty()) LOG_DEBUG("github-oidc: %s", detail.c_str());
        std::exchange(first_result_, nullptr)(message);
        return;
    }
    retry_ = retry_.count() == 0 ? kMinRetry : std::min(retry_ * 2, kMaxRetry);
    if (detail.empty()) {
        LOG_WARN("github-oidc: %s; retrying in %llds", message.c_str(),
                 static_cast<long long>(retry_.count()));
    } else {
        LOG_WARN("github-oidc: %s (%s); retrying in %llds", message.c_str(), detail.c_str(),
                 static_cast<long long>(retry_.count()));
    }
    if (!have_token_) {
        credential_.set_unavailable_reason(
            "workload identity renewal temporarily unavailable; retry later");
    }
    arm(timer_.get(), retry_);
}

}  // namespace proxy
