// The payload of each IPC message, encoded and decoded (common/ipc.hpp);
// the datagram header and the type table are in common/ipc.cpp.
#include <cstring>

#include "common/ipc.hpp"
#include "common/ipc_wire.hpp"

namespace proxy::ipc {

using namespace wire;

std::string encode_req_open(const ReqOpen& r) {
    std::string out;
    if (!fits_u16_lengths(r.headers)) return out;
    out.reserve(13 + headers_size(r.headers));
    put_u32(out, r.conn);
    put_u8(out, static_cast<std::uint8_t>(r.framing));
    put_u64(out, r.content_length);
    put_headers(out, r.headers);
    return out;
}

std::optional<ReqOpen> decode_req_open(std::string_view payload) {
    std::string_view body;
    return decode_req_open(payload, 0, body);
}

std::optional<ReqOpen> decode_req_open(std::string_view payload, std::uint16_t flags,
                                       std::string_view& body) {
    Reader r{payload};
    ReqOpen o;
    o.conn = static_cast<std::uint32_t>(r.uint(4));
    auto framing = r.uint(1);
    if (!r.ok || !framing_ok(framing)) return std::nullopt;
    o.framing = static_cast<BodyFraming>(framing);
    o.content_length = r.uint(8);
    if (!get_headers(r, o.headers) || !take_body(r, flags, body)) return std::nullopt;
    return o;
}

std::string encode_resp_head(const RespHead& s) {
    std::string out;
    if (!fits_u16_lengths(s.headers)) return out;
    out.reserve(11 + headers_size(s.headers));
    put_u16(out, s.status);
    put_u8(out, static_cast<std::uint8_t>(s.framing));
    put_u64(out, s.content_length);
    put_headers(out, s.headers);
    return out;
}

std::optional<RespHead> decode_resp_head(std::string_view payload) {
    std::string_view body;
    return decode_resp_head(payload, 0, body);
}

std::optional<RespHead> decode_resp_head(std::string_view payload, std::uint16_t flags,
                                         std::string_view& body) {
    Reader r{payload};
    RespHead s;
    s.status = static_cast<std::uint16_t>(r.uint(2));
    auto framing = r.uint(1);
    if (!r.ok || !framing_ok(framing)) return std::nullopt;
    s.framing = static_cast<BodyFraming>(framing);
    s.content_length = r.uint(8);
    if (!get_headers(r, s.headers) || !take_body(r, flags, body)) return std::nullopt;
    if (s.status < 100 || s.status > 999) return std::nullopt;
    return s;
}

std::string encode_resp_error(const RespError& e) {
    std::string out;
    put_u16(out, e.status);
    put_u16(out, static_cast<std::uint16_t>(e.code.size()));
    out.append(e.code);
    put_u16(out, static_cast<std::uint16_t>(e.message.size()));
    out.append(e.message);
    put_u16(out, static_cast<std::uint16_t>(e.type.size()));
    out.append(e.type);
    put_u32(out, e.retry_after);
    return out;
}

std::optional<RespError> decode_resp_error(std::string_view payload) {
    Reader r{payload};
    RespError e;
    e.status = static_cast<std::uint16_t>(r.uint(2));
    std::string_view code, message, type;
    if (!r.take(r.uint(2), code)) return std::nullopt;
    if (!r.take(r.uint(2), message)) return std::nullopt;
    if (!r.take(r.uint(2), type)) return std::nullopt;
    e.retry_after = static_cast<std::uint32_t>(r.uint(4));
    if (!r.done() || e.status < 400 || e.status > 599) return std::nullopt;
    e.code.assign(code);
    e.message.assign(message);
    e.type.assign(type);
    return e;
}

std::string encode_refused(const Refused& n) {
    std::string out;
    put_u32(out, n.conn);
    put_u16(out, n.status);
    for (const std::string* s : {&n.code, &n.method, &n.path}) {
        const std::size_t len = std::min(s->size(), kMaxRefusedField);
        put_u16(out, static_cast<std::uint16_t>(len));
        out.append(*s, 0, len);
    }
    return out;
}

std::optional<Refused> decode_refused(std::string_view payload) {
    Reader r{payload};
    Refused n;
    n.conn = static_cast<std::uint32_t>(r.uint(4));
    n.status = static_cast<std::uint16_t>(r.uint(2));
    for (std::string* s : {&n.code, &n.method, &n.path}) {
        std::string_view v;
        auto len = r.uint(2);
        if (len > kMaxRefusedField || !r.take(len, v)) return std::nullopt;
        s->assign(v);
    }
    if (!r.done() || n.status < 400 || n.status > 599) return std::nullopt;
    return n;
}

std::string encode_shutdown_answer(std::uint32_t conn, ShutdownVerdict verdict) {
    std::string out;
    put_u32(out, conn);
    put_u8(out, static_cast<std::uint8_t>(verdict));
    return out;
}

std::optional<std::pair<std::uint32_t, ShutdownVerdict>> decode_shutdown_answer(
    std::string_view payload) {
    Reader r{payload};
    auto conn = static_cast<std::uint32_t>(r.uint(4));
    auto verdict = r.uint(1);
    if (!r.done() || verdict > static_cast<std::uint8_t>(ShutdownVerdict::Unidentified))
        return std::nullopt;
    return std::make_pair(conn, static_cast<ShutdownVerdict>(verdict));
}

std::string encode_usage_answer(const UsageAnswer& a) {
    std::string out;
    put_u32(out, a.conn);
    put_u16(out, a.status);
    out += a.body;
    return out;
}

std::optional<UsageAnswer> decode_usage_answer(std::string_view payload) {
    Reader r{payload};
    UsageAnswer a;
    a.conn = static_cast<std::uint32_t>(r.uint(4));
    a.status = static_cast<std::uint16_t>(r.uint(2));
    std::string_view rest;
    if (!r.ok || !r.take(r.in.size(), rest) || rest.empty()) return std::nullopt;
    if (a.status != 200 && (a.status < 400 || a.status > 499)) return std::nullopt;
    a.body.assign(rest);
    return a;
}

std::string encode_metrics_answer(std::uint32_t conn, MetricsVerdict verdict,
                                  std::string_view text) {
    if (text.size() > kMaxMetricsPiece) return {};
    std::string out;
    put_u32(out, conn);
    put_u8(out, static_cast<std::uint8_t>(verdict));
    out.append(text);
    return out;
}

std::optional<MetricsAnswer> decode_metrics_answer(std::string_view payload) {
    Reader r{payload};
    MetricsAnswer a;
    a.conn = static_cast<std::uint32_t>(r.uint(4));
    auto verdict = r.uint(1);
    if (!r.ok || verdict > static_cast<std::uint8_t>(MetricsVerdict::Busy)) return std::nullopt;
    a.verdict = static_cast<MetricsVerdict>(verdict);
    a.text = r.in;
    // Only a granted answer carries text.
    if (a.verdict != MetricsVerdict::Granted && !a.text.empty()) return std::nullopt;
    return a;
}

std::string encode_u32(std::uint32_t v) {
    std::string out;
    put_u32(out, v);
    return out;
}

std::optional<std::uint32_t> decode_u32(std::string_view payload) {
    Reader r{payload};
    auto v = r.uint(4);
    if (!r.done()) return std::nullopt;
    return static_cast<std::uint32_t>(v);
}

}  // namespace proxy::ipc
