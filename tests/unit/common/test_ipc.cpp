#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "common/ipc.hpp"
#include "tests/unit/support/bytes.hpp"

using namespace proxy;
using namespace proxy::ipc;

namespace {
using proxy::test::bytes;
}  // namespace

TEST_CASE("ipc: message round trip keeps type, flags, stream and payload") {
    std::string wire;
    REQUIRE(encode(Type::ReqBody, 0xdeadbeef, std::string("a\0b", 3), wire, kFlagLast));
    CHECK(wire.size() == kHeaderSize + 3);
    Message m;
    REQUIRE(decode(bytes(wire), m) == DecodeError::None);
    CHECK(m.type == Type::ReqBody);
    CHECK(m.flags == kFlagLast);
    CHECK(m.stream == 0xdeadbeef);
    CHECK(m.payload == std::string("a\0b", 3));
}

TEST_CASE("ipc: encode refuses payloads over the cap, accepts exactly the cap") {
    std::string wire;
    CHECK(encode(Type::RespBody, 1, std::string(kMaxPayload, 'x'), wire));
    CHECK_FALSE(encode(Type::RespBody, 1, std::string(kMaxPayload + 1, 'x'), wire));
}

TEST_CASE("ipc: truncated, mismatched, oversized and unknown datagrams are refused") {
    std::string wire;
    REQUIRE(encode(Type::ReqEnd, 5, "", wire));
    Message m;
    for (std::size_t n = 0; n < kHeaderSize; ++n) {
        CHECK(decode(bytes(wire.substr(0, n)), m) == DecodeError::Truncated);
    }
    REQUIRE(encode(Type::ReqBody, 5, "hello", wire));
    CHECK(decode(bytes(wire.substr(0, wire.size() - 1)), m) == DecodeError::LengthMismatch);
    CHECK(decode(bytes(wire + "x"), m) == DecodeError::LengthMismatch);

    std::string huge = wire.substr(0, 8);
    std::uint32_t len = kMaxPayload + 1;
    huge.append(reinterpret_cast<const char*>(&len), 4);  // little-endian host
    huge.append(kMaxPayload + 1, 'x');
    CHECK(decode(bytes(huge), m) == DecodeError::Oversized);

    std::string unknown = wire;
    unknown[0] = 99;
    CHECK(decode(bytes(unknown), m) == DecodeError::UnknownType);
}

TEST_CASE("ipc: only body pieces and starts may carry kFlagLast, only starts kFlagBody") {
    Message m;
    std::string wire;
    for (Type t : {Type::ReqOpen, Type::RespHead}) {
        CAPTURE(type_name(t));
        for (std::uint16_t ok : {kFlagLast, kFlagBody, std::uint16_t(kFlagLast | kFlagBody)}) {
            REQUIRE(encode(t, 1, "x", wire, ok));
            CHECK(decode(bytes(wire), m) == DecodeError::None);
            CHECK(m.flags == ok);
        }
        for (std::uint16_t bad : {0x0004, 0x0007, 0x8000, 0xffff}) {
            REQUIRE(encode(t, 1, "x", wire, bad));
            CHECK(decode(bytes(wire), m) == DecodeError::BadFlags);
        }
    }
    for (Type t : {Type::ReqBody, Type::RespBody}) {
        CAPTURE(type_name(t));
        REQUIRE(encode(t, 1, "x", wire, kFlagLast));
        CHECK(decode(bytes(wire), m) == DecodeError::None);
        for (std::uint16_t bad : {0x0002, 0x0003, 0x8000, 0xffff}) {
            REQUIRE(encode(t, 1, "x", wire, bad));
            CHECK(decode(bytes(wire), m) == DecodeError::BadFlags);
        }
    }
    for (Type t : {Type::ReqEnd, Type::ReqCancel, Type::RespCredit, Type::Shutdown, Type::ConnOpen,
                   Type::ConnClose, Type::ShutdownAsk, Type::Refused, Type::RespEnd,
                   Type::RespAbort, Type::RespError, Type::ReqCredit, Type::ShutdownAnswer}) {
        CAPTURE(type_name(t));
        for (std::uint16_t bad : {kFlagLast, kFlagBody}) {
            REQUIRE(encode(t, 1, "", wire, bad));
            CHECK(decode(bytes(wire), m) == DecodeError::BadFlags);
        }
    }
    CHECK(body_type_ended_by(Type::ReqEnd) == Type::ReqBody);
    CHECK(body_type_ended_by(Type::RespEnd) == Type::RespBody);
    CHECK_FALSE(body_type_ended_by(Type::RespAbort).has_value());
    CHECK(start_type_of(Type::ReqBody) == Type::ReqOpen);
    CHECK(start_type_of(Type::RespBody) == Type::RespHead);
    CHECK_FALSE(start_type_of(Type::ReqEnd).has_value());
}

