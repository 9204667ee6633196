// UsageScanner: token counts from a response as it streams by, split anywhere.
#include <doctest/doctest.h>

#include <string>

#include "parent/users/usage_scanner.hpp"

using namespace proxy;

namespace {
// The shape of a real Responses API stream: usage null in the early events,
// the counts in response.completed, nested details beside them.
const std::string kSse =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"delta\":\"say \\\"usage\\\": "
    "{\\\"input_tokens\\\": 999}\"}\n\n"
    "event: response.completed\n"
    "data: "
    "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":"
    "1234,"
    "\"input_tokens_details\":{\"cached_tokens\":1000},\"output_tokens\":56,"
    "\"output_tokens_details\":{\"reasoning_tokens\":40},\"total_tokens\":1290}}}\n\n";
}  // namespace

TEST_CASE("usage scanner: the counts of response.completed, however the stream is cut") {
    for (std::size_t piece : {1u, 2u, 7u, 64u, 100000u}) {
        CAPTURE(piece);
        UsageScanner s;
        for (std::size_t off = 0; off < kSse.size(); off += piece) s.feed(kSse.substr(off, piece));
        REQUIRE(s.usage());
        CHECK(s.usage()->input == 1234);
        CHECK(s.usage()->output == 56);
    }
}

TEST_CASE("usage scanner: a pretty-printed JSON answer") {
    UsageScanner s;
    s.feed(
        "{\n  \"id\": \"resp_2\",\n  \"usage\": {\n    \"input_tokens\": 10,\n"
        "    \"output_tokens\": 20,\n    \"total_tokens\": 30\n  }\n}\n");
    REQUIRE(s.usage());
    CHECK(s.usage()->input == 10);
    CHECK(s.usage()->output == 20);
}

TEST_CASE("usage scanner: nothing when there is no complete usage object") {
    UsageScanner s;
    s.feed("data: {\"usage\":null}\n\n");
    CHECK_FALSE(s.usage());
    s.feed(
        "data: {\"text\":\"the "
        "\\\"usage\\\":{\\\"input_tokens\\\":5,\\\"output_tokens\\\":6}\"}\n");
    CHECK_FALSE(s.usage());  // inside a string: escaped quotes
    s.feed("data: {\"usage\":{\"input_tokens\":5}}\n");
    CHECK_FALSE(s.usage());  // output_tokens missing
    s.feed("data: {\"usage\":{\"input_tokens\":5,\"output_tokens\":");
    CHECK_FALSE(s.usage());  // not complete yet
    s.feed("6}}\n");
    REQUIRE(s.usage());
    CHECK(s.usage()->output == 6);
}

TEST_CASE("usage scanner: an oversized object is dropped, not buffered") {
    UsageScanner s;
    std::string big = "{\"usage\":{\"pad\":\"" + std::string(UsageScanner::kMaxObject, 'x') +
                      "\",\"input_tokens\":1,\"output_tokens\":2}}";
    s.feed(big);
    CHECK_FALSE(s.usage());
    // and the scanner goes on looking afterwards
    s.feed("{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
    REQUIRE(s.usage());
    CHECK(s.usage()->input == 3);
}

namespace {
// What the Responses API streams for text, reasoning summaries and function
// calls: only the "delta" strings are what the model generated; the rest
// (ids, the response object, padding, the whole text again in .done) is not.
const std::string kDeltas =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"response\":{\"instructions\":\"be brief, no "
    "\\\"delta\\\":\\\"x\\\"\",\"usage\":null}}\n\n"
    "event: response.reasoning_summary_text.delta\n"
    "data: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"Think\"}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"delta\":\"say "
    "\\\"hi\\\"\\\\\",\"obfuscation\":\"abcdef\"}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"delta\" : \"\\\\\\\\\"}\n\n"
    "event: response.function_call_arguments.delta\n"
    "data: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\\\"a\\\":1}\"}\n\n"
    "event: response.output_text.done\n"
    "data: {\"type\":\"response.output_text.done\",\"text\":\"say \\\"hi\\\"\\\\\"}\n\n";
// Think (5) + say \"hi\"\\ (12) + \\\\ (4) + {\"a\":1} (9), as written.
constexpr std::uint64_t kDeltaBytes = 5 + 12 + 4 + 9;
}  // namespace

TEST_CASE("usage scanner: the bytes of the delta strings, however the stream is cut") {
    for (std::size_t piece : {1u, 2u, 3u, 5u, 7u, 64u, 100000u}) {
        CAPTURE(piece);
        UsageScanner s;
        for (std::size_t off = 0; off < kDeltas.size(); off += piece)
            s.feed(kDeltas.substr(off, piece));
        CHECK(s.delta_bytes() == kDeltaBytes);
        CHECK_FALSE(s.usage());
    }
}

TEST_CASE("usage scanner: deltas and the usage that follows them") {
    UsageScanner s;
    s.feed(kDeltas);
    s.feed(kSse);
    REQUIRE(s.usage());
    CHECK(s.usage()->input == 1234);
    // kSse has one delta of its own, a string that mentions "usage"
    CHECK(s.delta_bytes() == kDeltaBytes + 38);
}

TEST_CASE("usage scanner: a delta that is not a string, or a value named delta") {
    UsageScanner s;
    s.feed("{\"type\":\"delta\",\"delta\":null,\"x\":\"delta\"}{\"delta\":{\"a\":\"b\"}}");
    CHECK(s.delta_bytes() == 0);
    s.feed("{\"delta\":\"\"}{\"delta\":\"ab\"}");
    CHECK(s.delta_bytes() == 2);
}
