// The route to the upstream, decided once at start: direct, or through an
// HTTP proxy asked to CONNECT (--upstream-proxy, else the environment as
// reqwest reads it; common/proxy_config.hpp). The upstream host never
// changes, so NO_PROXY is decided here once, not per connection.
#pragma once

#include <optional>
#include <string>

#include "common/options.hpp"
#include "common/proxy_config.hpp"
#include "common/result.hpp"

namespace proxy {

struct UpstreamProxyRoute {
    std::string host;  // the proxy's, connected to instead of the upstream's
    std::uint16_t port = 0;
    std::string display;  // http://host:port, never with credentials
    std::string source;   // "--upstream-proxy", "HTTPS_PROXY", ...
    bool authenticated = false;
    // The whole CONNECT request head, with Proxy-Authorization when there
    // are credentials: sent to the proxy only, never logged.
    std::string connect_request;
};

struct RouteChoice {
    std::optional<UpstreamProxyRoute> proxy;  // nullopt: direct
    std::string note;                         // one line for the start-up log
};

// An error (one line, no password) when the configuration cannot work: a
// proxy URL of an unsupported kind, an unreadable credentials file.
Result<RouteChoice> choose_upstream_route(const Options& options, const ProxyEnvironment& env,
                                          const UpstreamUrl& upstream);

// "CONNECT host:port HTTP/1.1" with Host and, given user, Basic
// Proxy-Authorization (RFC 9110 9.3.6, RFC 7617).
std::string connect_request_head(const UpstreamUrl& upstream, const std::string& user,
                                 const std::string& password, bool with_credentials);

}  // namespace proxy
