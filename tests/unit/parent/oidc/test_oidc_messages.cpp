// --github-oidc's pure parts: request token intake, the JSON reader, the
// request targets, the exchange body and the checks on OpenAI's answer.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <string>
#include <string_view>

#include "parent/oidc/oidc_intake.hpp"
#include "parent/oidc/oidc_json.hpp"
#include "parent/oidc/oidc_messages.hpp"
#include "tests/unit/support/key_pages.hpp"

using namespace proxy;

namespace {

using proxy::test::make_page;

OidcIntakeError intake(KeyPage& page, std::string input, std::size_t chunk = 4096) {
    std::deque<std::string> chunks;
    for (std::size_t i = 0; i < input.size(); i += chunk) chunks.push_back(input.substr(i, chunk));
    return read_oidc_request_token(page, [&chunks](char* buf, std::size_t len) -> ssize_t {
        if (chunks.empty()) return 0;
        std::string& c = chunks.front();
        const std::size_t n = std::min(len, c.size());
        std::memcpy(buf, c.data(), n);
        c.erase(0, n);
        if (c.empty()) chunks.pop_front();
        return static_cast<ssize_t>(n);
    });
}

using proxy::test::all_zero;

// A mutable copy, as the parsers rewrite their input in place.
struct Text {
    std::string s;
    std::span<char> span() { return {s.data(), s.size()}; }
};

}  // namespace

TEST_CASE("oidc intake: the original's limits and characters") {
    auto page = make_page(kOidcRequestTokenMax + 16);
    CHECK(intake(page, "ghrt.abc~+/=x\r\n") == OidcIntakeError::None);
    CHECK(page.header_value() == "Bearer ghrt.abc~+/=x");
    CHECK(intake(page, "first\nsecond\n") == OidcIntakeError::None);
    CHECK(page.header_value() == "Bearer first");
    CHECK(all_zero(page.writable().subspan(page.header_value().size())));
    CHECK(intake(page, "") == OidcIntakeError::Invalid);
    CHECK(intake(page, "has space\n") == OidcIntakeError::Invalid);
    CHECK(intake(page, "a%b\n") == OidcIntakeError::Invalid);
    CHECK(all_zero(page.writable()));
    CHECK(intake(page, std::string(kOidcRequestTokenMax, 'a') + "\r\n") == OidcIntakeError::None);
    CHECK(intake(page, std::string(kOidcRequestTokenMax, 'a')) == OidcIntakeError::None);
    // One byte over: the line still fits the buffer, so "invalid" (as the original).
    CHECK(intake(page, std::string(kOidcRequestTokenMax + 1, 'a') + "\n") ==
          OidcIntakeError::Invalid);
    CHECK(intake(page, std::string(kOidcRequestTokenMax + 2, 'a') + "\n", 1000) ==
          OidcIntakeError::TooLarge);
    CHECK(all_zero(page.writable()));
}

TEST_CASE("oidc json: flat objects, strings unescaped in place, nesting skipped") {
    Text t{R"( {"count":1,"value":"a\"b\\c\/d\u0041","n":{"x":[1,true,null]},"e":-1.5e3} )"};
    auto f = parse_flat_json_object(t.span());
    REQUIRE(f);
    REQUIRE(f->size() == 4);
    CHECK(find_field(*f, "value")->value == "a\"b\\c/dA");
    CHECK(json_unsigned(*find_field(*f, "count")) == 1u);
    CHECK(find_field(*f, "n")->kind == JsonField::Kind::Other);
    CHECK_FALSE(json_unsigned(*find_field(*f, "e")));
    for (const char* bad : {"", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":01}", "{} x",
                            "{\"a\":\"\x01\"}", "{\"a\":tru}"}) {
        Text b{bad};
        CHECK_MESSAGE(!parse_flat_json_object(b.span()), bad);
    }
}

TEST_CASE("oidc settings: request targets and Host as the original sends them") {
    std::string error;
    auto s = make_oidc_settings("https://pipelines.example:8443/_apis/token?api-version=2.0",
                                "api://Codex CI/x&y=1~*", "idp", "sa",
                                "https://auth.openai.com/oauth/token", error);
    REQUIRE_MESSAGE(s, error);
    CHECK(s->github_target ==
          "/_apis/token?api-version=2.0&audience=api%3A%2F%2FCodex+CI%2Fx%26y%3D1%7E*");
    CHECK(s->github_host == "pipelines.example:8443");
    CHECK(s->github.port == 8443);
    CHECK(s->exchange_host == "auth.openai.com");
    CHECK(s->exchange_target == "/oauth/token");
    s = make_oidc_settings("https://gh.example/t", "a", "i", "s", "https://x/oauth/token", error);
    REQUIRE(s);
    CHECK(s->github_target == "/t?audience=a");
    const char* kHttps = "GitHub OIDC request URL must be HTTPS without user info or fragment";
    for (const char* bad : {"http://gh.example/t", "https://u:p@gh.example/t", "https://gh/t#f"}) {
        CHECK_FALSE(make_oidc_settings(bad, "a", "i", "s", "https://x/", error));
        CHECK(error == kHttps);
    }
    CHECK_FALSE(make_oidc_settings("not a url", "a", "i", "s", "https://x/", error));
    CHECK(error == "invalid GitHub OIDC request URL");
}

