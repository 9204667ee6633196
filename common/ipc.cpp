#include "common/ipc.hpp"

#include <algorithm>
#include <cstring>

namespace proxy::ipc {

namespace {

void put_u8(std::string& out, std::uint8_t v) {
    out.push_back(static_cast<char>(v));
}
void put_u16(std::string& out, std::uint16_t v) {
    put_u8(out, static_cast<std::uint8_t>(v));
    put_u8(out, static_cast<std::uint8_t>(v >> 8));
}
void put_u32(std::string& out, std::uint32_t v) {
    put_u16(out, static_cast<std::uint16_t>(v));
    put_u16(out, static_cast<std::uint16_t>(v >> 16));
}
void put_u64(std::string& out, std::uint64_t v) {
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
std::size_t headers_size(const HeaderList& headers) {
    std::size_t n = 2;
    for (const auto& h : headers) n += 6 + h.name.size() + h.value.size();
    return n;
}

void put_headers(std::string& out, const HeaderList& headers) {
    put_u16(out, static_cast<std::uint16_t>(headers.size()));
    for (const auto& h : headers) {
        put_u16(out, static_cast<std::uint16_t>(h.name.size()));
        out.append(h.name);
        put_u32(out, static_cast<std::uint32_t>(h.value.size()));
        out.append(h.value);
    }
}

bool get_headers(Reader& r, HeaderList& headers) {
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
bool take_body(Reader& r, std::uint16_t flags, std::string_view& body) {
    body = {};
    if (!r.ok) return false;
    if ((flags & kFlagBody) == 0) return r.in.empty();
    if (r.in.empty()) return false;
    body = r.in;
    return true;
}

bool framing_ok(std::uint64_t f) {
    return f <= static_cast<std::uint64_t>(BodyFraming::UntilClose);
}

bool fits_u16_lengths(const HeaderList& headers) {
    if (headers.size() > 0xffff) return false;
    for (const auto& h : headers) {
        if (h.name.size() > 0xffff || h.value.size() > 0xffffffffu) return false;
    }
    return true;
}

}  // namespace

const char* type_name(Type t) {
    switch (t) {
        case Type::ReqOpen:
            return "REQ_OPEN";
        case Type::ReqBody:
            return "REQ_BODY";
        case Type::ReqEnd:
            return "REQ_END";
        case Type::ReqCancel:
            return "REQ_CANCEL";
        case Type::RespCredit:
            return "RESP_CREDIT";
        case Type::Shutdown:
            return "SHUTDOWN";
        case Type::RespHead:
            return "RESP_HEAD";
        case Type::RespBody:
            return "RESP_BODY";
        case Type::RespEnd:
            return "RESP_END";
        case Type::RespAbort:
            return "RESP_ABORT";
        case Type::RespError:
            return "RESP_ERROR";
        case Type::ReqCredit:
            return "REQ_CREDIT";
        case Type::ConnOpen:
            return "CONN_OPEN";
        case Type::ConnClose:
            return "CONN_CLOSE";
        case Type::ShutdownAsk:
            return "SHUTDOWN_ASK";
        case Type::Refused:
            return "REFUSED";
        case Type::ShutdownAnswer:
            return "SHUTDOWN_ANSWER";
        case Type::UsageAsk:
            return "USAGE_ASK";
        case Type::UsageAnswer:
            return "USAGE_ANSWER";
        case Type::MetricsAsk:
            return "METRICS_ASK";
        case Type::MetricsAnswer:
            return "METRICS_ANSWER";
    }
    return "UNKNOWN";
}

bool is_worker_to_parent(Type t) {
    auto v = static_cast<std::uint16_t>(t);
    return v >= 1 && v <= 12;
}
bool is_parent_to_worker(Type t) {
    auto v = static_cast<std::uint16_t>(t);
    return v >= 32 && v <= 40;
}

std::uint16_t allowed_flags(Type t) {
    if (t == Type::ReqOpen || t == Type::RespHead) return kFlagLast | kFlagBody;
    return t == Type::ReqBody || t == Type::RespBody || t == Type::MetricsAnswer ? kFlagLast : 0;
}

bool carries_fd(Type t) {
    return t == Type::ConnOpen;
}

std::optional<Type> body_type_ended_by(Type end) {
    if (end == Type::ReqEnd) return Type::ReqBody;
    if (end == Type::RespEnd) return Type::RespBody;
    return std::nullopt;
}

std::optional<Type> start_type_of(Type body) {
    if (body == Type::ReqBody) return Type::ReqOpen;
    if (body == Type::RespBody) return Type::RespHead;
    return std::nullopt;
}

const char* decode_error_name(DecodeError e) {
    switch (e) {
        case DecodeError::None:
            return "ok";
        case DecodeError::Truncated:
            return "truncated header";
        case DecodeError::LengthMismatch:
            return "length does not match datagram";
        case DecodeError::Oversized:
            return "payload over the size cap";
        case DecodeError::BadFlags:
            return "flag not allowed on this message type";
        case DecodeError::UnknownType:
            return "unknown message type";
    }
    return "?";
}

bool encode(Type type, std::uint32_t stream, std::string_view payload, std::string& out,
            std::uint16_t flags) {
    if (payload.size() > kMaxPayload) return false;
    out.clear();
    out.reserve(kHeaderSize + payload.size());
    put_u16(out, static_cast<std::uint16_t>(type));
    put_u16(out, flags);
    put_u32(out, stream);
    put_u32(out, static_cast<std::uint32_t>(payload.size()));
    out.append(payload);
    return true;
}

DecodeError decode(std::span<const std::uint8_t> datagram, MessageView& out) {
    if (datagram.size() < kHeaderSize) return DecodeError::Truncated;
    Reader r{std::string_view(reinterpret_cast<const char*>(datagram.data()), datagram.size())};
    auto type = static_cast<std::uint16_t>(r.uint(2));
    auto flags = static_cast<std::uint16_t>(r.uint(2));
    auto stream = static_cast<std::uint32_t>(r.uint(4));
    auto length = r.uint(4);
    if (length > kMaxPayload) return DecodeError::Oversized;
    if (length != r.in.size()) return DecodeError::LengthMismatch;
    auto t = static_cast<Type>(type);
    if (!is_worker_to_parent(t) && !is_parent_to_worker(t)) return DecodeError::UnknownType;
    if ((flags & ~allowed_flags(t)) != 0) return DecodeError::BadFlags;
    out.type = t;
    out.flags = flags;
    out.stream = stream;
    out.payload = r.in;
    return DecodeError::None;
}

DecodeError decode(std::span<const std::uint8_t> datagram, Message& out) {
    MessageView v;
    DecodeError e = decode(datagram, v);
    if (e != DecodeError::None) return e;
    out.type = v.type;
    out.flags = v.flags;
    out.stream = v.stream;
    out.payload.assign(v.payload);
    return e;
}

void encode_header(Type type, std::uint32_t stream, std::uint32_t length, std::uint16_t flags,
                   std::uint8_t (&out)[kHeaderSize]) {
    std::string h;
    put_u16(h, static_cast<std::uint16_t>(type));
    put_u16(h, flags);
    put_u32(h, stream);
    put_u32(h, length);
    std::memcpy(out, h.data(), kHeaderSize);
}

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
    if (!r.ok || verdict > static_cast<std::uint8_t>(MetricsVerdict::Busy))
        return std::nullopt;
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
