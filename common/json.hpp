// The few JSON texts the proxy writes itself: OpenAI-shaped error bodies and
// the --server-info file. Writing only, never parsing; pure functions.
#pragma once

#include <string>
#include <string_view>

namespace proxy {

// The contents of a JSON string literal for `s`, without the enclosing quotes.
// Quote and backslash are escaped, every control character (and DEL) becomes
// \u00XX, valid UTF-8 passes through unchanged, and each ill-formed UTF-8
// sequence (maximal subpart, as in Unicode's "U+FFFD substitution") becomes
// \ufffd, so the output is always valid JSON in pure-ASCII-safe form.
std::string json_escape(std::string_view s);

// {"error":{"message":"...","type":"...","code":"..."}} with no trailing newline:
// the shape of OpenAI API errors, so clients show our refusals like theirs.
std::string json_error_body(std::string_view message, std::string_view type, std::string_view code);

// {"port":N,"pid":P} with no trailing newline, as the original writes to
// --server-info.
std::string json_server_info(unsigned port, long pid);

}  // namespace proxy
