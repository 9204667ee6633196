// Which HTTP proxy, if any, the parent tunnels to the upstream through: the
// --upstream-proxy URL, or the environment as the original proxy's HTTP
// client (Rust reqwest) reads it: HTTPS_PROXY / https_proxy for an https
// upstream, ALL_PROXY / all_proxy as a fallback, NO_PROXY / no_proxy to go
// direct. Pure functions; the environment is captured once at start.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace proxy {

// http://[user[:password]@]host[:port][/]; "host:port" alone means http://.
struct ProxyUrl {
    std::string host;  // without brackets for IPv6
    std::uint16_t port = 80;
    bool has_credentials = false;
    std::string user, password;  // percent-decoded
    // http://host:port, never with credentials: what log lines may show.
    std::string display() const;
};

// Only plain http:// proxies (with CONNECT) are supported; https:// and
// socks proxies are refused with a message saying so.
bool parse_proxy_url(std::string_view text, ProxyUrl& out, std::string& error);

// The proxy variables as they were at start, before the environment was
// scrubbed. Empty values count as unset, as in reqwest.
struct ProxyEnvironment {
    std::string proxy;      // the value of proxy_var
    std::string proxy_var;  // "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy" or ""
    std::string no_proxy;
    std::string no_proxy_var;  // "NO_PROXY", "no_proxy" or ""
};
using GetEnv = const char* (*)(const char* name);
ProxyEnvironment read_proxy_environment(GetEnv getenv_fn);
// The variables read_proxy_environment looks at (start-up removes them).
bool is_proxy_variable(std::string_view name);

// NO_PROXY: a comma list of "*", IP addresses, CIDR networks and domain
// names ("example.com" and ".example.com" both match example.com and its
// subdomains). host is an upstream host (IPv6 with or without brackets).
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

}  // namespace proxy
