#include "common/json.hpp"

#include <cstddef>

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

// Lead bytes of well-formed UTF-8 (Unicode Table 3-7). The second byte's
// range depends on the lead byte; that is what excludes overlong forms,
// surrogates (U+D800..DFFF) and values above U+10FFFF.
struct Utf8Lead {
    unsigned char first, last;  // lead byte range
    int length;                 // bytes in the sequence
    unsigned char lo, hi;       // allowed range of the second byte
};
constexpr Utf8Lead kUtf8Leads[] = {
    {0xc2, 0xdf, 2, 0x80, 0xbf}, {0xe0, 0xe0, 3, 0xa0, 0xbf}, {0xe1, 0xec, 3, 0x80, 0xbf},
    {0xed, 0xed, 3, 0x80, 0x9f}, {0xee, 0xef, 3, 0x80, 0xbf}, {0xf0, 0xf0, 4, 0x90, 0xbf},
    {0xf1, 0xf3, 4, 0x80, 0xbf}, {0xf4, 0xf4, 4, 0x80, 0x8f},
};

// Length of the well-formed UTF-8 sequence starting at s[i] (2..4), or, when
// it is ill-formed, the negated length of its maximal subpart (at least 1):
// the bytes that one U+FFFD replaces.
int utf8_sequence(std::string_view s, std::size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const Utf8Lead* rule = nullptr;
    for (const auto& r : kUtf8Leads) {
        if (lead >= r.first && lead <= r.last) rule = &r;
    }
    if (rule == nullptr) return -1;  // continuation, C0, C1 or F5..FF: never a lead
    for (int k = 1; k < rule->length; ++k) {
        if (i + static_cast<std::size_t>(k) >= s.size()) return -k;
        const auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
        const bool ok = (k == 1) ? (c >= rule->lo && c <= rule->hi) : is_continuation(c);
        if (!ok) return -k;
    }
    return rule->length;
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
