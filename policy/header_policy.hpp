// Which header fields cross the proxy, in each direction. Client headers are
// forwarded byte for byte except those listed in header_policy.cpp; the parent
// adds Host, Authorization and body framing of its own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "common/http_types.hpp"
#include "common/options.hpp"
#include "policy/refusal.hpp"

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

// How much of a forwarded header list the limits allow. The client's head is
// limited by --max-headers and --max-header-size as it arrives; what is
// forwarded is that head less the fields the filter drops, plus the fixed
// fields the proxy adds itself, so these limits are the client's plus the
// fixed fields' own share: an honest head within the client's limits always
// fits them.
struct ForwardLimits {
    std::size_t max_fields;
    std::size_t max_bytes;  // summed forwarded_field_bytes()
};
ForwardLimits forward_limits(const Options& opts, const HeaderRules& rules);

// A field's size as "name:value\r\n", the shortest form it can take on the
// wire: a forwarded field is never larger than it was in the client's head.
inline std::size_t forwarded_field_bytes(const Header& h) {
    return h.name.size() + h.value.size() + 3;
}

// Why a forwarded header list is refused: the refusal an honest worker
// answers the client with (it runs this check before it forwards), and the
// reason for the parent's security log (the parent runs it again; a worker
// whose list fails it there broke the protocol).
struct HeaderFault {
    const Refusal* refusal;
    std::string why;
};

// nullopt if `headers` is exactly what filter_request_headers could have
// produced within `limits`, else the fault.
std::optional<HeaderFault> check_forwarded_headers(const HeaderList& headers,
                                                   const HeaderRules& rules,
                                                   const ForwardLimits& limits);

}  // namespace proxy
