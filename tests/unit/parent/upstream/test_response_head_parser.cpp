#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

#include "tests/unit/support/http_heads.hpp"

#include "parent/upstream/response_head_parser.hpp"

using namespace proxy;
using proxy::test::head;

namespace {

constexpr HeadLimits kResponseLimits{16 * 1024, 100};

struct ResponseParse {
    std::optional<HttpError> error;
    ResponseHead head;
};

ResponseParse parse_response(std::string_view block, HeadLimits limits = kResponseLimits) {
    ResponseParse r;
    r.error = parse_response_head(block, limits, r.head);
    return r;
}

// Every refusal is 502 upstream_protocol_error.
bool refused(std::string_view block, HeadLimits limits = kResponseLimits) {
    auto r = parse_response(block, limits);
    if (!r.error) return false;
    CHECK(r.error->status == 502);
    CHECK(std::string(r.error->code) == "upstream_protocol_error");
    return true;
}

}  // namespace

TEST_CASE("a streaming Responses API answer") {
    auto r = parse_response(
        head("HTTP/1.1 200 OK", {"Content-Type: text/event-stream; charset=utf-8",
                                 "transfer-encoding: chunked", "X-Request-Id: abc"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.status == 200);
    CHECK(r.head.reason == "OK");
    CHECK(r.head.version_minor == 1);
    REQUIRE(r.head.headers.size() == 3);
    CHECK(r.head.headers[1].name == "transfer-encoding");
    CHECK(r.head.headers[0].value == "text/event-stream; charset=utf-8");
    CHECK(r.head.framing == BodyFraming::Chunked);
    CHECK(r.head.keep_alive);
}

TEST_CASE("status line") {
    auto r = parse_response(head("HTTP/1.1 404 Not  Found\t", {"Content-Length: 0"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.status == 404);
    CHECK(r.head.reason == "Not  Found\t");
    r = parse_response(head("HTTP/1.1 200 ", {"Content-Length: 0"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.status == 200);
    CHECK(r.head.reason == "");
    r = parse_response(head("HTTP/1.1 200", {"Content-Length: 0"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.reason == "");
    r = parse_response(head("HTTP/1.0 200 OK", {"Content-Length: 0"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.version_minor == 0);
    CHECK(parse_response(head("HTTP/1.1 599 x", {})).head.status == 599);
    CHECK(parse_response(head("HTTP/1.1 100 Continue", {})).head.status == 100);

    CHECK(refused(head("HTTP/1.1 200OK", {})));
    CHECK(refused(head("HTTP/1.1  200 OK", {})));
    CHECK(refused(head("HTTP/1.1 20 OK", {})));
    CHECK(refused(head("HTTP/1.1 2000 OK", {})));
    CHECK(refused(head("HTTP/1.1 2x0 OK", {})));
    CHECK(refused(head("HTTP/1.1 099 x", {})));
    CHECK(refused(head("HTTP/1.1 600 x", {})));
    CHECK(refused(head("HTTP/1.1 200 O\x01K", {})));
    CHECK(refused(head("HTTP/1.1", {})));
    CHECK(refused(head("HTTP/2 200", {})));
    CHECK(refused(head("HTTP/2.0 200 OK", {})));
    CHECK(refused(head("HTTP/1.2 200 OK", {})));
    CHECK(refused(head("http/1.1 200 OK", {})));
    CHECK(refused(head("ICY 200 OK", {})));
    CHECK(refused(head(" HTTP/1.1 200 OK", {})));
}

TEST_CASE("head syntax faults are upstream protocol errors") {
    CHECK(refused("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"));
    CHECK(refused("HTTP/1.1 200 OK\r\nContent-Length: 0\n\n"));
    CHECK(refused("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"));
    CHECK(refused(head("HTTP/1.1 200 OK", {"X: a", " folded"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"X : a"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"X a"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {std::string_view("X: \0", 4)})));
    CHECK(refused(head("HTTP/1.1 200 OK", {}) + "body"));
    std::string block = head("HTTP/1.1 200 OK", {"A: 1", "B: 2"});
    CHECK_FALSE(refused(block, {block.size(), 2}));
    CHECK(refused(block, {block.size(), 1}));
    CHECK(refused(block, {block.size() - 1, 2}));
}

TEST_CASE("1xx, 204 and 304 have no body whatever the headers say") {
    for (std::string_view line : {"HTTP/1.1 100 Continue", "HTTP/1.1 103 Early Hints",
                                  "HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"}) {
        auto r = parse_response(head(line, {"Content-Length: 10", "Transfer-Encoding: chunked"}));
        REQUIRE_FALSE_MESSAGE(r.error, line);
        CHECK(r.head.framing == BodyFraming::None);
        CHECK(r.head.keep_alive);
    }
    CHECK(parse_response(head("HTTP/1.1 205 Reset Content", {})).head.framing ==
          BodyFraming::UntilClose);
}

TEST_CASE("Transfer-Encoding: final chunked is Chunked, anything else reads until close") {
    for (std::string_view te : {"Transfer-Encoding: chunked", "Transfer-Encoding: CHUNKED",
                                "Transfer-Encoding: gzip, chunked"}) {
        auto r = parse_response(head("HTTP/1.1 200 OK", {te}));
        REQUIRE_FALSE_MESSAGE(r.error, te);
        CHECK(r.head.framing == BodyFraming::Chunked);
        CHECK(r.head.keep_alive);
    }
    auto r = parse_response(
        head("HTTP/1.1 200 OK", {"Transfer-Encoding: gzip", "Transfer-Encoding: chunked"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Chunked);
    for (std::string_view te : {"Transfer-Encoding: gzip", "Transfer-Encoding: chunked, gzip",
                                "Transfer-Encoding: chunked;x=1"}) {
        r = parse_response(head("HTTP/1.1 200 OK", {te, "Content-Length: 5"}));
        REQUIRE_FALSE_MESSAGE(r.error, te);
        CHECK(r.head.framing == BodyFraming::UntilClose);
        CHECK_FALSE(r.head.keep_alive);
    }
    CHECK(refused(head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked, chunked"})));
    CHECK(refused(
        head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked,"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Transfer-Encoding: g(zip), chunked"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Transfer-Encoding:"})));
    CHECK(refused(head("HTTP/1.0 200 OK", {"Transfer-Encoding: chunked"})));
}

TEST_CASE("Transfer-Encoding overrides Content-Length but the connection is not reused") {
    auto r = parse_response(
        head("HTTP/1.1 200 OK", {"Content-Length: 5", "Transfer-Encoding: chunked"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Chunked);
    CHECK_FALSE(r.head.keep_alive);
}

TEST_CASE("Content-Length") {
    auto r = parse_response(head("HTTP/1.1 200 OK", {"Content-Length: 1234"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Length);
    CHECK(r.head.content_length == 1234);
    CHECK(r.head.keep_alive);
    r = parse_response(head("HTTP/1.1 200 OK", {"Content-Length: 7, 7", "content-length: 7"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Length);
    CHECK(r.head.content_length == 7);
    r = parse_response(head("HTTP/1.1 200 OK", {"Content-Length: 0"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Length);
    CHECK(r.head.content_length == 0);
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length: 7", "Content-Length: 8"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length: 7, 8"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length: 7,"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length: -1"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length: 1 2"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length:"})));
    CHECK(refused(head("HTTP/1.1 200 OK", {"Content-Length: 99999999999999999999"})));
    auto e =
        parse_response(head("HTTP/1.1 200 OK", {"Content-Length: 7", "Content-Length: 8"})).error;
    REQUIRE(e);
    CHECK(std::string(e->message) == "conflicting Content-Length values");
}

TEST_CASE("neither framing header: read until close, no reuse") {
    auto r = parse_response(head("HTTP/1.1 200 OK", {"Connection: keep-alive"}));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::UntilClose);
    CHECK_FALSE(r.head.keep_alive);
}

TEST_CASE("keep-alive") {
    CHECK_FALSE(parse_response(head("HTTP/1.1 200 OK", {"Content-Length: 1", "Connection: close"}))
                    .head.keep_alive);
    CHECK_FALSE(parse_response(head("HTTP/1.1 200 OK", {"Content-Length: 1", "connection: Close"}))
                    .head.keep_alive);
    CHECK_FALSE(parse_response(head("HTTP/1.0 200 OK", {"Content-Length: 1"})).head.keep_alive);
    CHECK(parse_response(head("HTTP/1.0 200 OK", {"Content-Length: 1", "Connection: keep-alive"}))
              .head.keep_alive);
    CHECK_FALSE(
        parse_response(head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked", "Connection: close"}))
            .head.keep_alive);
}

TEST_CASE("find_head_end is shared with the request side") {
    std::string block = head("HTTP/1.1 200 OK", {"Content-Length: 2"});
    CHECK(find_head_end(block + "hi") == block.size());
    CHECK(find_head_end(block.substr(0, block.size() - 1)) == 0);
}
