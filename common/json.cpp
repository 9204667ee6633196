#include "common/json.hpp"

#include <cstddef>

#include "common/utf8.hpp"

namespace proxy {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_u00(std::string& out, unsigned char c) {
    out += "\\u00";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
}

bool is_continuation(unsigned char c) {
    return (c & 0xc0) == 0x80;
}

// Length of the well-formed UTF-8 sequence starting at s[i] (2..4), or, when
// it is ill-formed, the negated length of its maximal subpart (at least 1):
// the bytes that one U+FFFD replaces.
int utf8_sequence(std::string_view s, std::size_t i) {
    const Utf8Lead rule = utf8_lead(static_cast<unsigned char>(s[i]));
    if (rule.continuation == 0) return -1;  // continuation, C0, C1 or F5..FF: never a lead
    const int length = rule.continuation + 1;
    for (int k = 1; k < length; ++k) {
        if (i + static_cast<std::size_t>(k) >= s.size()) return -k;
        const auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
        const bool ok = (k == 1) ? (c >= rule.lo && c <= rule.hi) : is_continuation(c);
        if (!ok) return -k;
    }
    return length;
}

}  // namespace

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else if (c < 0x20 || c == 0x7f) {
                // DEL is legal in JSON but invisible in logs and terminals.
                append_u00(out, c);
            } else {
                out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        const int n = utf8_sequence(s, i);
        if (n > 0) {
            out.append(s.substr(i, static_cast<std::size_t>(n)));
            i += static_cast<std::size_t>(n);
        } else {
            out += "\\ufffd";
            i += static_cast<std::size_t>(-n);
        }
    }
    return out;
}

std::string json_error_body(std::string_view message, std::string_view type,
                            std::string_view code) {
    std::string out = R"({"error":{"message":")";
    out += json_escape(message);
    out += R"(","type":")";
    out += json_escape(type);
    out += R"(","code":")";
    out += json_escape(code);
    out += R"("}})";
    return out;
}

std::string json_server_info(unsigned port, long pid) {
    return "{\"port\":" + std::to_string(port) + ",\"pid\":" + std::to_string(pid) + "}";
}

}  // namespace proxy