TEST_CASE("ipc: a body rides behind a start only under kFlagBody, and is never empty") {
    ReqOpen r;
    r.conn = 1;
    r.framing = BodyFraming::Length;
    r.content_length = 2;
    r.headers = {{"content-type", "application/json"}};
    const std::string open = encode_req_open(r);
    std::string_view body = "stale";
    const std::string folded = open + "{}";  // body views into it: it must outlive them
    auto o = decode_req_open(folded, kFlagBody | kFlagLast, body);
    REQUIRE(o);
    CHECK(body == "{}");
    CHECK(o->headers.size() == 1);
    CHECK(decode_req_open(open, kFlagLast, body));
    CHECK(body.empty());
    CHECK_FALSE(decode_req_open(open + "{}", kFlagLast, body));  // bytes behind, no kFlagBody
    CHECK_FALSE(decode_req_open(open + "{}", 0, body));
    CHECK_FALSE(decode_req_open(open, kFlagBody, body));  // kFlagBody, nothing behind
    // A cut start never lends its tail to the body.
    for (std::size_t n = 0; n < open.size(); ++n)
        CHECK_FALSE(decode_req_open(open.substr(0, n), 0, body));

    RespHead s{200, BodyFraming::Length, 5, {{"content-type", "text/plain"}}};
    const std::string head = encode_resp_head(s);
    const std::string head_and_body = head + "hello";
    auto back = decode_resp_head(head_and_body, kFlagBody, body);
    REQUIRE(back);
    CHECK(back->status == 200);
    CHECK(body == "hello");
    CHECK_FALSE(decode_resp_head(head + "hello", 0, body));
    CHECK_FALSE(decode_resp_head(head, kFlagBody, body));
    // The one-argument decoders take a start alone.
    CHECK_FALSE(decode_resp_head(head + "hello"));
    CHECK_FALSE(decode_req_open(open + "{}"));
}

TEST_CASE("ipc: direction of each message type") {
    CHECK(is_worker_to_parent(Type::ReqOpen));
    CHECK_FALSE(is_parent_to_worker(Type::ReqOpen));
    CHECK(is_parent_to_worker(Type::RespHead));
    CHECK_FALSE(is_worker_to_parent(Type::RespHead));
    for (Type t : {Type::ConnOpen, Type::ConnClose, Type::ShutdownAsk, Type::Refused})
        CHECK(is_worker_to_parent(t));
    CHECK(is_parent_to_worker(Type::ShutdownAnswer));
    // Only the message that hands over a connection may carry a descriptor.
    CHECK(carries_fd(Type::ConnOpen));
    for (Type t : {Type::ReqOpen, Type::ConnClose, Type::Shutdown, Type::RespHead})
        CHECK_FALSE(carries_fd(t));
}

TEST_CASE("ipc: ReqOpen round trip and strict decoding") {
    ReqOpen r;
    r.conn = 0x01020304;
    r.framing = BodyFraming::Length;
    r.content_length = 1ull << 40;
    r.headers = {
        {"content-type", "application/json"}, {"x-codex-turn", std::string("v\0", 2)}, {"e", ""}};
    std::string p = encode_req_open(r);
    auto back = decode_req_open(p);
    REQUIRE(back);
    CHECK(back->conn == 0x01020304u);
    CHECK(back->framing == BodyFraming::Length);
    CHECK(back->content_length == r.content_length);
    REQUIRE(back->headers.size() == 3);
    CHECK(back->headers[1].value == std::string("v\0", 2));

    for (std::size_t n = 0; n < p.size(); ++n) CHECK_FALSE(decode_req_open(p.substr(0, n)));
    CHECK_FALSE(decode_req_open(p + "z"));
    std::string bad_framing = p;
    bad_framing[4] = 9;  // after the u32 connection id
    CHECK_FALSE(decode_req_open(bad_framing));
    // A header count the payload cannot possibly hold.
    std::string lying = p.substr(0, 13) + std::string("\xff\xff", 2);
    CHECK_FALSE(decode_req_open(lying));
}

