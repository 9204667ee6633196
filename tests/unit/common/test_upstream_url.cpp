#include <doctest/doctest.h>

#include <string>

#include "common/upstream_url.hpp"

using proxy::UpstreamUrl;

namespace {

UpstreamUrl parse_url_ok(const std::string& url) {
    UpstreamUrl out;
    std::string error;
    const bool ok = proxy::parse_upstream_url(url, out, error);
    CHECK_MESSAGE(ok, url, ": ", error);
    CHECK(error.empty());
    return out;
}

std::string parse_url_error(const std::string& url) {
    UpstreamUrl out;
    out.host = "untouched";
    std::string error;
    CHECK_MESSAGE(!proxy::parse_upstream_url(url, out, error), url);
    CHECK(out.host == "untouched");
    CHECK(!error.empty());
    CHECK(error.find('\n') == std::string::npos);
    return error;
}

}  // namespace

TEST_CASE("upstream URL: the default") {
    auto u = parse_url_ok("https://api.openai.com/v1/responses");
    CHECK(u.tls);
    CHECK(u.host == "api.openai.com");
    CHECK(u.port == 443);
    CHECK(u.host_header == "api.openai.com");
    CHECK(u.path_and_query == "/v1/responses");
}

TEST_CASE("upstream URL: http, ports and default path") {
    auto u = parse_url_ok("http://127.0.0.1:8080");
    CHECK(!u.tls);
    CHECK(u.host == "127.0.0.1");
    CHECK(u.port == 8080);
    CHECK(u.host_header == "127.0.0.1:8080");
    CHECK(u.path_and_query == "/");

    u = parse_url_ok("http://localhost/");
    CHECK(u.port == 80);
    CHECK(u.host_header == "localhost");

    u = parse_url_ok("HTTPS://Example.COM:443/x");  // scheme is case-insensitive
    CHECK(u.tls);
    CHECK(u.port == 443);
    CHECK(u.host_header == "Example.COM:443");  // as written, port included

    CHECK(parse_url_ok("https://h:1/").port == 1);
    CHECK(parse_url_ok("https://h:65535/").port == 65535);
    CHECK(parse_url_ok("https://h:00443/").port == 443);
}

TEST_CASE("upstream URL: IPv6 literals keep brackets only in host_header") {
    auto u = parse_url_ok("https://[::1]:8443/v1/responses");
    CHECK(u.host == "::1");
    CHECK(u.port == 8443);
    CHECK(u.host_header == "[::1]:8443");
    u = parse_url_ok("https://[2001:db8::1]/v1");
    CHECK(u.host == "2001:db8::1");
    CHECK(u.port == 443);
    CHECK(u.host_header == "[2001:db8::1]");
}

TEST_CASE("upstream URL: query is kept") {
    CHECK(parse_url_ok("https://h/v1/responses?api-version=2025-01-01").path_and_query ==
          "/v1/responses?api-version=2025-01-01");
    CHECK(parse_url_ok("https://h?a=b").path_and_query == "/?a=b");
    CHECK(parse_url_ok("https://h/a%20b").path_and_query == "/a%20b");
}

TEST_CASE("upstream URL: refused") {
    CHECK(parse_url_error("ftp://h/").find("scheme") != std::string::npos);
    parse_url_error("api.openai.com/v1/responses");
    parse_url_error("https:/h/");
    parse_url_error("");
    CHECK(parse_url_error("https://user:pw@h/").find("user") != std::string::npos);
    parse_url_error("https://@h/");
    parse_url_error("https://h/v1/responses?x=1#frag");
    CHECK(parse_url_error("https://h/#").find("fragment") != std::string::npos);
    CHECK(parse_url_error("https:///v1").find("empty") != std::string::npos);
    parse_url_error("https://:443/v1");
    parse_url_error("https://h:/v1");  // empty port
    parse_url_error("https://h:0/v1");
    parse_url_error("https://h:65536/v1");
    parse_url_error("https://h:99999999999999999999/v1");
    parse_url_error("https://h:+80/v1");
    parse_url_error("https://h:80a/v1");
    parse_url_error("https://[::1/v1");
    parse_url_error("https://[]/v1");
    parse_url_error("https://[not-v6]/v1");
    parse_url_error("https://[fe80::1%25eth0]/v1");  // zone ids: no
    parse_url_error("https://[::1]x/v1");
    parse_url_error("https://h h/v1");
    parse_url_error("https://h/v1 responses");
    parse_url_error("https://h/v1\tx");
    parse_url_error("https://h/v1\r\nX-Injected: 1");
    parse_url_error(std::string("https://h/v1\0x", 14));
    parse_url_error("https://h\xc3\xa9/v1");
    parse_url_error("https://h/\x7f");
    parse_url_error("https://h/a%2");
    parse_url_error("https://h/a%zz");
    parse_url_error("https://h/a\"b");
    parse_url_error("https://h/a<b>");
    parse_url_error("https://h\\evil/v1");
    parse_url_error("https://h%2eevil/v1");
}
