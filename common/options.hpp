// Command-line options of the proxy (parent and worker share one parser;
// the worker is started with the same non-secret options plus --worker-mode).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace proxy {

struct Options {
    // --- flags of the original proxy ---
    std::optional<std::uint16_t> port;  // --port N (0 or absent: ephemeral)
    std::string server_info;            // --server-info FILE
    bool http_shutdown = false;         // --http-shutdown
    std::string upstream_url = "https://api.openai.com/v1/responses";  // --upstream-url URL
    std::string dump_dir;                                              // --dump-dir DIR
    // --github-oidc: stdin holds a GitHub Actions OIDC request token, and the
    // parent exchanges GitHub's ID token for OpenAI access tokens (README).
    bool github_oidc = false;             // --github-oidc
    std::string oidc_audience;            // --oidc-audience AUDIENCE
    std::string identity_provider_id;     // --identity-provider-id ID
    std::string service_account_id;       // --service-account-id ID
    std::string github_oidc_request_url;  // --github-oidc-request-url URL

    // --- ours ---
    std::string upstream_ca_file;          // --upstream-ca-file FILE (replaces system store)
    bool allow_insecure_upstream = false;  // --allow-insecure-upstream: permit http:// (tests)
    std::string worker_user = "nobody";    // --worker-user NAME
    std::string chroot_dir = "/run/codex-responses-api-proxy/empty";  // --chroot-dir DIR
    unsigned workers = 1;                                             // --workers N
    // --upstream-threads N: event loops in the parent for upstream I/O
    // (0: one per worker, at most one per core)
    unsigned upstream_threads = 0;
    std::vector<std::string> allowed_hosts;  // --allow-host NAME (extra Host names we answer to)
    std::string openai_organization;  // --openai-organization VALUE (fixed, replaces client's)
    std::string openai_project;       // --openai-project VALUE
    std::string key_file;             // --key-file FILE (instead of stdin; systemd credential)
    // --oidc-token-url URL: OpenAI's token exchange endpoint (staging, tests)
    std::string oidc_token_url = "https://auth.openai.com/oauth/token";

    // --- per-user policy (policy/user_policy.hpp; README "Per-user policy") ---
    std::vector<std::string> allow_users;            // --allow-user NAME|UID (repeatable)
    std::vector<std::string> allow_groups;           // --allow-group NAME|GID (repeatable)
    std::vector<std::string> metrics_allow_users;    // --metrics-allow-user NAME|UID
    std::vector<std::string> metrics_allow_groups;   // --metrics-allow-group NAME|GID
    std::uint32_t max_streams_per_user = 0;          // --max-streams-per-user N (0: unlimited)
    std::uint32_t requests_per_minute_per_user = 0;  // --requests-per-minute-per-user N
    std::uint64_t tokens_per_day_per_user = 0;       // --tokens-per-day-per-user N
    std::uint64_t tokens_per_minute_per_user = 0;    // --tokens-per-minute-per-user N
    std::uint64_t dollars_per_day_per_user = 0;    // --dollars-per-day-per-user USD, micro-dollars
    std::uint64_t dollars_per_month_per_user = 0;  // --dollars-per-month-per-user USD
    std::string budget_timezone;                   // --budget-timezone ZONE ("": local)
    std::string policy_file;                       // --policy FILE (TOML)
    std::string check_policy;                      // --check-policy FILE: validate and exit
    std::string state_file;                        // --state-file FILE: today's usage
    std::string audit_log;                         // --audit-log FILE: JSON lines
    bool usage_report = false;                     // --usage: print the state file's table
    std::string listen_unix;                       // --listen-unix PATH
    unsigned listen_unix_mode = 0666;              // --listen-unix-mode OCTAL
    std::string listen_unix_group;                 // --listen-unix-group NAME|GID
    // Request bodies (policy/body_rules.hpp): the base the policy file overrides.
    std::vector<std::string> allow_models;    // --allow-model PATTERN (repeatable)
    std::uint64_t max_output_tokens = 0;      // --max-output-tokens N (0: no cap)
    std::string response_ownership = "auto";  // --response-ownership auto|on|off
    // --upstream-proxy URL|none: overrides HTTPS_PROXY / ALL_PROXY / NO_PROXY
    // (common/proxy_config.hpp). Never passed to workers: it may hold a password.
    std::string upstream_proxy;
    std::string upstream_proxy_credentials_file;  // --upstream-proxy-credentials-file FILE

    // limits and timeouts (seconds / bytes); defaults documented in README + man page
    unsigned header_timeout_s = 30;              // --header-timeout
    unsigned body_timeout_s = 60;                // --body-timeout (idle, per read)
    unsigned upstream_connect_timeout_s = 10;    // --upstream-connect-timeout
    unsigned upstream_idle_timeout_s = 300;      // --upstream-idle-timeout (no byte from upstream)
    unsigned keepalive_timeout_s = 75;           // --keepalive-timeout (idle client connection)
    unsigned shutdown_timeout_s = 30;            // --shutdown-timeout (drain on SIGTERM)
    std::uint64_t max_body_bytes = 64ull << 20;  // --max-body-size
    std::uint32_t max_header_bytes = 32u << 10;  // --max-header-size
    std::uint32_t max_headers = 100;             // --max-headers
    std::uint32_t max_connections = 4096;        // --max-connections (per worker)

    // --- internal ---
    bool verbose = false;        // --verbose: debug log lines
    bool worker_mode = false;    // --worker-mode (set by the parent only)
    unsigned worker_id = 0;      // --worker-id N
    std::string worker_version;  // --worker-version V: the parent's PROXY_VERSION
};

// Parsed upstream URL: https://host[:port]/path?query
struct UpstreamUrl {
    bool tls = true;
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 443;
    std::string host_header;     // host[:port] exactly as in the URL
    std::string path_and_query;  // "/v1/responses" (+ "?..." if given)
};

}  // namespace proxy
