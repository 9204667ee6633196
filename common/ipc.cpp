#include "common/ipc.hpp"

#include <algorithm>
#include <cstring>

#include "common/ipc_wire.hpp"

namespace proxy::ipc {

using namespace wire;

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

}  // namespace proxy::ipc
