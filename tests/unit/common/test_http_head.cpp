#include <doctest/doctest.h>

#include "common/http_head.hpp"

using namespace proxy;
using namespace proxy::http;

namespace {

HeadFault split(std::string_view block, HeaderList& fields, std::string_view& start,
                HeadLimits limits = {}) {
    return split_head(block, limits, start, fields);
}

HeadFault fault_of(std::string_view block, HeadLimits limits = {}) {
    HeaderList fields;
    std::string_view start;
    return split(block, fields, start, limits);
}

}  // namespace

TEST_CASE("find_head_end") {
    CHECK(find_head_end("") == 0);
    CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n") == 0);
    CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r") == 0);
    CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 27);
    // Body bytes and a pipelined request after the head stay outside it.
    CHECK(find_head_end("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n") == 18);
    CHECK(find_head_end("\r\n\r\n") == 4);
    // Bare-LF empty lines end the head too, so the parser can refuse at once.
    CHECK(find_head_end("GET / HTTP/1.1\n\n") == 16);
    CHECK(find_head_end("GET / HTTP/1.1\r\n\nX") == 17);
    CHECK(find_head_end("GET / HTTP/1.1\n\r\nX") == 17);
    CHECK(find_head_end("a\rb\r\r\n") == 0);
}

TEST_CASE("split_head returns the start line and fields as received") {
    std::string_view block = "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-b:\t two  words \t\r\nEmpty:\r\n\r\n";
    HeaderList fields;
    std::string_view start;
    REQUIRE(split(block, fields, start) == HeadFault::None);
    CHECK(start == "HTTP/1.1 200 OK");
    REQUIRE(fields.size() == 3);
    CHECK(fields[0].name == "X-A");
    CHECK(fields[0].value == "1");
    CHECK(fields[1].name == "x-b");
    CHECK(fields[1].value == "two  words");
    CHECK(fields[2].name == "Empty");
    CHECK(fields[2].value == "");
}

TEST_CASE("split_head faults") {
    CHECK(fault_of("A\r\n\r\n") == HeadFault::None);
    CHECK(fault_of("A\r\n\r\nB") == HeadFault::NotOneHead);
    CHECK(fault_of("A\r\n\r\nB\r\n\r\n") == HeadFault::NotOneHead);
    CHECK(fault_of("A\r\nB: c\r\n") == HeadFault::NotOneHead);
    CHECK(fault_of("\r\n\r\n") == HeadFault::EmptyStartLine);
    CHECK(fault_of("\r\nA\r\n\r\n") == HeadFault::EmptyStartLine);
    CHECK(fault_of("A\n\n") == HeadFault::BadLineEnding);
    CHECK(fault_of("A\r\nB: c\n\r\n") == HeadFault::BadLineEnding);
    CHECK(fault_of("A\r\nB: c\rd\r\n\r\n") == HeadFault::BadLineEnding);
    CHECK(fault_of("A\rB\r\n\r\n") == HeadFault::BadLineEnding);
    CHECK(fault_of("A\r\n c\r\n\r\n") == HeadFault::ObsFold);
    CHECK(fault_of("A\r\nB: c\r\n\td\r\n\r\n") == HeadFault::ObsFold);
    CHECK(fault_of("A\r\nB c\r\n\r\n") == HeadFault::MissingColon);
    CHECK(fault_of("A\r\n: c\r\n\r\n") == HeadFault::BadFieldName);
    CHECK(fault_of("A\r\nB(: c\r\n\r\n") == HeadFault::BadFieldName);
    CHECK(fault_of("A\r\nB : c\r\n\r\n") == HeadFault::SpaceBeforeColon);
    CHECK(fault_of("A\r\nB\t: c\r\n\r\n") == HeadFault::SpaceBeforeColon);
    CHECK(fault_of(std::string_view("A\r\nB: \0\r\n\r\n", 11)) == HeadFault::BadFieldValue);
    CHECK(fault_of("A\r\nB: \x7f\r\n\r\n") == HeadFault::BadFieldValue);
}

TEST_CASE("split_head limits are inclusive") {
    std::string block = "A\r\nB: 1\r\nC: 2\r\n\r\n";
    CHECK(fault_of(block, {block.size(), 2}) == HeadFault::None);
    CHECK(fault_of(block, {block.size() - 1, 2}) == HeadFault::TooLarge);
    CHECK(fault_of(block, {block.size(), 1}) == HeadFault::TooManyFields);
}

TEST_CASE("parse_http_version") {
    auto v = parse_http_version("HTTP/1.1");
    REQUIRE(v);
    CHECK(v->major == 1);
    CHECK(v->minor == 1);
    CHECK(parse_http_version("HTTP/2.0")->major == 2);
    CHECK_FALSE(parse_http_version("http/1.1"));
    CHECK_FALSE(parse_http_version("HTTP/1.10"));
    CHECK_FALSE(parse_http_version("HTTP/1"));
    CHECK_FALSE(parse_http_version("HTTP/11"));
    CHECK_FALSE(parse_http_version("HTTP/a.1"));
    CHECK_FALSE(parse_http_version("HTTP/1.1 "));
}

TEST_CASE("scan_content_length") {
    auto s = scan_content_length({{"Content-Length", "5"}});
    CHECK(s.lines == 1);
    CHECK(s.members == 1);
    CHECK(s.all_valid);
    CHECK(s.all_equal);
    CHECK(s.value == 5);
    s = scan_content_length({{"content-length", "5, 5"}, {"CONTENT-LENGTH", "5"}});
    CHECK(s.lines == 2);
    CHECK(s.members == 3);
    CHECK(s.all_valid);
    CHECK(s.all_equal);
    s = scan_content_length({{"Content-Length", "5"}, {"Content-Length", "6"}});
    CHECK(s.all_valid);
    CHECK_FALSE(s.all_equal);
    CHECK_FALSE(scan_content_length({{"Content-Length", "5,"}}).all_valid);
    CHECK_FALSE(scan_content_length({{"Content-Length", "x"}}).all_valid);
    CHECK(scan_content_length({{"X", "5"}}).lines == 0);
}

TEST_CASE("wants_keep_alive") {
    CHECK(wants_keep_alive(1, {}));
    CHECK_FALSE(wants_keep_alive(1, {{"Connection", "close"}}));
    CHECK_FALSE(wants_keep_alive(1, {{"connection", "Upgrade, CLOSE"}}));
    CHECK_FALSE(wants_keep_alive(0, {}));
    CHECK(wants_keep_alive(0, {{"Connection", "Keep-Alive"}}));
    CHECK_FALSE(wants_keep_alive(0, {{"Connection", "keep-alive, close"}}));
}
