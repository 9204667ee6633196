// The hot loop of common/json_object_scanner.cpp: inside a JSON string, find
// the next byte that needs a look (a quote, a backslash, a control character
// or the start of a UTF-8 sequence). Most of a request body is string
// content, so this runs 16 bytes a step with SSE2 (every x86-64 has it), or
// 8 with plain 64-bit arithmetic elsewhere, instead of a state machine step
// per byte.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace proxy::json_detail {

inline bool is_special(unsigned char c) {
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

// Byte by byte: the reference the fast versions are tested against.
inline const char* find_special_bytewise(const char* p, const char* end) {
    while (p < end && !is_special(static_cast<unsigned char>(*p))) ++p;
    return p;
}

// Eight bytes a step, with the usual "has a zero byte" and "has a byte less
// than n" tricks. Each can also flag a byte above one it rightly flags (a
// borrow runs upward), never below, so the lowest flagged byte is exact.
inline const char* find_special_swar(const char* p, const char* end) {
    if constexpr (std::endian::native == std::endian::little) {
        constexpr std::uint64_t kOnes = 0x0101010101010101ull;
        constexpr std::uint64_t kHigh = 0x8080808080808080ull;
        while (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            const std::uint64_t quote = w ^ (kOnes * '"');
            const std::uint64_t backslash = w ^ (kOnes * '\\');
            const std::uint64_t hits = ((quote - kOnes) & ~quote) |
                                       ((backslash - kOnes) & ~backslash) |
                                       ((w - kOnes * 0x20) & ~w) |  // < 0x20
                                       w;                           // >= 0x80
            if ((hits & kHigh) != 0) return p + std::countr_zero(hits & kHigh) / 8;
            p += 8;
        }
    }
    return find_special_bytewise(p, end);
}

inline const char* find_special(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed: bytes from 0x80 up are negative, so "< 0x20" flags them too.
        const __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space));
        const int mask = _mm_movemask_epi8(hit);
        if (mask != 0) return p + std::countr_zero(static_cast<unsigned>(mask));
        p += 16;
    }
#endif
    return find_special_swar(p, end);
}

}  // namespace proxy::json_detail
