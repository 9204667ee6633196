#include <doctest/doctest.h>

#include <string>

#include "policy/header_policy.hpp"

using namespace proxy;

namespace {

std::string names(const HeaderList& hs) {
    std::string out;
    for (const auto& h : hs) {
        if (!out.empty()) out += ',';
        out += h.name;
    }
    return out;
}

bool same_list(const HeaderList& a, const HeaderList& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].value != b[i].value) return false;
    }
    return true;
}

// What the Codex CLI sends, byte for byte.
const HeaderList kCodexHeaders = {
    {"content-type", "application/json"},
    {"accept", "text/event-stream"},
    {"content-encoding", "zstd"},
    {"session-id", "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
    {"originator", "codex_cli_rs"},
    {"x-codex-turn-metadata", "{\"turn\":1}"},
    {"OpenAI-Beta", "responses=experimental"},
    {"User-Agent", "codex_cli_rs/0.169.0 (Ubuntu 24.4.0; x86_64) xterm-256color"},
    {"x-client-request-id", "abc"},
};

constexpr std::size_t kMaxHeaders = 100;
constexpr std::size_t kMaxBytes = 64 << 10;
constexpr ForwardLimits kForwardLimits{kMaxHeaders, kMaxBytes};

}  // namespace

TEST_CASE("make_header_rules copies the fixed values") {
    Options o;
    o.openai_organization = "org-1";
    o.openai_project = "proj-2";
    const HeaderRules r = make_header_rules(o);
    CHECK(r.fixed_organization == "org-1");
    CHECK(r.fixed_project == "proj-2");
    CHECK(make_header_rules(Options{}).fixed_organization.empty());
}

TEST_CASE("Codex headers pass byte-exact and in order") {
    CHECK(same_list(filter_request_headers(kCodexHeaders, {}), kCodexHeaders));
}

TEST_CASE("request: hop-by-hop and denied headers are dropped, in any case") {
    HeaderList in = {{"a", "1"}};
    for (const char* name : {"Connection",
                             "Keep-Alive",
                             "Proxy-Connection",
                             "TE",
                             "Trailer",
                             "Transfer-Encoding",
                             "Upgrade",
                             "Host",
                             "Content-Length",
                             "Expect",
                             "Authorization",
                             "Proxy-Authorization",
                             "Cookie",
                             "OpenAI-Organization",
                             "OpenAI-Project",
                             "connection",
                             "KEEP-ALIVE",
                             "te",
                             "transfer-encoding",
                             "HOST",
                             "content-length",
                             "expect",
                             "authorization",
                             "AUTHORIZATION",
                             "cookie",
                             "openai-organization",
                             "OPENAI-PROJECT"}) {
        in.push_back({name, "x"});
    }
    in.push_back({"b", "2"});
    const HeaderList out = filter_request_headers(in, {});
    CHECK(names(out) == "a,b");
}

TEST_CASE("request: headers named in Connection are dropped") {
    const HeaderList in = {
        {"X-Keep", "1"},
        {"Connection", "keep-alive, X-Secret"},
        {"x-secret", "drop me"},
        {"connection", " x-other ,close"},
        {"X-Other", "drop me too"},
        {"X-Secret-Not", "kept"},
        {"session-id", "s"},
    };
    CHECK(names(filter_request_headers(in, {})) == "X-Keep,X-Secret-Not,session-id");
}

TEST_CASE("request: fixed organization and project replace the client's") {
    HeaderList in = kCodexHeaders;
    in.push_back({"OpenAI-Organization", "org-client"});
    in.push_back({"openai-project", "proj-client"});
    const HeaderRules rules{"org-fixed", "proj-fixed"};
    const HeaderList out = filter_request_headers(in, rules);
    HeaderList want = kCodexHeaders;
    want.push_back({"OpenAI-Organization", "org-fixed"});
    want.push_back({"OpenAI-Project", "proj-fixed"});
    CHECK(same_list(out, want));

    const HeaderList only_project = filter_request_headers(in, {"", "p"});
    CHECK(only_project.back().name == "OpenAI-Project");
    CHECK(only_project.size() == kCodexHeaders.size() + 1);
}

