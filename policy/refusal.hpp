// Every answer the proxy makes on its own instead of the upstream's: status,
// OpenAI error type and code, and the message a user sees. 4xx are the
// client's fault ("invalid_request_error"), 5xx ours or the upstream's
// ("server_error"), matching the types OpenAI's own errors use.
//
// The original proxy answers 403 (empty body) to every request other than
// POST /v1/responses; we keep the status and add a JSON body in OpenAI's shape.
#pragma once

#include <cstdint>
#include <string>

#include "common/json.hpp"

namespace proxy {

struct Refusal {
    std::uint16_t status;
    const char* type;
    const char* code;
    const char* message;
};

namespace refusal {

inline constexpr const char* kClient = "invalid_request_error";
inline constexpr const char* kServer = "server_error";

// --- what the request policy refuses (policy/request_policy.cpp) ---
inline constexpr Refusal kForbidden{403, kClient, "forbidden",
                                    "only POST /v1/responses is allowed"};
// Host names something other than this proxy: DNS rebinding from a browser.
inline constexpr Refusal kMisdirectedRequest{421, kClient, "misdirected_request",
                                             "Host does not name this proxy"};
inline constexpr Refusal kBrowserRequest{403, kClient, "browser_request_refused",
                                         "requests from web browsers are refused"};
// The Codex CLI tries a websocket first and falls back to HTTP at once on 426.
inline constexpr Refusal kWebsocketUpgrade{426, kClient, "upgrade_required",
                                           "websockets are not supported; use HTTP"};
inline constexpr Refusal kUpgradeRefused{403, kClient, "upgrade_refused",
                                         "protocol upgrades are not allowed"};

// --- what the worker's HTTP parser and limits refuse ---
inline constexpr Refusal kBadRequest{400, kClient, "bad_request", "malformed HTTP request"};
inline constexpr Refusal kRequestTimeout{408, kClient, "request_timeout",
                                         "request not received in time"};
inline constexpr Refusal kLengthRequired{411, kClient, "length_required",
                                         "request body needs Content-Length or chunked framing"};
inline constexpr Refusal kBodyTooLarge{413, kClient, "request_too_large", "request body too large"};
inline constexpr Refusal kExpectationFailed{417, kClient, "expectation_failed",
                                            "only Expect: 100-continue is supported"};
inline constexpr Refusal kHeaderTooLarge{431, kClient, "request_header_too_large",
                                         "request header fields too large"};
inline constexpr Refusal kTooManyHeaders{431, kClient, "too_many_headers",
                                         "too many request header fields"};
inline constexpr Refusal kVersionNotSupported{505, kServer, "http_version_not_supported",
                                              "only HTTP/1.0 and HTTP/1.1 are supported"};

// --- what the proxy's own state or the upstream cause ---
inline constexpr Refusal kOverloaded{503, kServer, "overloaded",
                                     "proxy is at its connection limit; retry later"};
inline constexpr Refusal kShuttingDown{503, kServer, "shutting_down", "proxy is shutting down"};
// A request the parent got after the client's connection had closed: nobody
// reads the answer; it ends the worker's stream.
inline constexpr Refusal kClientGone{400, kClient, "client_gone",
                                     "the client closed its connection"};
inline constexpr Refusal kUpstreamUnreachable{502, kServer, "upstream_unreachable",
                                              "cannot connect to the upstream API"};
inline constexpr Refusal kUpstreamTls{502, kServer, "upstream_tls_error",
                                      "TLS handshake with the upstream API failed"};
inline constexpr Refusal kUpstreamProtocol{502, kServer, "upstream_protocol_error",
                                           "invalid response from the upstream API"};
inline constexpr Refusal kUpstreamTimeout{504, kServer, "upstream_timeout",
                                          "the upstream API did not answer in time"};
// --github-oidc: no unexpired access token, renewal failing (and retried).
inline constexpr Refusal kCredentialUnavailable{
    502, kServer, "workload_identity_unavailable",
    "workload identity renewal temporarily unavailable; retry later"};

// --- what the per-user policy refuses (policy/user_policy.hpp, in the parent) ---
inline constexpr const char* kRateLimitType = "requests";  // OpenAI's type for rate limits
inline constexpr const char* kTokenLimitType = "tokens";
inline constexpr Refusal kUserNotAllowed{403, kClient, "user_not_allowed",
                                         "this user may not use the proxy"};
// The kernel could not vouch for the caller (parent/users/peer_identity.cpp), and
// the policy names users: see policy/user_policy.hpp.
inline constexpr Refusal kUserUnidentified{
    403, kClient, "user_unidentified",
    "the proxy cannot tell which local user this connection belongs to"};
inline constexpr Refusal kTooManyStreams{429, kRateLimitType, "too_many_streams",
                                         "too many concurrent streams for this user"};
inline constexpr Refusal kRateLimited{429, kRateLimitType, "rate_limit_exceeded",
                                      "too many requests per minute for this user"};
inline constexpr Refusal kTokenBudget{429, kTokenLimitType, "token_budget_exceeded",
                                      "this user's token budget for today is spent"};
// The same limit, reached by the reservations of the user's requests in
// flight (policy/token_budget.hpp): retry when one of them ends.
inline constexpr Refusal kTokenBudgetHeld{
    429, kTokenLimitType, "token_budget_exceeded",
    "this user's requests in flight hold the rest of today's token budget"};

inline constexpr Refusal kUpstreamProxyError{502, kServer, "upstream_proxy_error",
                                             "the HTTP proxy to the upstream API refused"};

// GET /metrics from someone who is neither root nor named by
// --metrics-allow-user / --metrics-allow-group (or the policy file's
// metrics_users / metrics_groups).
inline constexpr Refusal kMetricsNotAllowed{403, kClient, "metrics_not_allowed",
                                            "this user may not read the proxy's metrics"};

// Every refusal above, so tests can check the table as a whole.
inline constexpr const Refusal* kAll[] = {
    &kForbidden,           &kMisdirectedRequest,
    &kBrowserRequest,      &kWebsocketUpgrade,
    &kUpgradeRefused,      &kBadRequest,
    &kRequestTimeout,      &kLengthRequired,
    &kBodyTooLarge,        &kExpectationFailed,
    &kHeaderTooLarge,      &kTooManyHeaders,
    &kVersionNotSupported, &kOverloaded,
    &kShuttingDown,        &kClientGone,
    &kUpstreamUnreachable, &kUpstreamTls,
    &kUpstreamProtocol,    &kUpstreamTimeout,
    &kUserNotAllowed,      &kUserUnidentified,
    &kTooManyStreams,      &kRateLimited,
    &kTokenBudget,         &kCredentialUnavailable,
    &kUpstreamProxyError,  &kTokenBudgetHeld,
    &kMetricsNotAllowed,
};

}  // namespace refusal

// The JSON body sent with a refusal (no trailing newline).
inline std::string refusal_body(const Refusal& r) {
    return json_error_body(r.message, r.type, r.code);
}

}  // namespace proxy
