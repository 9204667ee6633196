#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

#include "tests/unit/support/http_heads.hpp"

#include "worker/request_head_parser.hpp"

using namespace proxy;
using proxy::test::head;

namespace {

constexpr HeadLimits kRequestLimits{16 * 1024, 100};

struct RequestParse {
    std::optional<HttpError> error;
    RequestHead head;
};

RequestParse parse_request(std::string_view block, HeadLimits limits = kRequestLimits) {
    RequestParse r;
    r.error = parse_request_head(block, limits, r.head);
    return r;
}

// 0 when accepted, else the refusal status.
int status(std::string_view block, HeadLimits limits = kRequestLimits) {
    auto r = parse_request(block, limits);
    return r.error ? r.error->status : 0;
}

std::string code(std::string_view block) {
    auto r = parse_request(block);
    return r.error ? r.error->code : "";
}

std::string with_host(std::string_view request_line, std::string_view extra = {}) {
    if (extra.empty()) return head(request_line, {"Host: 127.0.0.1:8080"});
    return head(request_line, {"Host: 127.0.0.1:8080", extra});
}

}  // namespace

TEST_CASE("a typical Codex request") {
    auto block = head("POST /v1/responses HTTP/1.1",
                      {"Host: 127.0.0.1:8080", "content-type:   application/json \t",
                       "Content-Length: 42", "X-Empty:"});
    auto r = parse_request(block);
    REQUIRE_FALSE(r.error);
    CHECK(r.head.method == "POST");
    CHECK(r.head.target == "/v1/responses");
    CHECK(r.head.version_minor == 1);
    REQUIRE(r.head.headers.size() == 4);
    CHECK(r.head.headers[1].name == "content-type");
    CHECK(r.head.headers[1].value == "application/json");
    CHECK(r.head.headers[3].name == "X-Empty");
    CHECK(r.head.headers[3].value == "");
    CHECK(r.head.framing == BodyFraming::Length);
    CHECK(r.head.content_length == 42);
    CHECK(r.head.keep_alive);
    CHECK_FALSE(r.head.expect_continue);
}

TEST_CASE("find_head_end leaves the body and pipelined bytes to the caller") {
    std::string first = with_host("GET /a HTTP/1.1");
    std::string buf = first + "GET /b HTTP/1.1\r\n";
    REQUIRE(find_head_end(buf) == first.size());
    CHECK(status(std::string_view(buf).substr(0, find_head_end(buf))) == 0);
    CHECK(find_head_end(std::string_view(buf).substr(first.size())) == 0);
}

