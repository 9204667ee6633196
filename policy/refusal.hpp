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

// The same budget per week and per month (policy/spend_budget.hpp); Retry-After
// until the period resets.
inline constexpr Refusal kTokenBudgetWeek{429, kTokenLimitType, "token_budget_exceeded",
                                          "this user's token budget for this week is spent"};
inline constexpr Refusal kTokenBudgetMonth{429, kTokenLimitType, "token_budget_exceeded",
                                           "this user's token budget for this month is spent"};
inline constexpr Refusal kTokenBudgetHeldPeriod{
    429, kTokenLimitType, "token_budget_exceeded",
    "this user's requests in flight hold the rest of the token budget"};
// tokens_per_minute, charged after the fact: Retry-After until the bucket
// holds a token again. Held: other streams in flight reserve what is left.
inline constexpr Refusal kTokensPerMinute{429, kTokenLimitType, "tokens_per_minute_exceeded",
                                          "too many tokens per minute for this user"};
inline constexpr Refusal kTokensPerMinuteHeld{
    429, kTokenLimitType, "tokens_per_minute_exceeded",
    "this user's requests in flight hold the rest of this minute's tokens"};
// Dollar budgets. OpenAI's own type for money that is spent is
// "insufficient_quota", which clients (the Codex CLI among them) do not
// retry: right for a budget that returns only when its period resets.
inline constexpr const char* kQuotaType = "insufficient_quota";
inline constexpr Refusal kSpendBudgetDay{429, kQuotaType, "spend_budget_exceeded",
                                         "this user's spend budget for today is spent"};
inline constexpr Refusal kSpendBudgetWeek{429, kQuotaType, "spend_budget_exceeded",
                                          "this user's spend budget for this week is spent"};
inline constexpr Refusal kSpendBudgetMonth{429, kQuotaType, "spend_budget_exceeded",
                                           "this user's spend budget for this month is spent"};
// Held is not spent: the requests in flight may cost less than they reserve,
// so a client should retry (type tokens, like the token budget's Held).
inline constexpr Refusal kSpendBudgetHeld{
    429, kTokenLimitType, "spend_budget_exceeded",
    "this user's requests in flight hold the rest of the spend budget"};
// A dollar budget is in force and the price table has no price for the
// model: what it costs could not be charged.
inline constexpr Refusal kModelNotPriced{
    403, kClient, "model_not_priced",
    "this model has no price in the proxy's policy, and a spend budget is in force"};

inline constexpr Refusal kUpstreamProxyError{502, kServer, "upstream_proxy_error",
                                             "the HTTP proxy to the upstream API refused"};

// --- what the request-body policy refuses (policy/request_body_policy.hpp) ---
// Each is sent as a DetailedRefusal, whose message names the field and what
// the request asked for; the messages here are the generic fallbacks.
inline constexpr Refusal kInvalidJson{400, kClient, "invalid_json",
                                      "the request body is not one valid JSON object"};
inline constexpr Refusal kDuplicateField{400, kClient, "duplicate_field",
                                         "a field of the request body is given more than once"};
inline constexpr Refusal kInvalidType{400, kClient, "invalid_type",
                                      "a field of the request body has the wrong type"};
inline constexpr Refusal kStringTooLong{400, kClient, "string_above_max_length",
                                        "a field of the request body is too long"};
inline constexpr Refusal kMissingModel{400, kClient, "missing_required_parameter",
                                       "the request body names no model"};
inline constexpr Refusal kModelNotAllowed{403, kClient, "model_not_allowed",
                                          "this model is not allowed for this user"};
inline constexpr Refusal kMaxOutputTokensOverLimit{403, kClient, "max_output_tokens_over_limit",
                                                   "max_output_tokens is over this user's limit"};
inline constexpr Refusal kServiceTierNotAllowed{403, kClient, "service_tier_not_allowed",
                                                "this service tier is not allowed for this user"};
inline constexpr Refusal kBackgroundNotAllowed{
    403, kClient, "background_not_allowed",
    "background responses are not allowed while a budget applies to this user"};
inline constexpr Refusal kPreviousResponseNotYours{
    403, kClient, "previous_response_not_yours",
    "previous_response_id names a response this user did not create through this proxy"};
inline constexpr Refusal kConversationNotYours{
    403, kClient, "conversation_not_yours",
    "conversation names a conversation this user did not create through this proxy"};

// The request-body policy's refusals. kAll below leaves them out, so that
// table stays as it is while others add to it; the tests check both.
inline constexpr const Refusal* kBodyPolicyAll[] = {
    &kInvalidJson,
    &kDuplicateField,
    &kInvalidType,
    &kStringTooLong,
    &kMissingModel,
    &kModelNotAllowed,
    &kMaxOutputTokensOverLimit,
    &kServiceTierNotAllowed,
    &kBackgroundNotAllowed,
    &kPreviousResponseNotYours,
    &kConversationNotYours,
};
// GET /metrics from someone who is neither root nor named by
// --metrics-allow-user / --metrics-allow-group (or the policy file's
// metrics_users / metrics_groups).
inline constexpr Refusal kMetricsNotAllowed{403, kClient, "metrics_not_allowed",
                                            "this user may not read the proxy's metrics"};

// Every refusal above, so tests can check the table as a whole.
// clang-format off
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
    // periods, rates and dollars (policy/spend_budget.hpp)
    &kTokenBudgetWeek,     &kTokenBudgetMonth,
    &kTokenBudgetHeldPeriod,
    &kTokensPerMinute,     &kTokensPerMinuteHeld,
    &kSpendBudgetDay,      &kSpendBudgetWeek,
    &kSpendBudgetMonth,    &kSpendBudgetHeld,
    &kModelNotPriced,
    &kMetricsNotAllowed,
};
// clang-format on

}  // namespace refusal

// A refusal whose message says what this request did (names the model, the
// field, the limit); status, type and code are its kind's.
struct DetailedRefusal {
    Refusal kind;
    std::string message;
};

// The JSON body sent with a refusal (no trailing newline).
inline std::string refusal_body(const Refusal& r) {
    return json_error_body(r.message, r.type, r.code);
}
inline std::string refusal_body(const DetailedRefusal& r) {
    return json_error_body(r.message, r.kind.type, r.kind.code);
}

}  // namespace proxy