TEST_CASE("ipc: RespHead, RespError and u32 round trips") {
    RespHead s{429, BodyFraming::Chunked, 0, {{"retry-after", "3"}}};
    auto sb = decode_resp_head(encode_resp_head(s));
    REQUIRE(sb);
    CHECK(sb->status == 429);
    CHECK(sb->framing == BodyFraming::Chunked);
    CHECK(sb->headers[0].name == "retry-after");
    s.status = 42;
    CHECK_FALSE(decode_resp_head(encode_resp_head(s)));

    RespError e{504, "upstream_timeout", "upstream did not answer", {}, 0};
    auto eb = decode_resp_error(encode_resp_error(e));
    REQUIRE(eb);
    CHECK(eb->status == 504);
    CHECK(eb->code == "upstream_timeout");
    CHECK(eb->message == "upstream did not answer");
    CHECK(eb->type.empty());
    CHECK(eb->retry_after == 0);
    RespError limited{429, "rate_limit_exceeded", "slow down", "requests", 17};
    auto lb = decode_resp_error(encode_resp_error(limited));
    REQUIRE(lb);
    CHECK(lb->type == "requests");
    CHECK(lb->retry_after == 17u);
    e.status = 200;
    CHECK_FALSE(decode_resp_error(encode_resp_error(e)));

    Refused n{9, 421, "misdirected_request", "POST", std::string(300, 'p')};
    auto nb = decode_refused(encode_refused(n));
    REQUIRE(nb);
    CHECK(nb->conn == 9u);
    CHECK(nb->status == 421);
    CHECK(nb->code == "misdirected_request");
    CHECK(nb->path.size() == kMaxRefusedField);  // cut, not refused
    CHECK_FALSE(decode_refused(encode_refused(n) + "x"));
    n.status = 200;
    CHECK_FALSE(decode_refused(encode_refused(n)));

    for (auto v :
         {ShutdownVerdict::Granted, ShutdownVerdict::Refused, ShutdownVerdict::Unidentified})
        CHECK(decode_shutdown_answer(encode_shutdown_answer(5, v)) == std::make_pair(5u, v));
    CHECK_FALSE(decode_shutdown_answer(encode_u32(5) + "\x03"));

    CHECK(decode_u32(encode_u32(123456)) == 123456u);
    CHECK_FALSE(decode_u32("abc"));
    CHECK_FALSE(decode_u32("abcde"));
}

TEST_CASE("ipc: MetricsAsk and MetricsAnswer, the answer in pieces with kFlagLast") {
    CHECK(is_worker_to_parent(Type::MetricsAsk));
    CHECK(is_parent_to_worker(Type::MetricsAnswer));
    CHECK(static_cast<int>(Type::MetricsAsk) == 11);
    CHECK(static_cast<int>(Type::MetricsAnswer) == 39);
    CHECK(std::string(type_name(Type::MetricsAnswer)) == "METRICS_ANSWER");
    CHECK(allowed_flags(Type::MetricsAnswer) == kFlagLast);
    CHECK(allowed_flags(Type::MetricsAsk) == 0);

    const std::string text = "# TYPE codex_proxy_key_rotations_total counter\n";
    const std::string piece = encode_metrics_answer(7, MetricsVerdict::Granted, text);
    auto a = decode_metrics_answer(piece);  // its text points into `piece`
    REQUIRE(a);
    CHECK(a->conn == 7u);
    CHECK(a->verdict == MetricsVerdict::Granted);
    CHECK(a->text == text);
    const std::string refused = encode_metrics_answer(7, MetricsVerdict::Refused, {});
    auto r = decode_metrics_answer(refused);
    REQUIRE(r);
    CHECK(r->verdict == MetricsVerdict::Refused);
    // Only a granted answer carries text; no verdict past Unidentified.
    CHECK_FALSE(decode_metrics_answer(encode_u32(7) + std::string("\0x", 2)));
    CHECK_FALSE(decode_metrics_answer(encode_u32(7) + "\x04"));
    CHECK_FALSE(decode_metrics_answer("abc"));
    // A piece fits one datagram; a longer text is the sender's to split.
    CHECK(encode_metrics_answer(7, MetricsVerdict::Granted, std::string(kMaxMetricsPiece, 'm'))
              .size() == kMaxPayload);
    CHECK(encode_metrics_answer(7, MetricsVerdict::Granted, std::string(kMaxMetricsPiece + 1, 'm'))
              .empty());
    std::string wire;
    REQUIRE(encode(Type::MetricsAnswer, 0, encode_metrics_answer(7, MetricsVerdict::Refused, {}),
                   wire, kFlagLast));
    Message m;
    CHECK(decode(bytes(wire), m) == DecodeError::None);
    REQUIRE(encode(Type::MetricsAsk, 0, encode_u32(7), wire, kFlagLast));
    CHECK(decode(bytes(wire), m) == DecodeError::BadFlags);
}