TEST_CASE("response: hop-by-hop, Connection-named and framing headers are dropped") {
    const HeaderList in = {
        {"Content-Type", "text/event-stream; charset=utf-8"},
        {"Transfer-Encoding", "chunked"},
        {"Connection", "keep-alive, X-Hop"},
        {"Keep-Alive", "timeout=5"},
        {"x-hop", "1"},
        {"content-length", "10"},
        {"Set-Cookie", "__cf_bm=abc; path=/; HttpOnly"},
        {"x-request-id", "req_123"},
        {"openai-processing-ms", "42"},
        {"openai-organization", "org-x"},
        {"Upgrade", "h2c"},
        {"Trailer", "x"},
        {"TE", "trailers"},
        {"Proxy-Connection", "close"},
        {"cf-ray", "8f-IAD"},
    };
    const HeaderList out = filter_response_headers(in);
    CHECK(names(out) ==
          "Content-Type,Set-Cookie,x-request-id,openai-processing-ms,openai-organization,cf-ray");
    CHECK(out[0].value == "text/event-stream; charset=utf-8");
    CHECK(out[1].value == "__cf_bm=abc; path=/; HttpOnly");
}

TEST_CASE("check_forwarded_headers accepts what the filter produces") {
    const HeaderRules none{};
    const HeaderRules fixed{"org-fixed", "proj-fixed"};
    HeaderList noisy = kCodexHeaders;
    noisy.push_back({"Authorization", "Bearer sk-user"});
    noisy.push_back({"Host", "localhost:1"});
    noisy.push_back({"OpenAI-Organization", "org-client"});
    noisy.push_back({"Connection", "x-a"});
    noisy.push_back({"x-a", "1"});
    for (const HeaderRules* rules : {&none, &fixed}) {
        CHECK_FALSE(check_forwarded_headers(filter_request_headers(kCodexHeaders, *rules), *rules,
                                            kForwardLimits));
        CHECK_FALSE(
            check_forwarded_headers(filter_request_headers(noisy, *rules), *rules, kForwardLimits));
    }
    CHECK_FALSE(check_forwarded_headers({}, none, kForwardLimits));
}

TEST_CASE("check_forwarded_headers refuses denied headers from a worker") {
    for (const char* name :
         {"Host", "host", "Authorization", "AUTHORIZATION", "Proxy-Authorization", "Content-Length",
          "Transfer-Encoding", "transfer-encoding", "Connection", "Keep-Alive", "Proxy-Connection",
          "TE", "Trailer", "Upgrade", "Expect", "Cookie"}) {
        CAPTURE(name);
        HeaderList hs = kCodexHeaders;
        hs.push_back({name, "x"});
        const auto reason = check_forwarded_headers(hs, {}, kForwardLimits);
        REQUIRE(reason);
        CHECK(reason->why.find("denied header") == 0);
        CHECK(reason->refusal == &refusal::kBadRequest);
    }
}

TEST_CASE("check_forwarded_headers refuses bad names and values") {
    const HeaderList bad[] = {
        {{"x-a", "1\r\nAuthorization: Bearer sk-evil"}},
        {{"x-a", "1\nHost: evil"}},
        {{"x-a", "1\r"}},
        {{"x-a", std::string("a\0b", 3)}},
        {{"x-a", "\x01"}},
        {{"x-a", "\x7f"}},
        {{"x-a", " leading"}},
        {{"x-a", "trailing\t"}},
        {{"", "empty name"}},
        {{"x a", "1"}},
        {{"x-a:", "1"}},
        {{"x-a\r\nHost", "evil"}},
        {{"Host\r\n", "evil"}},
        {{std::string("x\0", 2), "1"}},
        {{"x-\xc3\xa9", "1"}},
    };
    for (const auto& hs : bad) {
        CAPTURE(hs.front().name);
        CAPTURE(hs.front().value);
        CHECK(check_forwarded_headers(hs, {}, kForwardLimits));
    }
    // obs-text and inner whitespace are valid field values.
    CHECK_FALSE(check_forwarded_headers({{"x-a", "caf\xc3\xa9 au\tlait"}}, {}, kForwardLimits));
    CHECK_FALSE(check_forwarded_headers({{"x-a", ""}}, {}, kForwardLimits));
}

