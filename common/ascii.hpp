// Character classes shared by the parsers (HTTP, JSON, URLs), in the C
// locale whatever the process's: no <cctype>.
#pragma once

namespace proxy {

// 0..15 for an ASCII hex digit of either case, -1 for anything else.
constexpr int hex_digit_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// JSON's whitespace (RFC 8259): space, tab, LF, CR.
constexpr bool is_json_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace proxy
