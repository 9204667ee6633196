// ResponseIdScanner: the id of the response an answer creates, found as the
// answer streams by, however it is cut.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>

#include "parent/upstream/response_id_scanner.hpp"

using namespace proxy;

namespace {

std::optional<std::string> scan_id(std::string_view body, std::size_t step) {
    ResponseIdScanner s;
    for (std::size_t off = 0; off < body.size(); off += step) s.feed(body.substr(off, step));
    return s.id();
}

// The same answer whole, a byte at a time, and cut once anywhere.
std::optional<std::string> scan_everywhere(std::string_view body) {
    CAPTURE(body);
    const auto whole = scan_id(body, body.size() + 1);
    CHECK(scan_id(body, 1) == whole);
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        ResponseIdScanner s;
        s.feed(body.substr(0, cut));
        s.feed(body.substr(cut));
        CAPTURE(cut);
        REQUIRE(s.id() == whole);
    }
    return whole;
}

}  // namespace

TEST_CASE("response id scanner: the id from response.created") {
    const std::string sse =
        "event: response.created\n"
        "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":"
        "\"resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b\",\"object\":\"response\","
        "\"previous_response_id\":\"resp_earlier\",\"output\":[]}}\n\n"
        "event: response.output_item.added\n"
        "data: {\"type\":\"response.output_item.added\",\"item\":{\"id\":\"resp_not_this\"}}\n\n";
    CHECK(scan_everywhere(sse) == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b");
}

TEST_CASE("response id scanner: a JSON answer's top-level id, pretty-printed or not") {
    CHECK(scan_everywhere(R"({"id":"resp_1","object":"response","output":[{"id":"msg_2"}]})") ==
          "resp_1");
    CHECK(scan_everywhere("{\n  \"id\" :\t\"resp_2\",\n  \"object\": \"response\"\n}\n") ==
          "resp_2");
}

TEST_CASE("response id scanner: what the model wrote is inside a string and never matches") {
    const std::string sse =
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"{\\\"id\\\": "
        "\\\"resp_forged\\\"} and \\\\\"}\n\n"
        "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_real\"}}\n\n";
    CHECK(scan_everywhere(sse) == "resp_real");
}

TEST_CASE("response id scanner: other ids, other keys, other values are passed over") {
    CHECK(scan_everywhere(
              R"({"item":{"id":"msg_1"},"previous_response_id":"resp_x","id":"resp_y"})") ==
          "resp_y");
    CHECK(scan_everywhere(R"({"id":42,"x":"id","y":["id"],"id":null,"id":"resp_z"})") == "resp_z");
    CHECK(scan_everywhere(R"({"id":"resp_a b","id":"resp_\u0041","id":"resp_ok"})") == "resp_ok");
    const std::string too_long = "resp_" + std::string(200, 'a');
    CHECK(scan_everywhere("{\"id\":\"" + too_long + "\",\"id\":\"resp_short\"}") == "resp_short");
    CHECK_FALSE(scan_everywhere(R"({"error":{"message":"no","type":"x","code":"y"}})"));
    CHECK_FALSE(scan_everywhere(""));
}

TEST_CASE("response id scanner: the first id is kept") {
    ResponseIdScanner s;
    s.feed(R"({"id":"resp_first"})");
    s.feed(R"({"id":"resp_second"})");
    CHECK(s.id() == "resp_first");
}
