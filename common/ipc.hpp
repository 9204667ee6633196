// The parent<->worker message codec. Pure: no I/O. One SOCK_SEQPACKET datagram
// carries exactly one message: a fixed 12-byte little-endian header and a
// payload of at most kMaxPayload bytes.
//
// Naming, so that grepping one stem finds both halves of an exchange (as
// OpenSSH's mm_X / mm_answer_X): message Type::ReqOpen carries struct ReqOpen,
// encoded by encode_req_open and decoded by decode_req_open. The worker sends
// it from ParentLink::ask_req_open (worker/parent_link.hpp) and the parent
// takes it in WorkerLink::answer_req_open (parent/workers/worker_link.hpp);
// the parent sends from tell_X (StreamSink, parent/upstream/stream_sink.hpp)
// and the worker takes it in ParentLink::heard_X. Each side receives through
// one table: kAnswers in the parent, kHeard in the worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http_types.hpp"
#include "common/unique_fd.hpp"

namespace proxy::ipc {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::size_t kMaxMessage = kHeaderSize + kMaxPayload;

enum class Type : std::uint16_t {
    // worker -> parent
    ReqOpen = 1,      // payload: struct ReqOpen below
    ReqBody = 2,      // payload: raw request body bytes (already de-chunked)
    ReqEnd = 3,       // payload: empty; the request body is complete
    ReqCancel = 4,    // payload: empty; client went away, drop the stream
    RespCredit = 5,   // payload: u32 bytes of response body the client has taken
    Shutdown = 6,     // payload: empty; our 200 to a granted GET /shutdown is flushed
    ConnOpen = 7,     // payload: u32 connection id; the accepted socket rides along (SCM_RIGHTS)
    ConnClose = 8,    // payload: u32 connection id; the client connection is gone
    ShutdownAsk = 9,  // payload: u32 connection id; that client sent GET /shutdown
    Refused = 10,     // payload: struct Refused; the worker refused a request on its own
    UsageAsk = 12,    // payload: u32 connection id; that client sent GET /usage
    MetricsAsk = 11,  // payload: u32 connection id; that client sent GET /metrics
    // parent -> worker
    RespHead = 32,        // payload: struct RespHead below
    RespBody = 33,        // payload: raw response body bytes (de-chunked)
    RespEnd = 34,         // payload: empty; response complete
    RespAbort = 35,       // payload: empty; upstream failed mid-body: abort the client response
    RespError = 36,       // payload: struct RespError; answer the client with this error instead
    ReqCredit = 37,       // payload: u32 bytes of request body the upstream has taken
    ShutdownAnswer = 38,  // payload: u32 connection id, u8 ShutdownVerdict
    UsageAnswer = 40,     // payload: struct UsageAnswer; the answer to that GET /usage
    MetricsAnswer = 39,   // payload: u32 connection id, u8 MetricsVerdict, a piece of the text
};

// Header flags. kFlagLast on a ReqBody or RespBody: the body ends with this
// piece, as if the matching End message followed. kFlagBody on a ReqOpen or
// RespHead: the first body bytes ride along behind the typed start
// (ReqOpen, RespHead; at least one byte), as if a body piece
// followed; kFlagLast on them: the body ends there (with or without
// kFlagBody). A small request or response is then one datagram each way, not
// three: every datagram is an skb in the kernel, and the two of a sendmmsg
// can reach a peer on another core one at a time, which cost it (and the
// upstream or the client behind it) a second wakeup and a second write (bench
// README, 2026-12-02 evening). No other type carries flags, and a datagram
// with any other bit set does not decode. kFlagLast on a MetricsAnswer: the
// text ends with this piece (a longer text comes in several, in order).
inline constexpr std::uint16_t kFlagLast = 0x0001;
inline constexpr std::uint16_t kFlagBody = 0x0002;

const char* type_name(Type t);
bool is_worker_to_parent(Type t);
bool is_parent_to_worker(Type t);
// The flags `t` may carry.
std::uint16_t allowed_flags(Type t);
// Only ConnOpen carries a descriptor; any other message that does is malformed.
bool carries_fd(Type t);
// For ReqEnd and RespEnd, the body type whose last piece may carry kFlagLast
// instead; nullopt for every other type.
std::optional<Type> body_type_ended_by(Type end);
// For ReqBody and RespBody, the start (ReqOpen, RespHead) that a body piece
// may ride on under kFlagBody; nullopt for every other type.
std::optional<Type> start_type_of(Type body);

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
    int fd = -1;  // ConnOpen: the descriptor that came with it; the channel closes it after
    // The channel's owner of `fd`: a handler that keeps the descriptor moves
    // it out of here (the channel then has nothing to close).
    UniqueFd* fd_owner = nullptr;
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
struct ReqOpen {
    std::uint32_t conn = 0;                   // the ConnOpen this request arrived on: who is asking
    BodyFraming framing = BodyFraming::None;  // None, Length or Chunked
    std::uint64_t content_length = 0;
    HeaderList headers;  // already filtered by policy/ in the worker
};
std::string encode_req_open(const ReqOpen& r);
std::optional<ReqOpen> decode_req_open(std::string_view payload);
// A ReqOpen's payload with its header flags: under kFlagBody `body` is what
// follows the ReqOpen (never empty), otherwise nothing may follow.
std::optional<ReqOpen> decode_req_open(std::string_view payload, std::uint16_t flags,
                                       std::string_view& body);

// RespHead: status and headers to mirror to the client.
struct RespHead {
    std::uint16_t status = 0;
    BodyFraming framing = BodyFraming::None;  // how the parent will deliver the body
    std::uint64_t content_length = 0;
    HeaderList headers;  // hop-by-hop already removed by the parent
};
std::string encode_resp_head(const RespHead& r);
std::optional<RespHead> decode_resp_head(std::string_view payload);
// A RespHead's payload with its header flags, as decode_req_open above.
std::optional<RespHead> decode_resp_head(std::string_view payload, std::uint16_t flags,
                                         std::string_view& body);

// RespError: the parent could not get a response from upstream.
struct RespError {
    std::uint16_t status = 502;
    std::string code;               // e.g. "upstream_unreachable"
    std::string message;            // human readable, never contains secrets
    std::string type;               // OpenAI error type; empty: by status (client / server error)
    std::uint32_t retry_after = 0;  // seconds for a Retry-After header; 0: none
};
std::string encode_resp_error(const RespError& e);
std::optional<RespError> decode_resp_error(std::string_view payload);

// Refused: what the worker answered on its own, for the parent's audit line.
// Code, method and path (the client's) are each cut to kMaxRefusedField bytes.
inline constexpr std::size_t kMaxRefusedField = 256;
struct Refused {
    std::uint32_t conn = 0;
    std::uint16_t status = 0;
    std::string code;
    std::string method;
    std::string path;
};
std::string encode_refused(const Refused& n);
std::optional<Refused> decode_refused(std::string_view payload);

// ShutdownAnswer: granted, or why not.
enum class ShutdownVerdict : std::uint8_t {
    Refused = 0,  // the policy does not allow this user
    Granted = 1,
    Unidentified = 2,  // the kernel could not vouch for the caller
};
std::string encode_shutdown_answer(std::uint32_t conn, ShutdownVerdict verdict);
std::optional<std::pair<std::uint32_t, ShutdownVerdict>> decode_shutdown_answer(
    std::string_view payload);

// UsageAnswer: the status and JSON body the worker answers GET /usage with,
// about the caller the parent identified itself (parent/users/usage_view.hpp);
// a 403 body when it could not or the policy refuses the caller.
struct UsageAnswer {
    std::uint32_t conn = 0;
    std::uint16_t status = 0;  // 200, or 4xx
    std::string body;          // JSON, not empty
};
std::string encode_usage_answer(const UsageAnswer& a);
std::optional<UsageAnswer> decode_usage_answer(std::string_view payload);
// MetricsAnswer: the Prometheus text (granted), or why not. The text can
// be longer than one datagram: the parent sends it in pieces of at most
// kMaxMetricsPiece bytes, each with the same connection and verdict, the last
// with kFlagLast; a refusal is one piece, empty, with kFlagLast. The whole
// text is at most kMaxMetricsText bytes (the parent bounds what it renders;
// a worker takes no more).
enum class MetricsVerdict : std::uint8_t {
    Refused = 0,  // not root, and not a user or group --metrics-allow-* names
    Granted = 1,
    Unidentified = 2,  // the kernel could not vouch for the caller
    Busy = 3,          // the worker's queue has no room for the text now: 503
};
inline constexpr std::size_t kMaxMetricsPiece = kMaxPayload - 5;
inline constexpr std::size_t kMaxMetricsText = 1u << 20;
struct MetricsAnswer {
    std::uint32_t conn = 0;
    MetricsVerdict verdict = MetricsVerdict::Refused;
    std::string_view text;  // this piece; points into the payload
};
std::string encode_metrics_answer(std::uint32_t conn, MetricsVerdict verdict,
                                  std::string_view text);
std::optional<MetricsAnswer> decode_metrics_answer(std::string_view payload);

std::string encode_u32(std::uint32_t v);
std::optional<std::uint32_t> decode_u32(std::string_view payload);

}  // namespace proxy::ipc
