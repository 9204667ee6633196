// Which header fields cross the proxy, in each direction. Client headers are
// forwarded byte for byte except those listed in header_policy.cpp; the parent
// adds Host, Authorization and body framing of its own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "common/http_types.hpp"
#include "common/options.hpp"

namespace proxy {

struct HeaderRules {
    std::string fixed_organization;  // --openai-organization; empty: none sent
    std::string fixed_project;       // --openai-project; empty: none sent
};

HeaderRules make_header_rules(const Options& opts);

// Client request headers -> upstream request headers (worker side). Drops
// hop-by-hop fields, fields named in Connection, and the denied fields; then
// appends the fixed OpenAI-Organization / OpenAI-Project when configured.
// Order, names and values of what remains are untouched.
HeaderList filter_request_headers(const HeaderList& in, const HeaderRules& rules);

// Upstream response headers -> client response headers. Drops hop-by-hop
// fields, fields named in Connection, and Content-Length (the worker frames
// the body toward the client itself).
HeaderList filter_response_headers(const HeaderList& in);

// The parent's re-check of a header list from a worker that may be
// compromised: nullopt if it is exactly what filter_request_headers could
// have produced within the limits, else the reason (for the security log).
// max_bytes counts each field as "name: value\r\n".
std::optional<std::string> check_forwarded_headers(const HeaderList& headers,
                                                   const HeaderRules& rules,
                                                   std::size_t max_headers, std::size_t max_bytes);

}  // namespace proxy