TEST_CASE("request line shape") {
    CHECK(status(with_host("GET / HTTP/1.1")) == 0);
    CHECK(status(with_host("GET /a/b?c=d&e=%20 HTTP/1.1")) == 0);
    CHECK(status(with_host("GET  / HTTP/1.1")) == 400);
    CHECK(status(with_host("GET /  HTTP/1.1")) == 400);
    CHECK(status(with_host(" GET / HTTP/1.1")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1 ")) == 400);
    CHECK(status(with_host("GET /")) == 400);
    CHECK(status(with_host("GET")) == 400);
    CHECK(status(with_host("GET\t/ HTTP/1.1")) == 400);
    CHECK(status(with_host("GET / a HTTP/1.1")) == 400);
    CHECK(code(with_host("GET  / HTTP/1.1")) == "bad_request_line");
}

TEST_CASE("method must be a token") {
    CHECK(status(with_host("M-SEARCH / HTTP/1.1")) == 0);
    CHECK(status(with_host("GE(T / HTTP/1.1")) == 400);
    CHECK(status(with_host("G\"T / HTTP/1.1")) == 400);
    CHECK(status(with_host("G\x80T / HTTP/1.1")) == 400);
    CHECK(status(with_host(std::string("G\0T / HTTP/1.1", 14))) == 400);
    CHECK(code(with_host("GE(T / HTTP/1.1")) == "bad_request_line");
}

TEST_CASE("target must be origin-form visible ASCII without '#'") {
    CHECK(status(with_host("OPTIONS * HTTP/1.1")) == 400);
    CHECK(status(with_host("GET http://127.0.0.1:8080/ HTTP/1.1")) == 400);
    CHECK(status(with_host("CONNECT 127.0.0.1:443 HTTP/1.1")) == 400);
    CHECK(status(with_host("GET v1/responses HTTP/1.1")) == 400);
    CHECK(status(with_host("GET /a#frag HTTP/1.1")) == 400);
    CHECK(status(with_host("GET /a\x7f HTTP/1.1")) == 400);
    CHECK(status(with_host("GET /caf\xc3\xa9 HTTP/1.1")) == 400);
    CHECK(status(with_host("GET /a\x01 HTTP/1.1")) == 400);
    CHECK(status(with_host("GET /a\tb HTTP/1.1")) == 400);
    CHECK(code(with_host("GET /a#frag HTTP/1.1")) == "bad_request_line");
}

TEST_CASE("versions: 505 for well-formed others, 400 for malformed") {
    CHECK(status(head("GET / HTTP/1.0", {})) == 0);
    CHECK(status(with_host("GET / HTTP/2.0")) == 505);
    CHECK(status(with_host("GET / HTTP/1.2")) == 505);
    CHECK(status(with_host("GET / HTTP/1.9")) == 505);
    CHECK(status(with_host("GET / HTTP/0.9")) == 505);
    CHECK(status(with_host("GET / HTTP/3.1")) == 505);
    CHECK(code(with_host("GET / HTTP/2.0")) == "http_version_not_supported");
    CHECK(status(head("PRI * HTTP/2.0", {})) == 505);
    CHECK(status(with_host("GET / HTTP/1.10")) == 400);
    CHECK(status(with_host("GET / HTTP/1")) == 400);
    CHECK(status(with_host("GET / HTTP/11")) == 400);
    CHECK(status(with_host("GET / http/1.1")) == 400);
    CHECK(status(with_host("GET / HTTPS/1.1")) == 400);
    CHECK(status(with_host("GET / HTTP/1.x")) == 400);
    CHECK(code(with_host("GET / HTTP/1.10")) == "bad_request_line");
}

TEST_CASE("every line ends with CRLF: bare CR or LF anywhere is 400") {
    CHECK(status("GET / HTTP/1.1\nHost: a\r\n\r\n") == 400);
    CHECK(status("GET / HTTP/1.1\r\nHost: a\n\r\n") == 400);
    CHECK(status("GET / HTTP/1.1\r\nHost: a\r\n\n") == 400);
    CHECK(status("GET / HTTP/1.1\n\n") == 400);
    CHECK(status("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") == 400);
    CHECK(status("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status("GET / HTTP/1.1\r\nX: a\nHost: b\r\n\r\n") == 400);
    CHECK(code("GET / HTTP/1.1\r\nHost: a\n\r\n") == "bad_line_ending");
    // The block must be exactly one head.
    CHECK(status(with_host("GET / HTTP/1.1") + "x") == 400);
    CHECK(status("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
}

TEST_CASE("header field line syntax") {
    CHECK(status(with_host("GET / HTTP/1.1", "X-Tab: a\tb")) == 0);
    CHECK(status(with_host("GET / HTTP/1.1", "X-Obs-Text: \x80\xff")) == 0);
    CHECK(status(with_host("GET / HTTP/1.1", "X-A : b")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X-A\t: b")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X A: b")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", ": b")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X-A b")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X(A): b")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", std::string("X-A: a\0b", 8))) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X-A: a\x01")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X-A: a\x7f")) == 400);
    CHECK(status(with_host("GET / HTTP/1.1", "X-A: a\x1b[0m")) == 400);
    CHECK(code(with_host("GET / HTTP/1.1", "X-A : b")) == "bad_header");
}

TEST_CASE("obs-fold is refused") {
    CHECK(status(head("GET / HTTP/1.1", {"Host: a", "X-A: b", " c"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"Host: a", "X-A: b", "\tc"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {" Host: a"})) == 400);
    CHECK(code(head("GET / HTTP/1.1", {"Host: a", "X-A: b", " c"})) == "bad_header");
}

TEST_CASE("limits: 431 beyond max_headers or max_head_bytes") {
    std::string block = head("GET / HTTP/1.1", {"Host: a", "X-1: 1", "X-2: 2"});
    CHECK(status(block, {block.size(), 3}) == 0);
    CHECK(status(block, {block.size(), 2}) == 431);
    CHECK(status(block, {block.size() - 1, 3}) == 431);
    auto r = parse_request(block, {block.size(), 2});
    REQUIRE(r.error);
    CHECK(std::string(r.error->code) == "too_many_headers");
    r = parse_request(block, {block.size() - 1, 3});
    REQUIRE(r.error);
    CHECK(std::string(r.error->code) == "request_header_too_large");
    // Size is checked before syntax.
    CHECK(status("GET / HTTP/9.9\n\n", {4, 3}) == 431);
}

TEST_CASE("Host: exactly one in HTTP/1.1, at most one in HTTP/1.0") {
    CHECK(status(head("GET / HTTP/1.1", {})) == 400);
    CHECK(code(head("GET / HTTP/1.1", {})) == "bad_host");
    CHECK(status(head("GET / HTTP/1.1", {"Host: a", "Host: a"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"Host: a", "host: b"})) == 400);
    CHECK(status(head("GET / HTTP/1.0", {})) == 0);
    CHECK(status(head("GET / HTTP/1.0", {"Host: a"})) == 0);
    CHECK(status(head("GET / HTTP/1.0", {"Host: a", "Host: a"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"HOST: localhost"})) == 0);
    CHECK(status(head("GET / HTTP/1.1", {"Host: [::1]:8080"})) == 0);
    CHECK(status(head("GET / HTTP/1.1", {"Host:"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"Host: a b"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"Host: a, b"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"Host: user@a"})) == 400);
    CHECK(status(head("GET / HTTP/1.1", {"Host: a/b"})) == 400);
}

TEST_CASE("Content-Length") {
    auto r = parse_request(with_host("POST / HTTP/1.1", "Content-Length: 007"));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Length);
    CHECK(r.head.content_length == 7);
    r = parse_request(with_host("POST / HTTP/1.1", "content-length: 0"));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::Length);
    CHECK(r.head.content_length == 0);
    for (std::string_view bad :
         {"Content-Length: 5, 5", "Content-Length: 5,", "Content-Length: -5", "Content-Length: +5",
          "Content-Length: 5 5", "Content-Length: 0x5", "Content-Length:", "Content-Length: 5a",
          "Content-Length: 99999999999999999999", "Content-Length: 4611686018427387905"}) {
        CHECK_MESSAGE(status(with_host("POST / HTTP/1.1", bad)) == 400, bad);
        CHECK_MESSAGE(code(with_host("POST / HTTP/1.1", bad)) == "bad_framing", bad);
    }
    CHECK(status(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 5", "Content-Length: 5"})) ==
          400);
    CHECK(status(head("POST / HTTP/1.1", {"Host: a", "Content-Length: 5", "Content-Length: 6"})) ==
          400);
}

TEST_CASE("Transfer-Encoding: exactly one coding, chunked") {
    for (std::string_view ok : {"Transfer-Encoding: chunked", "transfer-encoding: CHUNKED",
                                "Transfer-Encoding:  Chunked \t"}) {
        auto r = parse_request(with_host("POST / HTTP/1.1", ok));
        REQUIRE_FALSE(r.error);
        CHECK(r.head.framing == BodyFraming::Chunked);
    }
    for (std::string_view bad :
         {"Transfer-Encoding: gzip", "Transfer-Encoding: chunked, chunked",
          "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked, gzip",
          "Transfer-Encoding: chunked;x=1", "Transfer-Encoding: chunked,",
          "Transfer-Encoding:", "Transfer-Encoding: identity", "Transfer-Encoding: xchunked"}) {
        CHECK_MESSAGE(status(with_host("POST / HTTP/1.1", bad)) == 400, bad);
        CHECK_MESSAGE(code(with_host("POST / HTTP/1.1", bad)) == "bad_framing", bad);
    }
    CHECK(status(head("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked",
                                          "Transfer-Encoding: chunked"})) == 400);
    CHECK(status(head("POST / HTTP/1.0", {"Transfer-Encoding: chunked"})) == 400);
}

