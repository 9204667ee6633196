// The messages of --github-oidc's two requests, as the original sends and
// checks them: the request targets built from the flags, the token exchange
// body, and the checks on OpenAI's answer. Pure functions over locked
// buffers; the I/O is in oidc_token_source.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/secret_page.hpp"
#include "parent/oidc/oidc_https.hpp"

namespace proxy {

struct OidcSettings {
    HttpsTarget github;           // from --github-oidc-request-url
    std::string github_target;    // its path and query, "audience=..." appended
    std::string github_host;      // its Host header
    HttpsTarget exchange;         // from --oidc-token-url
    std::string exchange_target;  // "/oauth/token"
    std::string exchange_host;
    std::string identity_provider_id;
    std::string service_account_id;
    unsigned timeout_s = 30;
};

// Longest ID token from GitHub and access token from OpenAI accepted
// (measured on the original: GitHub's ID token; the access token is held to
// the same bound).
inline constexpr std::size_t kOidcTokenMax = 16 * 1024;

// Checks the URLs and builds the request targets. On failure returns nothing
// and sets the original's message.
std::optional<OidcSettings> make_oidc_settings(const std::string& github_url,
                                               const std::string& audience,
                                               const std::string& identity_provider_id,
                                               const std::string& service_account_id,
                                               const std::string& token_url, std::string& error);

// application/x-www-form-urlencoded, as the original's URL library appends a
// query pair.
std::string form_urlencode(std::string_view s);

// From GitHub's answer {"value":"<ID token>",...} (rewritten in place), the
// exchange request body in a new locked page (its header_value() is the
// body). On failure returns nothing and sets the original's message.
std::optional<KeyPage> make_exchange_body(std::span<char> github_body,
                                          const std::string& identity_provider_id,
                                          const std::string& service_account_id,
                                          std::string& error);

// What one round produced, validated as the original validates it.
struct AccessTokenGrant {
    KeyPage page;  // "Bearer <access token>", sealed
    std::chrono::seconds lifetime{0};
};

// Parses and checks OpenAI's exchange response (rewritten in place).
// `now_unix` is the wall clock for expires_at. On failure returns nothing and
// sets the original's message.
std::optional<AccessTokenGrant> parse_exchange_response(std::span<char> body, std::int64_t now_unix,
                                                        std::string& error);

}  // namespace proxy
