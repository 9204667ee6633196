// UsageScanner: token counts from a response as it streams by, split anywhere.
#include <doctest/doctest.h>

#include <string>

#include "parent/usage_scanner.hpp"

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