TEST_CASE("oidc exchange body: GitHub's ID token into the original's JSON") {
    Text gh{R"({"count":1,"value":"eyJ.a\"b.c"})"};
    std::string error;
    auto body = make_exchange_body(gh.span(), "idp\"1", "sa", error);
    REQUIRE_MESSAGE(body, error);
    CHECK(body->sealed());
    CHECK(body->header_value() ==
          R"({"grant_type":"urn:ietf:params:oauth:grant-type:token-exchange",)"
          R"("subject_token_type":"urn:ietf:params:oauth:token-type:jwt",)"
          R"("subject_token":"eyJ.a\"b.c","identity_provider_id":"idp\"1",)"
          R"("service_account_id":"sa"})");
    Text empty{R"({"value":""})"};
    CHECK_FALSE(make_exchange_body(empty.span(), "i", "s", error));
    CHECK(error == "workload identity source returned an invalid subject token");
    Text big{"{\"value\":\"" + std::string(kOidcTokenMax + 1, 'a') + "\"}"};
    CHECK_FALSE(make_exchange_body(big.span(), "i", "s", error));
    CHECK(error == "workload identity source returned an invalid subject token");
    Text none{R"({"count":1})"};
    CHECK_FALSE(make_exchange_body(none.span(), "i", "s", error));
    CHECK(error == "GitHub OIDC returned an invalid token response");
}

TEST_CASE("oidc exchange answer: the original's checks and messages") {
    const std::int64_t now = 1'800'000'000;
    auto answer = [&](std::string access, std::string type, std::string issued, std::string in,
                      std::string at) {
        return Text{"{\"access_token\":\"" + access + "\",\"token_type\":\"" + type +
                    "\",\"issued_token_type\":\"" + issued + "\",\"expires_in\":" + in +
                    ",\"expires_at\":" + at + "}"};
    };
    const std::string kAccess = "urn:ietf:params:oauth:token-type:access_token";
    const std::string soon = std::to_string(now + 60);
    std::string error;
    {
        Text t = answer("oai.tok-1", "bearer", kAccess, "60", soon);
        auto g = parse_exchange_response(t.span(), now, error);
        REQUIRE_MESSAGE(g, error);
        CHECK(g->page.header_value() == "Bearer oai.tok-1");
        CHECK(g->page.sealed());
        CHECK(g->lifetime.count() == 60);
    }
    {
        // The earlier end wins.
        Text t = answer("t", "Bearer", kAccess, "600", soon);
        auto g = parse_exchange_response(t.span(), now, error);
        REQUIRE(g);
        CHECK(g->lifetime.count() == 60);
    }
    struct Bad {
        Text text;
        const char* message;
    } cases[] = {
        {Text{R"({"access_token":"t","token_type":"Bearer","expires_in":60})"},
         "OpenAI workload identity returned an invalid token response"},
        {answer("t", "Bearer", kAccess, "-5", soon),
         "OpenAI workload identity returned an invalid token response"},
        {answer("t", "Bearer", kAccess, "60.5", soon),
         "OpenAI workload identity returned an invalid token response"},
        {answer("t", "Mac", kAccess, "60", soon),
         "OpenAI returned an unsupported workload identity token type"},
        {answer("t", "Bearer", "urn:ietf:params:oauth:token-type:jwt", "60", soon),
         "OpenAI returned an unsupported workload identity token type"},
        {answer("t", "Bearer", kAccess, "0", soon),
         "OpenAI returned an expired workload identity token"},
        {answer("t", "Bearer", kAccess, "60", std::to_string(now)),
         "OpenAI returned an expired workload identity token"},
        {answer("t", "Bearer", kAccess, "3601", std::to_string(now + 3601)),
         "OpenAI returned an invalid token lifetime"},
        {answer("a b", "Bearer", kAccess, "60", soon),
         "invalid workload identity bearer credential"},
        {answer("", "Bearer", kAccess, "60", soon), "invalid workload identity bearer credential"},
    };
    for (auto& c : cases) {
        const std::string shown = c.text.s;
        CHECK_FALSE(parse_exchange_response(c.text.span(), now, error));
        CHECK_MESSAGE(error == c.message, shown);
    }
}
