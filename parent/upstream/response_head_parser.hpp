// HTTP/1.1 response head parser for the upstream side (RFC 9112). Pure: no
// I/O. The parent needs only the framing: where the response body ends and
// whether the upstream connection may be reused afterwards.
#pragma once

#include <optional>
#include <string_view>

#include "common/http_error.hpp"
#include "common/http_head.hpp"
#include "common/http_types.hpp"

namespace proxy {

using http::find_head_end;

// Parses `block`, the complete head including its final CRLFCRLF, into `out`.
// Every refusal is {502, "upstream_protocol_error", <what was wrong>}; `out` is
// then partially filled and must not be used. The caller knows the request
// (always POST here), so HEAD and CONNECT special cases do not arise.
std::optional<HttpError> parse_response_head(std::string_view block, const HeadLimits& limits,
                                             ResponseHead& out);

}  // namespace proxy
