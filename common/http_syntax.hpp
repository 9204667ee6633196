// RFC 9110/9112 character classes and small grammar helpers. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/http_types.hpp"

namespace proxy::http {

bool is_tchar(unsigned char c);
// token = 1*tchar (header names, methods, transfer codings)
bool is_token(std::string_view s);
// A field value after OWS trimming: VCHAR, obs-text, SP, HTAB; no CR, LF, NUL
// or other controls.
bool is_field_value(std::string_view s);
std::string_view trim_ows(std::string_view s);
// 1*DIGIT without sign or whitespace, no overflow past 2^63.
std::optional<std::uint64_t> parse_decimal(std::string_view s);
// Does a comma-separated header list (every header named `name`) contain
// `token` (case-insensitive)? e.g. Connection: keep-alive, Upgrade
bool list_contains_token(const HeaderList& headers, std::string_view name, std::string_view token);

}  // namespace proxy::http