TEST_CASE("Content-Length with Transfer-Encoding is refused either way round") {
    CHECK(status(head("POST / HTTP/1.1",
                      {"Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"})) == 400);
    CHECK(status(head("POST / HTTP/1.1",
                      {"Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"})) == 400);
    CHECK(code(head("POST / HTTP/1.1", {"Host: a", "Transfer-Encoding: chunked",
                                        "Content-Length: 5"})) == "bad_framing");
}

TEST_CASE("no framing headers: no body") {
    auto r = parse_request(with_host("GET /shutdown HTTP/1.1"));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.framing == BodyFraming::None);
    CHECK(r.head.content_length == 0);
}

TEST_CASE("keep-alive per version and Connection") {
    CHECK(parse_request(with_host("GET / HTTP/1.1")).head.keep_alive);
    CHECK_FALSE(parse_request(with_host("GET / HTTP/1.1", "Connection: close")).head.keep_alive);
    CHECK_FALSE(parse_request(with_host("GET / HTTP/1.1", "connection: Keep-Alive, Close"))
                    .head.keep_alive);
    CHECK(parse_request(with_host("GET / HTTP/1.1", "Connection: keep-alive")).head.keep_alive);
    CHECK_FALSE(parse_request(head("GET / HTTP/1.0", {})).head.keep_alive);
    CHECK(parse_request(head("GET / HTTP/1.0", {"Connection: keep-alive"})).head.keep_alive);
    CHECK_FALSE(parse_request(head("GET / HTTP/1.0", {"Connection: close"})).head.keep_alive);
}

