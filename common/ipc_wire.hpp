// The byte-level helpers of the IPC codec that common/ipc.cpp (the header,
// the type table) and common/ipc_payloads.cpp (each message's payload) share.
// Little-endian, bounds-checked; internal to the codec.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/ipc.hpp"

namespace proxy::ipc::wire {

inline void put_u8(std::string& out, std::uint8_t v) {
    out.push_back(static_cast<char>(v));
}
inline void put_u16(std::string& out, std::uint16_t v) {
    put_u8(out, static_cast<std::uint8_t>(v));
    put_u8(out, static_cast<std::uint8_t>(v >> 8));
}
inline void put_u32(std::string& out, std::uint32_t v) {
    put_u16(out, static_cast<std::uint16_t>(v));
    put_u16(out, static_cast<std::uint16_t>(v >> 16));
}
inline void put_u64(std::string& out, std::uint64_t v) {
    put_u32(out, static_cast<std::uint32_t>(v));
    put_u32(out, static_cast<std::uint32_t>(v >> 32));
}

// Bounds-checked little-endian reader; any overrun sets `ok` false for good.
struct Reader {
    std::string_view in;
    bool ok = true;

    bool take(std::size_t n, std::string_view& out) {
        if (!ok || in.size() < n) return ok = false;
        out = in.substr(0, n);
        in.remove_prefix(n);
        return true;
    }
    std::uint64_t uint(std::size_t bytes) {
        std::string_view b;
        if (!take(bytes, b)) return 0;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes; ++i) {
            v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
        }
        return v;
    }
    bool done() const { return ok && in.empty(); }
};

// The bytes put_headers appends, so an encoder allocates once.
inline std::size_t headers_size(const HeaderList& headers) {
    std::size_t n = 2;
    for (const auto& h : headers) n += 6 + h.name.size() + h.value.size();
    return n;
}

inline void put_headers(std::string& out, const HeaderList& headers) {
    put_u16(out, static_cast<std::uint16_t>(headers.size()));
    for (const auto& h : headers) {
        put_u16(out, static_cast<std::uint16_t>(h.name.size()));
        out.append(h.name);
        put_u32(out, static_cast<std::uint32_t>(h.value.size()));
        out.append(h.value);
    }
}

inline bool get_headers(Reader& r, HeaderList& headers) {
    auto count = r.uint(2);
    // Each header needs at least 6 bytes of lengths: a count the payload
    // cannot hold is refused before anything is reserved.
    if (!r.ok || count * 6 > r.in.size()) return false;
    headers.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        std::string_view name, value;
        auto nlen = r.uint(2);
        if (!r.take(nlen, name)) return false;
        auto vlen = r.uint(4);
        if (!r.take(vlen, value)) return false;
        headers.push_back({std::string(name), std::string(value)});
    }
    return r.ok;
}

// What follows a typed start: under kFlagBody the body bytes (at least one),
// otherwise nothing.
inline bool take_body(Reader& r, std::uint16_t flags, std::string_view& body) {
    body = {};
    if (!r.ok) return false;
    if ((flags & kFlagBody) == 0) return r.in.empty();
    if (r.in.empty()) return false;
    body = r.in;
    return true;
}

inline bool framing_ok(std::uint64_t f) {
    return f <= static_cast<std::uint64_t>(BodyFraming::UntilClose);
}

inline bool fits_u16_lengths(const HeaderList& headers) {
    if (headers.size() > 0xffff) return false;
    for (const auto& h : headers) {
        if (h.name.size() > 0xffff || h.value.size() > 0xffffffffu) return false;
    }
    return true;
}

}  // namespace proxy::ipc::wire
