#include <doctest/doctest.h>

#include <string>

#include "common/options.hpp"
#include "parent/upstream/upstream_proxy_connect.hpp"
#include "parent/upstream/upstream_proxy_route.hpp"

TEST_CASE("parse_connect_answer: status and a printable reason") {
    auto a = proxy::parse_connect_answer("HTTP/1.1 200 Connection established\r\n\r\n");
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(a->reason == "Connection established");
    auto b = proxy::parse_connect_answer(
        "HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n");
    REQUIRE(b);
    CHECK(b->status == 407);
    CHECK(b->reason == "Proxy Authentication Required");
    auto c = proxy::parse_connect_answer("HTTP/1.1 403\r\n\r\n");
    REQUIRE(c);
    CHECK(c->status == 403);
    CHECK(c->reason.empty());
    auto d = proxy::parse_connect_answer("HTTP/1.1 502 bad\x1b[31m\r\n\r\n");
    REQUIRE(d);
    CHECK(d->reason == "bad?[31m");
    CHECK(!proxy::parse_connect_answer("SSH-2.0-OpenSSH\r\n\r\n"));
    CHECK(!proxy::parse_connect_answer("HTTP/1.1 20 x\r\n\r\n"));
    CHECK(!proxy::parse_connect_answer("HTTP/1.1 2000\r\n\r\n"));
    CHECK(!proxy::parse_connect_answer("HTTP/2 200\r\n\r\n"));
}

TEST_CASE("connect_request_head: authority with the port, Basic credentials only when given") {
    proxy::UpstreamUrl u;
    u.host = "api.openai.com";
    u.port = 443;
    CHECK(proxy::connect_request_head(u, "", "", false) ==
          "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n");
    u.host = "::1";
    u.port = 8443;
    CHECK(proxy::connect_request_head(u, "Aladdin", "open sesame", true) ==
          "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n"
          "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
}

TEST_CASE("choose_upstream_route: flag over environment, NO_PROXY, https only") {
    proxy::UpstreamUrl u;
    u.host = "api.openai.com";
    u.port = 443;
    u.tls = true;
    proxy::Options o;
    proxy::ProxyEnvironment env;
    env.proxy = "http://env-proxy:3128";
    env.proxy_var = "HTTPS_PROXY";
    proxy::RouteChoice r;
    std::string error;
    // The route into `r`, or why not into `error`.
    const auto choose = [&] {
        auto chosen = proxy::choose_upstream_route(o, env, u);
        if (chosen) r = *chosen;
        error = chosen ? "" : chosen.error();
        return chosen.ok();
    };
    REQUIRE(choose());
    REQUIRE(r.proxy);
    CHECK(r.proxy->host == "env-proxy");
    CHECK(r.proxy->source == "HTTPS_PROXY");

    env.no_proxy = ".openai.com";
    env.no_proxy_var = "NO_PROXY";
    REQUIRE(choose());
    CHECK(!r.proxy);
    CHECK(r.note.find("NO_PROXY matches") != std::string::npos);

    o.upstream_proxy = "http://flag-proxy:8080";  // ignores NO_PROXY
    REQUIRE(choose());
    REQUIRE(r.proxy);
    CHECK(r.proxy->host == "flag-proxy");

    o.upstream_proxy = "none";
    REQUIRE(choose());
    CHECK(!r.proxy);

    o.upstream_proxy.clear();
    env.no_proxy.clear();
    u.tls = false;  // an http:// upstream (tests) is not sent to HTTPS_PROXY
    REQUIRE(choose());
    CHECK(!r.proxy);

    u.tls = true;
    env.proxy = "socks5://x:1";
    CHECK(!choose());
    CHECK(error.find("HTTPS_PROXY") != std::string::npos);
}
