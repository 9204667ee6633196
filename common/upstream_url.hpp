// Parses --upstream-url into the pieces the parent needs to connect and to
// write the request line and Host header. Strict on purpose: the URL comes
// from the operator, and anything odd in it is more likely a mistake than a
// need.
#pragma once

#include <string>
#include <string_view>

#include "common/options.hpp"

namespace proxy {

// http(s)://host[:port][/path][?query]. host is a reg-name, an IPv4 address
// or a bracketed IPv6 address (no zone id). Refuses userinfo, fragments, an
// empty host or port, port 0, spaces, controls and non-ASCII bytes. Whether
// http:// is allowed is the caller's decision (see UpstreamUrl::tls).
bool parse_upstream_url(std::string_view url, UpstreamUrl& out, std::string& error);

}  // namespace proxy
