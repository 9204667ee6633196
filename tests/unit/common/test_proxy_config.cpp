#include <doctest/doctest.h>

#include <map>
#include <string>

#include "common/proxy_config.hpp"

using proxy::no_proxy_matches;
using proxy::ProxyUrl;

namespace {

ProxyUrl parse_proxy_ok(const std::string& text) {
    ProxyUrl out;
    std::string error;
    CHECK_MESSAGE(proxy::parse_proxy_url(text, out, error), text, ": ", error);
    return out;
}

std::string parse_proxy_error(const std::string& text) {
    ProxyUrl out;
    std::string error;
    CHECK_MESSAGE(!proxy::parse_proxy_url(text, out, error), text);
    CHECK(!error.empty());
    return error;
}

std::map<std::string, std::string> g_env;
const char* fake_getenv(const char* name) {
    auto it = g_env.find(name);
    return it == g_env.end() ? nullptr : it->second.c_str();
}

}  // namespace

TEST_CASE("parse_proxy_url: http proxies, with or without scheme, port and credentials") {
    ProxyUrl a = parse_proxy_ok("http://proxy.corp:3128");
    CHECK(a.host == "proxy.corp");
    CHECK(a.port == 3128);
    CHECK(!a.has_credentials);
    CHECK(a.display() == "http://proxy.corp:3128");

    ProxyUrl b = parse_proxy_ok("HTTP://10.1.2.3/");
    CHECK(b.host == "10.1.2.3");
    CHECK(b.port == 80);

    ProxyUrl c = parse_proxy_ok("127.0.0.1:8080");
    CHECK(c.host == "127.0.0.1");
    CHECK(c.port == 8080);

    ProxyUrl d = parse_proxy_ok("http://alice:s3cret%3Ap%40ss@[::1]:3128");
    CHECK(d.host == "::1");
    CHECK(d.has_credentials);
    CHECK(d.user == "alice");
    CHECK(d.password == "s3cret:p@ss");
    CHECK(d.display() == "http://[::1]:3128");  // never the credentials

    ProxyUrl e = parse_proxy_ok("http://bob@proxy:1");
    CHECK(e.user == "bob");
    CHECK(e.password.empty());
}

TEST_CASE("parse_proxy_url: refuses what it cannot do, without echoing a password") {
    CHECK(parse_proxy_error("https://proxy:3128").find("https") != std::string::npos);
    CHECK(parse_proxy_error("socks5://proxy:1080").find("socks5") != std::string::npos);
    parse_proxy_error("socks5h://proxy:1080");
    parse_proxy_error("http://proxy:0");
    parse_proxy_error("http://proxy:99999");
    parse_proxy_error("http://:3128");
    parse_proxy_error("http://proxy:3128/path");
    parse_proxy_error("http://u:p%zz@proxy:3128");
    parse_proxy_error("http://:pw@proxy:3128");
    const std::string e = parse_proxy_error("http://user:hunter2@");
    CHECK(e.find("hunter2") == std::string::npos);
}

TEST_CASE("read_proxy_environment: reqwest's order, empty values unset") {
    g_env = {{"https_proxy", "http://lower:1"},
             {"HTTPS_PROXY", "http://upper:1"},
             {"ALL_PROXY", "http://all:1"},
             {"no_proxy", "b"},
             {"NO_PROXY", "a"}};
    auto env = proxy::read_proxy_environment(&fake_getenv);
    CHECK(env.proxy_var == "HTTPS_PROXY");
    CHECK(env.proxy == "http://upper:1");
    CHECK(env.no_proxy_var == "NO_PROXY");
    CHECK(env.no_proxy == "a");

    g_env = {
        {"HTTPS_PROXY", ""}, {"all_proxy", "http://all:1"}, {"NO_PROXY", ""}, {"no_proxy", "x"}};
    env = proxy::read_proxy_environment(&fake_getenv);
    CHECK(env.proxy_var == "all_proxy");
    CHECK(env.no_proxy_var == "no_proxy");

    g_env = {{"HTTP_PROXY", "http://plain:1"}};  // never for an https upstream
    env = proxy::read_proxy_environment(&fake_getenv);
    CHECK(env.proxy.empty());
    CHECK(env.proxy_var.empty());
    CHECK(proxy::is_proxy_variable("HTTPS_PROXY"));
    CHECK(proxy::is_proxy_variable("no_proxy"));
    CHECK(!proxy::is_proxy_variable("HTTP_PROXY"));
}

TEST_CASE("no_proxy_matches: domains and their subdomains, IPs, CIDRs, *") {
    CHECK(no_proxy_matches("*", "api.openai.com"));
    CHECK(no_proxy_matches("*", "127.0.0.1"));  // the original tunnels here: its * is names only
    CHECK(no_proxy_matches("openai.com", "api.openai.com"));
    CHECK(no_proxy_matches("openai.com", "openai.com"));
    CHECK(no_proxy_matches(".openai.com", "api.openai.com"));
    CHECK(no_proxy_matches(".openai.com", "openai.com"));
    CHECK(no_proxy_matches("OpenAI.COM", "api.openai.com"));
    CHECK(!no_proxy_matches("penai.com", "api.openai.com"));
    CHECK(!no_proxy_matches("api.openai.com", "openai.com"));
    CHECK(no_proxy_matches(" localhost , example.com ,", "example.com"));
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    CHECK(!no_proxy_matches("127.0.0.1", "127.0.0.2"));
    CHECK(no_proxy_matches("127.0.0.0/8", "127.1.2.3"));
    CHECK(!no_proxy_matches("10.0.0.0/8", "127.1.2.3"));
    CHECK(no_proxy_matches("::1", "::1"));
    CHECK(no_proxy_matches("::1", "[::1]"));
    CHECK(no_proxy_matches("fd00::/8", "fd12::5"));
    CHECK(!no_proxy_matches("fd00::/8", "127.0.0.1"));
    CHECK(!no_proxy_matches("127.0.0.1", "localhost"));  // names are not resolved
    CHECK(!no_proxy_matches("", "api.openai.com"));
    CHECK(!no_proxy_matches("api.openai.com:443", "api.openai.com"));  // as reqwest: no ports
}
