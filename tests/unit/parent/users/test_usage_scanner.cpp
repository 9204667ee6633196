// UsageScanner: token counts from a response as it streams by, split anywhere.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

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

namespace {
struct ScanResult {
    std::optional<TokenUsage> usage;
    std::uint64_t delta_bytes;
    std::vector<std::string> models;
};
ScanResult scan_in_pieces(const std::string& text, const std::vector<std::size_t>& cuts) {
    UsageScanner s;
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        s.feed(std::string_view(text).substr(from, cut - from));
        from = cut;
    }
    s.feed(std::string_view(text).substr(from));
    return {s.usage(), s.delta_bytes(), s.models()};
}
bool same_usage(const std::optional<TokenUsage>& a, const std::optional<TokenUsage>& b) {
    if (!a || !b) return !a && !b;
    return a->input == b->input && a->output == b->output && a->cached_input == b->cached_input;
}
}  // namespace

// A whole piece takes the fast path (a memchr per quote, the key compared at
// once); one byte at a time takes step() for every byte, as the scanner did
// before. Both, and random cuts between, must agree on any mix of keys,
// quotes, escapes and braces.
TEST_CASE("usage scanner: whole pieces, single bytes and random cuts agree") {
    const std::vector<std::string> fragments = {"\"usage\"",
                                                "\"delta\"",
                                                "\"model\"",
                                                ":",
                                                " ",
                                                "{",
                                                "}",
                                                "\"",
                                                "\\",
                                                "\\\"",
                                                "\"input_tokens\":",
                                                "\"output_tokens\":",
                                                "\"cached_tokens\":",
                                                "12",
                                                ",",
                                                "\"gpt-5\"",
                                                "abc",
                                                "null",
                                                "\n",
                                                "\"usa",
                                                "ge\"",
                                                "\"del",
                                                "data: ",
                                                "[",
                                                "]"};
    std::mt19937 rng(20261205);
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const int n = std::uniform_int_distribution<int>(1, 120)(rng);
        for (int k = 0; k < n; ++k)
            text +=
                fragments[std::uniform_int_distribution<std::size_t>(0, fragments.size() - 1)(rng)];
        std::vector<std::size_t> every_byte;
        for (std::size_t k = 1; k < text.size(); ++k) every_byte.push_back(k);
        std::vector<std::size_t> random_cuts;
        for (std::size_t k = 1; k < text.size(); ++k)
            if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) random_cuts.push_back(k);
        const ScanResult whole = scan_in_pieces(text, {});
        const ScanResult bytes = scan_in_pieces(text, every_byte);
        const ScanResult cut = scan_in_pieces(text, random_cuts);
        CAPTURE(text);
        CHECK(same_usage(whole.usage, bytes.usage));
        CHECK(whole.delta_bytes == bytes.delta_bytes);
        CHECK(whole.models == bytes.models);
        CHECK(same_usage(cut.usage, bytes.usage));
        CHECK(cut.delta_bytes == bytes.delta_bytes);
        CHECK(cut.models == bytes.models);
    }
}
