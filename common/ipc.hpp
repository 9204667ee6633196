// The parent<->worker message codec. Pure: no I/O. One SOCK_SEQPACKET datagram
// carries exactly one message: a fixed 12-byte little-endian header and a
// payload of at most kMaxPayload bytes.
//
// Naming: a worker-side function that asks is `ask_X`, the parent's handler
// that answers is `answer_X` (as OpenSSH's mm_X / mm_answer_X).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_types.hpp"

namespace proxy::ipc {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::size_t kMaxMessage = kHeaderSize + kMaxPayload;

enum class Type : std::uint16_t {
    // worker -> parent
    ReqOpen = 1,     // payload: OpenRequest
    ReqBody = 2,     // payload: raw request body bytes (already de-chunked)
    ReqEnd = 3,      // payload: empty; the request body is complete
    ReqCancel = 4,   // payload: empty; client went away, drop the stream
    RespCredit = 5,  // payload: u32 bytes of response body the client has taken
    Shutdown = 6,    // payload: empty; GET /shutdown was accepted by the worker
    // parent -> worker
    RespHead = 32,   // payload: ResponseStart
    RespBody = 33,   // payload: raw response body bytes (de-chunked)
    RespEnd = 34,    // payload: empty; response complete
    RespAbort = 35,  // payload: empty; upstream failed mid-body: abort the client response
    RespError = 36,  // payload: ErrorReply; answer the client with this error instead
    ReqCredit = 37,  // payload: u32 bytes of request body the upstream has taken
};

// Header flags. kFlagLast on a ReqBody or RespBody: the body ends with this
// piece, as if the matching End message followed. A small request or response
// then costs two datagrams each way instead of three; every datagram is a
// wakeup and an skb in the kernel, which is most of what a request costs on a
// VM. No other type carries flags, and a datagram with any other bit set does
// not decode.
inline constexpr std::uint16_t kFlagLast = 0x0001;

const char* type_name(Type t);
bool is_worker_to_parent(Type t);
bool is_parent_to_worker(Type t);
// The flags `t` may carry.
std::uint16_t allowed_flags(Type t);
// For ReqEnd and RespEnd, the body type whose last piece may carry kFlagLast
// instead; nullopt for every other type.
std::optional<Type> body_type_ended_by(Type end);

struct Message {
    Type type{};
    std::uint16_t flags = 0;
    std::uint32_t stream = 0;
    std::string payload;
};

// A decoded message whose payload points into the datagram buffer: valid only
// until the next receive. The channel hands these to its owner, so body bytes
// are copied once (into the destination evbuffer), not twice.
struct MessageView {
    Type type{};
    std::uint16_t flags = 0;
    std::uint32_t stream = 0;
    std::string_view payload;
};

enum class DecodeError {
    None,
    Truncated,       // shorter than the header
    LengthMismatch,  // header length != datagram payload size
    Oversized,       // payload larger than kMaxPayload
    UnknownType,
    BadFlags,  // a flag bit this type may not carry
};
const char* decode_error_name(DecodeError e);

// Encode a message into `out` (replacing its contents). Returns false when the
// payload exceeds kMaxPayload (callers split body data before encoding).
bool encode(Type type, std::uint32_t stream, std::string_view payload, std::string& out,
            std::uint16_t flags = 0);

// Decode one datagram. On success fills `out` and returns DecodeError::None.
DecodeError decode(std::span<const std::uint8_t> datagram, MessageView& out);
DecodeError decode(std::span<const std::uint8_t> datagram, Message& out);

// The 12-byte header of a message, for senders that gather header and
// payload with sendmsg instead of encoding into one buffer.
void encode_header(Type type, std::uint32_t stream, std::uint32_t length, std::uint16_t flags,
                   std::uint8_t (&out)[kHeaderSize]);

// ---- typed payloads ----

// ReqOpen: the request as validated by the worker. The parent re-validates all
// of it (the worker may be compromised) and builds the upstream head itself.
struct OpenRequest {
    BodyFraming framing = BodyFraming::None;  // None, Length or Chunked
    std::uint64_t content_length = 0;
    HeaderList headers;  // already filtered by policy/ in the worker
};
std::string encode_open(const OpenRequest& r);
std::optional<OpenRequest> decode_open(std::string_view payload);

// RespHead: status and headers to mirror to the client.
struct ResponseStart {
    std::uint16_t status = 0;
    BodyFraming framing = BodyFraming::None;  // how the parent will deliver the body
    std::uint64_t content_length = 0;
    HeaderList headers;  // hop-by-hop already removed by the parent
};
std::string encode_response_start(const ResponseStart& r);
std::optional<ResponseStart> decode_response_start(std::string_view payload);

// RespError: the parent could not get a response from upstream.
struct ErrorReply {
    std::uint16_t status = 502;
    std::string code;     // e.g. "upstream_unreachable"
    std::string message;  // human readable, never contains secrets
};
std::string encode_error(const ErrorReply& e);
std::optional<ErrorReply> decode_error(std::string_view payload);

std::string encode_u32(std::uint32_t v);
std::optional<std::uint32_t> decode_u32(std::string_view payload);

}  // namespace proxy::ipc
