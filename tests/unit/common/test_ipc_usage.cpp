// The UsageAsk / UsageAnswer pair (GET /usage): direction, flags, and the
// answer's strict decoding.
#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>

#include "common/ipc.hpp"
#include "tests/unit/support/bytes.hpp"

using namespace proxy::ipc;

namespace {
using proxy::test::bytes;
}  // namespace

TEST_CASE("ipc: UsageAsk goes to the parent, UsageAnswer to the worker, neither with flags") {
    CHECK(static_cast<int>(Type::UsageAsk) == 12);
    CHECK(static_cast<int>(Type::UsageAnswer) == 40);
    CHECK(is_worker_to_parent(Type::UsageAsk));
    CHECK_FALSE(is_parent_to_worker(Type::UsageAsk));
    CHECK(is_parent_to_worker(Type::UsageAnswer));
    CHECK_FALSE(is_worker_to_parent(Type::UsageAnswer));
    CHECK(std::string(type_name(Type::UsageAsk)) == "USAGE_ASK");
    CHECK(std::string(type_name(Type::UsageAnswer)) == "USAGE_ANSWER");
    // The numbers past them are still unknown (11 and 39 are the metrics pair).
    for (std::uint16_t unknown : {13, 41}) {
        std::string wire;
        REQUIRE(encode(static_cast<Type>(unknown), 0, "", wire));
        Message m;
        CHECK(decode(bytes(wire), m) == DecodeError::UnknownType);
    }
    for (Type t : {Type::UsageAsk, Type::UsageAnswer}) {
        std::string wire;
        Message m;
        REQUIRE(encode(t, 0, encode_u32(5), wire));
        CHECK(decode(bytes(wire), m) == DecodeError::None);
        REQUIRE(encode(t, 0, encode_u32(5), wire, kFlagLast));
        CHECK(decode(bytes(wire), m) == DecodeError::BadFlags);
        CHECK_FALSE(carries_fd(t));
    }
}

TEST_CASE("ipc: UsageAnswer round trip and strict decoding") {
    UsageAnswer a{7, 200, "{\"uid\":1000}\n"};
    const std::string wire = encode_usage_answer(a);
    auto back = decode_usage_answer(wire);
    REQUIRE(back);
    CHECK(back->conn == 7);
    CHECK(back->status == 200);
    CHECK(back->body == a.body);
    CHECK(encode_usage_answer(*back) == wire);
    // A refusal's status is a client error; no body, no status, a 5xx or a
    // 1xx/3xx is not an answer.
    CHECK(decode_usage_answer(encode_usage_answer({7, 403, "{}"})));
    CHECK_FALSE(decode_usage_answer(encode_usage_answer({7, 200, ""})));
    CHECK_FALSE(decode_usage_answer(encode_usage_answer({7, 500, "{}"})));
    CHECK_FALSE(decode_usage_answer(encode_usage_answer({7, 302, "{}"})));
    CHECK_FALSE(decode_usage_answer(std::string("\x07\x00\x00\x00\xc8", 5)));
    CHECK_FALSE(decode_usage_answer(""));
}
