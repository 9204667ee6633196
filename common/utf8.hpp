// Well-formed UTF-8 (Unicode Table 3-7), for the two JSON readers
// (common/json.cpp, common/json_object_scanner_feed.cpp).
#pragma once

#include <cstdint>

namespace proxy {

// What a lead byte allows: how many continuation bytes follow, and the range
// of the second byte, which is what excludes overlong forms, surrogates
// (U+D800..DFFF) and values above U+10FFFF; the others are 0x80..0xbf.
struct Utf8Lead {
    std::uint8_t continuation;  // bytes after the lead; 0: not a lead byte
    unsigned char lo, hi;       // the second byte's range
};
constexpr Utf8Lead utf8_lead(unsigned char c) {
    if (c < 0xc2 || c > 0xf4) return {0, 0, 0};  // ASCII, continuation, overlong, too high
    if (c <= 0xdf) return {1, 0x80, 0xbf};
    if (c == 0xe0) return {2, 0xa0, 0xbf};
    if (c == 0xed) return {2, 0x80, 0x9f};
    if (c <= 0xef) return {2, 0x80, 0xbf};
    if (c == 0xf0) return {3, 0x90, 0xbf};
    if (c == 0xf4) return {3, 0x80, 0x8f};
    return {3, 0x80, 0xbf};
}

}  // namespace proxy