TEST_CASE("check_forwarded_headers enforces the fixed organization and project") {
    const HeaderRules fixed{"org-fixed", "proj-fixed"};
    const HeaderList good = {
        {"a", "1"}, {"OpenAI-Organization", "org-fixed"}, {"OpenAI-Project", "proj-fixed"}};
    CHECK_FALSE(check_forwarded_headers(good, fixed, kForwardLimits));
    // Missing, altered, repeated, or present while not configured.
    CHECK(check_forwarded_headers({{"a", "1"}}, fixed, kForwardLimits));
    CHECK(check_forwarded_headers(
        {{"OpenAI-Organization", "org-other"}, {"OpenAI-Project", "proj-fixed"}}, fixed,
        kForwardLimits));
    CHECK(check_forwarded_headers({{"OpenAI-Organization", "org-fixed"},
                                   {"openai-organization", "org-fixed"},
                                   {"OpenAI-Project", "proj-fixed"}},
                                  fixed, kForwardLimits));
    CHECK(check_forwarded_headers({{"OpenAI-Organization", "org-x"}}, {}, kForwardLimits));
    CHECK(check_forwarded_headers({{"openai-project", "p"}}, {}, kForwardLimits));
    CHECK(check_forwarded_headers({{"OpenAI-Project", "proj-fixed"}}, {"", "proj-fixed"},
                                  kForwardLimits) == std::nullopt);
}

TEST_CASE("check_forwarded_headers enforces count and size limits") {
    HeaderList hs;
    for (int i = 0; i < 10; ++i) hs.push_back({"x-" + std::to_string(i), "v"});
    CHECK_FALSE(check_forwarded_headers(hs, {}, {10, kMaxBytes}));
    auto many = check_forwarded_headers(hs, {}, {9, kMaxBytes});
    REQUIRE(many);
    CHECK(many->why == "too many header fields");
    CHECK(many->refusal == &refusal::kTooManyHeaders);

    // Each field counts as "name:value\r\n", its shortest wire form: "x-0:v\r\n" is 7 bytes.
    CHECK_FALSE(check_forwarded_headers(hs, {}, {kMaxHeaders, 70}));
    auto large = check_forwarded_headers(hs, {}, {kMaxHeaders, 69});
    REQUIRE(large);
    CHECK(large->why == "header fields too large");
    CHECK(large->refusal == &refusal::kHeaderTooLarge);
    // The fixed headers count too.
    const HeaderList fixed = {{"OpenAI-Project", "p"}};  // 14 + 1 + 3 = 18
    CHECK_FALSE(check_forwarded_headers(fixed, {"", "p"}, {kMaxHeaders, 18}));
    CHECK(check_forwarded_headers(fixed, {"", "p"}, {kMaxHeaders, 17}));
}

TEST_CASE("forward_limits: the client's limits plus the fixed fields' own share") {
    Options o;
    o.max_headers = 20;
    o.max_header_bytes = 4096;
    const ForwardLimits none = forward_limits(o, make_header_rules(o));
    CHECK(none.max_fields == 20);
    CHECK(none.max_bytes == 4096);
    o.openai_organization = "org-x";  // "OpenAI-Organization:org-x\r\n" = 19 + 1 + 5 + 2
    o.openai_project = "p";           // "OpenAI-Project:p\r\n" = 14 + 1 + 1 + 2
    const ForwardLimits both = forward_limits(o, make_header_rules(o));
    CHECK(both.max_fields == 22);
    CHECK(both.max_bytes == 4096 + 27 + 18);
}
