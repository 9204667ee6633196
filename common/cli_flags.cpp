// The flag table and its templated value parsers (text, dollars, header
// values, user names); the other shaped values are in common/cli_apply.cpp.
#include "common/cli_flags.hpp"

#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "common/cli_apply.hpp"
#include "common/cli_values.hpp"
#include "common/dollars.hpp"

namespace proxy::cli {

namespace {

using namespace values;

template <auto M>
bool apply_text(Options& o, std::string_view v, std::string& expected) {
    if (!is_plain_text(v)) {
        expected = "a non-empty value without control characters";
        return false;
    }
    o.*M = std::string(v);
    return true;
}

template <auto M>
std::string show_text(const Options& o) {
    return o.*M;
}

// Dollars as prices are written (2.50), held as micro-dollars (common/dollars.hpp).
template <auto M>
bool apply_dollars(Options& o, std::string_view v, std::string& expected) {
    const auto amount = parse_dollars(v);
    if (!amount || *amount > kMaxMicroDollars) {
        expected = "dollars, at most 6 decimals (2.50; 0: unlimited)";
        return false;
    }
    o.*M = *amount;
    return true;
}

template <auto M>
std::string show_dollars(const Options& o) {
    return dollars_text(o.*M);
}

// Sent upstream as a header value: visible ASCII and inner spaces only.
template <auto M>
bool apply_header_value(Options& o, std::string_view v, std::string& expected) {
    bool ok = !v.empty() && v.front() != ' ' && v.back() != ' ';
    for (char c : v) ok = ok && c >= 0x20 && c <= 0x7e;
    if (!ok) {
        expected = "printable ASCII without leading or trailing spaces";
        return false;
    }
    o.*M = std::string(v);
    return true;
}

// A user or group name, or a numeric id; resolved by the parent at start.
template <auto M>
bool apply_name(Options& o, std::string_view v, std::string& expected) {
    bool ok = !v.empty() && v.size() <= 64;
    for (char c : v) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '$');
    }
    if (!ok) {
        expected = "a user or group name, or a numeric id";
        return false;
    }
    (o.*M).emplace_back(v);
    return true;
}

std::string show_unused(const Options&) {
    return "";
}

