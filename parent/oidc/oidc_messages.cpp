#include "parent/oidc/oidc_messages.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "common/json.hpp"
#include "common/options.hpp"
#include "common/upstream_url.hpp"
#include "parent/oidc/oidc_intake.hpp"
#include "parent/oidc/oidc_json.hpp"

namespace proxy {

namespace {

constexpr std::string_view kTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr std::string_view kJwtType = "urn:ietf:params:oauth:token-type:jwt";
constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";
// The original refuses a token that lives longer than an hour.
constexpr std::uint64_t kMaxLifetime = 3600;

bool iequals_ascii(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// host[:port] as an HTTP client writes it: the port only when not 443.
std::string host_header(const UpstreamUrl& u) {
    const bool v6 = u.host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + u.host + "]" : u.host;
    if (u.port != 443) h += ":" + std::to_string(u.port);
    return h;
}

// Appends to a page being filled; false when it would not fit.
struct PageWriter {
    std::span<char> room;
    std::size_t used = 0;
    bool ok = true;
    void add(std::string_view s) {
        if (!ok || s.size() > room.size() - used) {
            ok = false;
            return;
        }
        std::memcpy(room.data() + used, s.data(), s.size());
        used += s.size();
    }
};

}  // namespace

std::string form_urlencode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '*' || c == '-' || c == '.' || c == '_') {
            out += c;
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out;
}

std::optional<OidcSettings> make_oidc_settings(const std::string& github_url,
                                               const std::string& audience,
                                               const std::string& identity_provider_id,
                                               const std::string& service_account_id,
                                               const std::string& token_url, std::string& error) {
    OidcSettings s;
    UpstreamUrl gh;
    std::string why;
    const std::string_view g = github_url;
    const std::size_t authority_end = g.find_first_of("/?#", g.find("://") + 3);
    const bool user_info = g.substr(0, authority_end).find('@') != std::string_view::npos;
    if (!parse_upstream_url(github_url, gh, why)) {
        // The original tells "not https, user info, fragment" apart from the rest.
        const bool scheme =
            g.find("://") != std::string_view::npos && !iequals_ascii(g.substr(0, 8), "https://");
        if (user_info || g.find('#') != std::string_view::npos || scheme) {
            error = "GitHub OIDC request URL must be HTTPS without user info or fragment";
        } else {
            error = "invalid GitHub OIDC request URL";
        }
        return std::nullopt;
    }
    if (!gh.tls || user_info) {
        error = "GitHub OIDC request URL must be HTTPS without user info or fragment";
        return std::nullopt;
    }
    s.github = {gh.host, gh.port};
    s.github_host = host_header(gh);
    std::string target = gh.path_and_query.empty() ? "/" : gh.path_and_query;
    const std::size_t q = target.find('?');
    target += q == std::string::npos ? "?" : (q + 1 == target.size() ? "" : "&");
    s.github_target = target + "audience=" + form_urlencode(audience);

    UpstreamUrl ex;
    if (!parse_upstream_url(token_url, ex, why) || !ex.tls) {
        error = "invalid --oidc-token-url: " + (why.empty() ? "it must be https://" : why);
        return std::nullopt;
    }
    s.exchange = {ex.host, ex.port};
    s.exchange_host = host_header(ex);
    s.exchange_target = ex.path_and_query.empty() ? "/" : ex.path_and_query;
    s.identity_provider_id = identity_provider_id;
    s.service_account_id = service_account_id;
    return s;
}

std::optional<KeyPage> make_exchange_body(std::span<char> github_body,
                                          const std::string& identity_provider_id,
                                          const std::string& service_account_id,
                                          std::string& error) {
    auto fields = parse_flat_json_object(github_body);
    const JsonField* value = fields ? find_field(*fields, "value") : nullptr;
    if (value == nullptr || value->kind != JsonField::Kind::String) {
        error = "GitHub OIDC returned an invalid token response";
        return std::nullopt;
    }
    const std::string_view token = value->value;
    bool printable = !token.empty() && token.size() <= kOidcTokenMax;
    for (char c : token) printable = printable && c >= 0x20 && c <= 0x7e;
    if (!printable) {
        error = "workload identity source returned an invalid subject token";
        return std::nullopt;
    }
    std::string page_error;
    // Escaping at most doubles the token; the rest is small.
    auto page =
        KeyPage::create(page_error, 2 * token.size() + 1024 + identity_provider_id.size() * 6 +
                                        service_account_id.size() * 6);
    if (!page) {
        error = "cannot set up a locked page: " + page_error;
        return std::nullopt;
    }
    PageWriter w{page->writable()};
    w.add("{\"grant_type\":\"");
    w.add(kTokenExchange);
    w.add("\",\"subject_token_type\":\"");
    w.add(kJwtType);
    w.add("\",\"subject_token\":\"");
    for (char c : token) {
        if (c == '"' || c == '\\') w.add("\\");
        w.add(std::string_view(&c, 1));
    }
    w.add("\",\"identity_provider_id\":\"");
    w.add(json_escape(identity_provider_id));
    w.add("\",\"service_account_id\":\"");
    w.add(json_escape(service_account_id));
    w.add("\"}");
    if (!w.ok) {
        error = "OpenAI workload identity exchange request too large";
        return std::nullopt;
    }
    page->set_length(w.used);
    page->seal();
    return page;
}

std::optional<AccessTokenGrant> parse_exchange_response(std::span<char> body, std::int64_t now_unix,
                                                        std::string& error) {
    auto fields = parse_flat_json_object(body);
    const JsonField* access = fields ? find_field(*fields, "access_token") : nullptr;
    const JsonField* type = fields ? find_field(*fields, "token_type") : nullptr;
    const JsonField* issued = fields ? find_field(*fields, "issued_token_type") : nullptr;
    const JsonField* in = fields ? find_field(*fields, "expires_in") : nullptr;
    const JsonField* at = fields ? find_field(*fields, "expires_at") : nullptr;
    const std::optional<std::uint64_t> in_value = in ? json_unsigned(*in) : std::nullopt;
    const std::optional<std::uint64_t> at_value = at ? json_unsigned(*at) : std::nullopt;
    // All five are required, as by the original's response type.
    if (!access || access->kind != JsonField::Kind::String || !type ||
        type->kind != JsonField::Kind::String || !issued ||
        issued->kind != JsonField::Kind::String || !in_value || !at_value) {
        error = "OpenAI workload identity returned an invalid token response";
        return std::nullopt;
    }
    const std::uint64_t expires_in = in_value.value_or(0);
    const std::uint64_t expires_at = at_value.value_or(0);
    if (!iequals_ascii(type->value, "bearer") || issued->value != kAccessTokenType) {
        error = "OpenAI returned an unsupported workload identity token type";
        return std::nullopt;
    }
    if (expires_in == 0 || now_unix < 0 || expires_at <= static_cast<std::uint64_t>(now_unix)) {
        error = "OpenAI returned an expired workload identity token";
        return std::nullopt;
    }
    if (expires_in > kMaxLifetime) {
        error = "OpenAI returned an invalid token lifetime";
        return std::nullopt;
    }
    if (access->value.size() > kOidcTokenMax || !is_bearer_token(access->value)) {
        error = "invalid workload identity bearer credential";
        return std::nullopt;
    }
    // The earlier of the two ends the token (they differ only if a clock is
    // off; the safe reading is the shorter one).
    const std::uint64_t lifetime =
        std::min(expires_in, expires_at - static_cast<std::uint64_t>(now_unix));

    std::string page_error;
    auto page = KeyPage::create(page_error, access->value.size() + 8);
    if (!page) {
        error = "cannot set up a locked page: " + page_error;
        return std::nullopt;
    }
    PageWriter w{page->writable()};
    w.add("Bearer ");
    w.add(access->value);
    page->set_length(w.used);
    if (!page->seal()) {
        error = "cannot make the access token page read-only";
        return std::nullopt;
    }
    return AccessTokenGrant{std::move(*page), std::chrono::seconds(lifetime)};
}

}  // namespace proxy
