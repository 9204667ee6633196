// Strict HTTP/1.1 request head parser (RFC 9112). Pure: no I/O. The worker
// finds the head with http::find_head_end, refuses over-long heads with 431
// itself, and hands the complete block here.
#pragma once

#include <optional>
#include <string_view>

#include "common/http_error.hpp"
#include "common/http_head.hpp"
#include "common/http_types.hpp"

namespace proxy {

using http::find_head_end;

// Parses `block`, the complete head including its final CRLFCRLF, into `out`.
// Returns the refusal (400, 417, 431 or 505) when the head is not acceptable;
// `out` is then partially filled and must not be used.
std::optional<HttpError> parse_request_head(std::string_view block, const HeadLimits& limits,
                                            RequestHead& out);

}  // namespace proxy