TEST_CASE("Expect: only 100-continue") {
    auto r = parse_request(with_host("POST / HTTP/1.1", "Expect: 100-continue"));
    REQUIRE_FALSE(r.error);
    CHECK(r.head.expect_continue);
    CHECK(parse_request(with_host("POST / HTTP/1.1", "expect: 100-Continue")).head.expect_continue);
    for (std::string_view bad :
         {"Expect: 200-ok", "Expect: 100-continue, foo", "Expect:", "Expect: 100-continue;x"}) {
        auto e = parse_request(with_host("POST / HTTP/1.1", bad)).error;
        REQUIRE_MESSAGE(e, bad);
        CHECK(e->status == 417);
        CHECK(std::string(e->code) == "expectation_failed");
    }
    // RFC 9110 10.1.1: HTTP/1.0 clients get no 100 Continue.
    r = parse_request(head("POST / HTTP/1.0", {"Expect: 100-continue"}));
    REQUIRE_FALSE(r.error);
    CHECK_FALSE(r.head.expect_continue);
    CHECK(status(head("POST / HTTP/1.0", {"Expect: x"})) == 417);
}

TEST_CASE("a parse resets what a previous parse left in out") {
    RequestHead h;
    REQUIRE_FALSE(
        parse_request_head(head("POST /x HTTP/1.0", {"Content-Length: 3", "Expect: 100-continue"}),
                           kRequestLimits, h));
    REQUIRE_FALSE(parse_request_head(with_host("GET / HTTP/1.1"), kRequestLimits, h));
    CHECK(h.headers.size() == 1);
    CHECK(h.framing == BodyFraming::None);
    CHECK(h.content_length == 0);
    CHECK(h.version_minor == 1);
    CHECK(h.keep_alive);
}