// clang-format off
const FlagSpec kFlags[] = {
    // The original proxy's flags.
    {"--port", "N", "port to listen on at 127.0.0.1", nullptr,
     apply_port, show_port, "ephemeral"},
    {"--server-info", "FILE", "write {\"port\":N,\"pid\":P} here once listening", nullptr,
     apply_text<&Options::server_info>, show_text<&Options::server_info>, "none"},
    {"--http-shutdown", nullptr, "answer GET /shutdown by exiting", &Options::http_shutdown,
     nullptr, nullptr, "off"},
    {"--upstream-url", "URL", "where requests are forwarded", nullptr,
     apply_text<&Options::upstream_url>, show_text<&Options::upstream_url>, nullptr},
    {"--dump-dir", "DIR", "write request/response dumps here (no key)", nullptr,
     apply_text<&Options::dump_dir>, show_text<&Options::dump_dir>, "none"},
    // --github-oidc and its four companions: all five or none (check_github_oidc_flags).
    // Workers never need them.
    {"--github-oidc", nullptr, "stdin holds a GitHub Actions OIDC request token, not an API key",
     &Options::github_oidc, nullptr, nullptr, "off", false, false},
    {"--oidc-audience", "AUDIENCE", "audience configured on the OpenAI workload identity provider",
     nullptr, apply_text<&Options::oidc_audience>, show_text<&Options::oidc_audience>, "none",
     false, false},
    {"--identity-provider-id", "ID", "OpenAI workload identity provider ID", nullptr,
     apply_text<&Options::identity_provider_id>, show_text<&Options::identity_provider_id>,
     "none", false, false},
    {"--service-account-id", "ID", "OpenAI service account ID selected by the provider mapping",
     nullptr, apply_text<&Options::service_account_id>, show_text<&Options::service_account_id>,
     "none", false, false},
    {"--github-oidc-request-url", "URL", "HTTPS token-request URL: the runner's ACTIONS_ID_TOKEN_REQUEST_URL",
     nullptr, apply_text<&Options::github_oidc_request_url>,
     show_text<&Options::github_oidc_request_url>, "none", false, false},
    // Ours.
    {"--upstream-ca-file", "FILE", "trust only these CAs for the upstream", nullptr,
     apply_text<&Options::upstream_ca_file>, show_text<&Options::upstream_ca_file>,
     "system store"},
    {"--allow-insecure-upstream", nullptr, "permit an http:// upstream (tests only)",
     &Options::allow_insecure_upstream, nullptr, nullptr, "off"},
    {"--worker-user", "NAME", "unprivileged user for workers started as root", nullptr,
     apply_text<&Options::worker_user>, show_text<&Options::worker_user>, nullptr},
    {"--chroot-dir", "DIR", "empty directory workers chroot into", nullptr,
     apply_chroot_dir, show_text<&Options::chroot_dir>, nullptr},
    {"--workers", "N", "worker processes (1-64)", nullptr,
     apply_number<&Options::workers, 1, 64>, show_number<&Options::workers>, nullptr},
    {"--upstream-threads", "N", "parent threads doing upstream I/O (1-64)", nullptr,
     apply_number<&Options::upstream_threads, 1, 64>, show_number_or_unset<&Options::upstream_threads>,
     "one per worker, at most one per core", false, false},
    {"--allow-host", "NAME[:PORT]", "also answer to this Host: NAME with our port, NAME:PORT with that one (repeatable)", nullptr,
     apply_allow_host, show_unused, "loopback names only", true},
    {"--openai-organization", "VALUE", "send this OpenAI-Organization upstream", nullptr,
     apply_header_value<&Options::openai_organization>,
     show_text<&Options::openai_organization>, "none"},
    {"--openai-project", "VALUE", "send this OpenAI-Project upstream", nullptr,
     apply_header_value<&Options::openai_project>, show_text<&Options::openai_project>,
     "none"},
    {"--key-file", "FILE", "read the key from FILE instead of stdin; SIGHUP reads it again "
     "(key rotation)", nullptr,
     apply_text<&Options::key_file>, show_text<&Options::key_file>, "stdin", false, false},
    {"--oidc-token-url", "URL", "OpenAI's token exchange endpoint for --github-oidc", nullptr,
     apply_text<&Options::oidc_token_url>, show_text<&Options::oidc_token_url>, nullptr, false,
     false},
    {"--upstream-proxy", "URL", "reach the upstream through this HTTP proxy (CONNECT); none: go direct", nullptr,
     apply_upstream_proxy, show_unused, "HTTPS_PROXY, ALL_PROXY, NO_PROXY", false, false, true},
    {"--upstream-proxy-credentials-file", "FILE", "USER:PASSWORD for the proxy's Basic authentication", nullptr,
     apply_text<&Options::upstream_proxy_credentials_file>,
     show_text<&Options::upstream_proxy_credentials_file>, "none", false, false},
    {"--header-timeout", "S", "seconds to receive a request head (1-86400)", nullptr,
     apply_number<&Options::header_timeout_s, 1, kDay>,
     show_number<&Options::header_timeout_s>, nullptr},
    {"--body-timeout", "S", "idle seconds between body reads (1-86400)", nullptr,
     apply_number<&Options::body_timeout_s, 1, kDay>,
     show_number<&Options::body_timeout_s>, nullptr},
    {"--upstream-connect-timeout", "S", "seconds to connect to the upstream (1-86400)", nullptr,
     apply_number<&Options::upstream_connect_timeout_s, 1, kDay>,
     show_number<&Options::upstream_connect_timeout_s>, nullptr},
    {"--upstream-idle-timeout", "S", "idle seconds waiting for the upstream (1-86400)", nullptr,
     apply_number<&Options::upstream_idle_timeout_s, 1, kDay>,
     show_number<&Options::upstream_idle_timeout_s>, nullptr},
    {"--keepalive-timeout", "S", "idle seconds on a kept-alive client connection (1-86400)",
     nullptr, apply_number<&Options::keepalive_timeout_s, 1, kDay>,
     show_number<&Options::keepalive_timeout_s>, nullptr},
    {"--shutdown-timeout", "S", "seconds to drain open requests on SIGTERM (1-86400)", nullptr,
     apply_number<&Options::shutdown_timeout_s, 1, kDay>,
     show_number<&Options::shutdown_timeout_s>, nullptr},
    {"--max-body-size", "BYTES", "largest request body (1-4G, suffixes K, M, G)", nullptr,
     apply_size<&Options::max_body_bytes, 1, 4 * GiB>, show_size<&Options::max_body_bytes>,
     nullptr},
    {"--max-header-size", "BYTES", "largest request head (1K-1M)", nullptr,
     apply_size<&Options::max_header_bytes, KiB, MiB>, show_size<&Options::max_header_bytes>,
     nullptr},
    {"--max-headers", "N", "most request header fields (1-1000)", nullptr,
     apply_number<&Options::max_headers, 1, 1000>, show_number<&Options::max_headers>, nullptr},
    {"--max-connections", "N", "open client connections per worker (1-1000000)", nullptr,
     apply_number<&Options::max_connections, 1, 1000000>,
     show_number<&Options::max_connections>, nullptr},
    // Per-user policy (parent only).
    {"--allow-user", "NAME|UID", "only these users may use the proxy (repeatable)", nullptr,
     apply_name<&Options::allow_users>, show_unused, "everyone", true, false},
    {"--allow-group", "NAME|GID", "members of these groups may use the proxy (repeatable)", nullptr,
     apply_name<&Options::allow_groups>, show_unused, "everyone", true, false},
    {"--metrics-allow-user", "NAME|UID", "this user may read GET /metrics too (repeatable)",
     nullptr, apply_name<&Options::metrics_allow_users>, show_unused, "root only", true, false},
    {"--metrics-allow-group", "NAME|GID", "members of this group may read GET /metrics too "
     "(repeatable)", nullptr, apply_name<&Options::metrics_allow_groups>, show_unused,
     "root only", true, false},
    {"--max-streams-per-user", "N", "concurrent streams per user (0: unlimited)", nullptr,
     apply_number<&Options::max_streams_per_user, 0, UINT32_MAX>,
     show_number<&Options::max_streams_per_user>, nullptr, false, false},
    {"--requests-per-minute-per-user", "N", "requests per minute per user (0: unlimited)", nullptr,
     apply_number<&Options::requests_per_minute_per_user, 0, UINT32_MAX>,
     show_number<&Options::requests_per_minute_per_user>, nullptr, false, false},
    {"--tokens-per-day-per-user", "N", "tokens (in + out) per day per user (0: unlimited)", nullptr,
     apply_number<&Options::tokens_per_day_per_user, 0, UINT64_MAX>,
     show_number<&Options::tokens_per_day_per_user>, nullptr, false, false},
    {"--allow-model", "PATTERN", "only these models: a name, or a prefix ending in '*' "
     "(repeatable)", nullptr, apply_allow_model, show_unused, "any model", true, false},
    {"--max-output-tokens", "N", "cap max_output_tokens per request; added where a request sets "
     "none (0: no cap)", nullptr,
     apply_number<&Options::max_output_tokens, 0, UINT64_MAX>,
     show_number<&Options::max_output_tokens>, nullptr, false, false},
    {"--response-ownership", "WHEN", "refuse previous_response_id of responses another user "
     "created: auto (with a per-user policy admitting more than one user), on, off", nullptr,
     apply_response_ownership, show_text<&Options::response_ownership>, nullptr, false, false},
    {"--tokens-per-minute-per-user", "N", "tokens (in + out) per minute per user, charged as "
     "answers end (0: unlimited)", nullptr,
     apply_number<&Options::tokens_per_minute_per_user, 0, UINT64_MAX>,
     show_number<&Options::tokens_per_minute_per_user>, nullptr, false, false},
    {"--dollars-per-day-per-user", "USD", "spend per day per user, priced by the policy's "
     "[prices] (0: unlimited)", nullptr,
     apply_dollars<&Options::dollars_per_day_per_user>,
     show_dollars<&Options::dollars_per_day_per_user>, nullptr, false, false},
    {"--dollars-per-month-per-user", "USD", "spend per calendar month per user (0: unlimited)",
     nullptr, apply_dollars<&Options::dollars_per_month_per_user>,
     show_dollars<&Options::dollars_per_month_per_user>, nullptr, false, false},
    {"--budget-timezone", "ZONE", "the zone whose days, ISO weeks and months budgets count in "
     "(the policy's timezone overrides it)", nullptr,
     apply_zone_name, show_text<&Options::budget_timezone>, "the system's local zone", false,
     false},
    {"--policy", "FILE", "per-user and per-group rules (TOML, root's or ours, writable by no one "
     "else); SIGHUP re-reads it", nullptr,
     apply_text<&Options::policy_file>, show_text<&Options::policy_file>, "none", false, false},
    {"--check-policy", "FILE", "validate a policy file and exit (0 valid, 9 not)", nullptr,
     apply_text<&Options::check_policy>, show_text<&Options::check_policy>, "none", false, false},
    {"--state-file", "FILE", "keep every budget period's per-user usage here across restarts (root's or ours, "
     "writable by no one else)", nullptr,
     apply_text<&Options::state_file>, show_text<&Options::state_file>, "none", false, false},
    {"--audit-log", "FILE", "also write audit lines here as JSON (reopened on SIGHUP)", nullptr,
     apply_text<&Options::audit_log>, show_text<&Options::audit_log>, "stderr only", false, false},
    {"--usage", nullptr, "print the per-user usage of every period in --state-file and exit",
     &Options::usage_report, nullptr, nullptr, "off", false, false},
    {"--listen-unix", "PATH", "also listen on this unix socket (peer uid by SO_PEERCRED; its "
     "directory root's or ours, not writable by others unless sticky)", nullptr,
     apply_unix_path, show_text<&Options::listen_unix>, "none"},
    {"--listen-unix-mode", "MODE", "permissions of the unix socket (octal)", nullptr,
     apply_unix_mode, show_unix_mode, nullptr, false, false},
    {"--listen-unix-group", "NAME|GID", "group of the unix socket", nullptr,
     apply_text<&Options::listen_unix_group>, show_text<&Options::listen_unix_group>, "ours",
     false, false},
    {"--verbose", nullptr, "log debug lines", &Options::verbose, nullptr, nullptr, "off"},
    // Internal: set by the parent when it starts a worker.
    {"--worker-mode", nullptr, "(internal) run as a worker", &Options::worker_mode, nullptr,
     nullptr, "off", false, false},
    {"--worker-id", "N", "(internal) this worker's number", nullptr,
     apply_number<&Options::worker_id, 0, UINT32_MAX>, show_number<&Options::worker_id>,
     nullptr, false, false},
    {"--worker-version", "V", "(internal) the parent's version, which the worker must match",
     nullptr, apply_text<&Options::worker_version>, show_text<&Options::worker_version>,
     nullptr, false, false},
};
// clang-format on

}  // namespace

std::span<const FlagSpec> flags() {
    return kFlags;
}

const FlagSpec* find_flag(std::string_view name) {
    for (const FlagSpec& f : kFlags) {
        if (name == f.name) return &f;
    }
    return nullptr;
}

}  // namespace proxy::cli
