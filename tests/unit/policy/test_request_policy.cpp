#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "policy/refusal.hpp"
#include "policy/request_policy.hpp"

using namespace proxy;

namespace {

constexpr std::uint16_t kPort = 8080;

RequestPolicy policy(bool shutdown = false, std::vector<std::string> hosts = {}) {
    return RequestPolicy{kPort, std::move(hosts), shutdown};
}

RequestHead request_head(std::string method, std::string target, HeaderList headers,
                         int version_minor = 1) {
    RequestHead h;
    h.method = std::move(method);
    h.target = std::move(target);
    h.version_minor = version_minor;
    h.headers = std::move(headers);
    return h;
}

// A well-formed Codex CLI request plus extra headers.
RequestHead post(HeaderList extra = {}, std::string host = "127.0.0.1:8080") {
    HeaderList hs{{"Host", std::move(host)}, {"Content-Type", "application/json"}};
    hs.insert(hs.end(), extra.begin(), extra.end());
    return request_head("POST", "/v1/responses", std::move(hs));
}

bool same(const std::optional<Refusal>& got, const Refusal& want) {
    return got && got->status == want.status && std::string_view(got->code) == want.code;
}

bool accepted(const Decision& d) {
    return !d.refusal && d.route == Route::Forward;
}

}  // namespace

TEST_CASE("make_request_policy copies the options and the bound port") {
    Options o;
    o.http_shutdown = true;
    o.allowed_hosts = {"proxy.internal"};
    const RequestPolicy p = make_request_policy(o, 4321);
    CHECK(p.port == 4321);
    CHECK(p.http_shutdown);
    CHECK(p.allowed_hosts == std::vector<std::string>{"proxy.internal"});
}

TEST_CASE("the plain Codex request is forwarded") {
    CHECK(accepted(decide(post(), policy())));
}

TEST_CASE("Host forms that name the proxy") {
    for (const char* host :
         {"127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "LocalHost:8080", "[::1]:8080"}) {
        CAPTURE(host);
        CHECK(accepted(decide(post({}, host), policy())));
    }
}

TEST_CASE("Host forms that do not name the proxy are 421") {
    for (const char* host : {"evil.example:8080",
                             "evil.example",
                             "127.0.0.1:8081",
                             "localhost:80",
                             "localhost",
                             "127.0.0.1",
                             "[::1]",
                             "::1",
                             "::1:8080",
                             "[::1]:8081",
                             "localhost.:8080",
                             "127.0.0.2:8080",
                             "0.0.0.0:8080",
                             "[0:0:0:0:0:0:0:1]:8080",
                             "localhost:08080",
                             "localhost:+8080",
                             "localhost:",
                             "localhost:8080:8080",
                             "localhost :8080",
                             "user@localhost:8080",
                             "localhost:8080/",
                             "127.1:8080",
                             "2130706433:8080",
                             "localhost.evil.example:8080",
                             "[::1]x:8080",
                             "",
                             ":8080"}) {
        CAPTURE(host);
        CHECK(same(decide(post({}, host), policy()).refusal, refusal::kMisdirectedRequest));
    }
}

TEST_CASE("Host without a port is accepted only when the port is 80") {
    const RequestPolicy p80{80, {}, false};
    for (const char* host : {"localhost", "127.0.0.1", "[::1]", "localhost:80"}) {
        CAPTURE(host);
        CHECK(accepted(decide(post({}, host), p80)));
    }
    CHECK(same(decide(post({}, "localhost:8080"), p80).refusal, refusal::kMisdirectedRequest));
}

TEST_CASE("configured allowed hosts") {
    const RequestPolicy p = policy(false, {"proxy.internal", "front.example:443"});
    CHECK(accepted(decide(post({}, "proxy.internal"), p)));
    CHECK(accepted(decide(post({}, "PROXY.internal:8080"), p)));
    CHECK(accepted(decide(post({}, "front.example:443"), p)));
    CHECK(accepted(decide(post({}, "localhost:8080"), p)));  // loopback names still work
    for (const char* host : {"proxy.internal:9999", "front.example", "front.example:8080",
                             "other.internal", "proxy.internal.evil:8080"}) {
        CAPTURE(host);
        CHECK(same(decide(post({}, host), p).refusal, refusal::kMisdirectedRequest));
    }
    CHECK(host_names_proxy("proxy.internal", p));
    CHECK_FALSE(host_names_proxy("proxy.internal", policy()));
}

TEST_CASE("missing or repeated Host") {
    // HTTP/1.0 without Host cannot come from a browser: allowed.
    CHECK(accepted(decide(request_head("POST", "/v1/responses", {}, 0), policy())));
    // HTTP/1.1 requires exactly one Host.
    CHECK(same(decide(request_head("POST", "/v1/responses", {}), policy()).refusal,
               refusal::kBadRequest));
    CHECK(same(decide(request_head("POST", "/v1/responses",
                                   {{"Host", "localhost:8080"}, {"host", "localhost:8080"}}),
                      policy())
                   .refusal,
               refusal::kBadRequest));
    // HTTP/1.0 with a wrong Host is still rebinding.
    CHECK(same(
        decide(request_head("POST", "/v1/responses", {{"Host", "evil.example:8080"}}, 0), policy())
            .refusal,
        refusal::kMisdirectedRequest));
    // Host is checked case-insensitively by name.
    CHECK(accepted(
        decide(request_head("POST", "/v1/responses", {{"hOsT", "localhost:8080"}}), policy())));
}

TEST_CASE("Host is checked before anything else") {
    RequestHead h = post({{"Origin", "http://evil.example"}}, "evil.example:8080");
    h.target = "/nope";
    CHECK(same(decide(h, policy()).refusal, refusal::kMisdirectedRequest));
}

TEST_CASE("browser markers are refused") {
    const HeaderList browser[] = {
        {{"Origin", "http://evil.example"}},
        {{"Origin", "null"}},
        {{"origin", "http://127.0.0.1:8080"}},  // even same-origin: a page on our port
        {{"Origin", ""}},
        {{"Sec-Fetch-Site", "cross-site"}},
        {{"Sec-Fetch-Site", "same-site"}},
        {{"Sec-Fetch-Site", "same-origin"}},
        {{"sec-fetch-site", "CROSS-SITE"}},
        {{"Sec-Fetch-Site", ""}},
        {{"Sec-Fetch-Site", "none, cross-site"}},
        {{"Sec-Fetch-Site", "none"}, {"Sec-Fetch-Site", "cross-site"}},
        {{"Sec-Fetch-Mode", "cors"}},
        {{"Sec-Fetch-Mode", "navigate"}},
        {{"Sec-Fetch-Mode", "no-cors"}},
        {{"sec-fetch-mode", "WebSocket"}},
        {{"Sec-Fetch-Mode", "cors"}, {"Sec-Fetch-Site", "cross-site"}},
    };
    for (const auto& extra : browser) {
        CAPTURE(extra.front().name);
        CAPTURE(extra.front().value);
        CHECK(same(decide(post(extra), policy()).refusal, refusal::kBrowserRequest));
    }
}

TEST_CASE("user-initiated and non-browser fetch metadata is accepted") {
    const HeaderList ok[] = {
        {{"Sec-Fetch-Site", "none"}},
        {{"Sec-Fetch-Site", "NONE"}},
        {{"Sec-Fetch-Site", "none"}, {"Sec-Fetch-Mode", "navigate"}},
        {{"Sec-Fetch-Site", "none"}, {"Sec-Fetch-Mode", "cors"}},
        {{"Sec-Fetch-Mode", "same-origin"}},
        {{"Sec-Fetch-Dest", "empty"}},
        {{"Referer", "http://example.com/"}},
    };
    for (const auto& extra : ok) {
        CAPTURE(extra.front().name);
        CHECK(accepted(decide(post(extra), policy())));
    }
}

TEST_CASE("browser check comes before upgrade and route") {
    RequestHead h = request_head(
        "GET", "/v1/responses",
        {{"Host", "localhost:8080"}, {"Origin", "http://evil.example"}, {"Upgrade", "websocket"}});
    CHECK(same(decide(h, policy()).refusal, refusal::kBrowserRequest));
}

TEST_CASE("websocket upgrade on /v1/responses is 426") {
    for (const char* method : {"GET", "POST"}) {
        for (const char* upgrade : {"websocket", "WebSocket", "foo, websocket"}) {
            CAPTURE(method);
            CAPTURE(upgrade);
            RequestHead h = request_head(
                method, "/v1/responses",
                {{"Host", "127.0.0.1:8080"}, {"Connection", "Upgrade"}, {"Upgrade", upgrade}});
            const Decision d = decide(h, policy());
            CHECK(same(d.refusal, refusal::kWebsocketUpgrade));
            CHECK(d.refusal->status == 426);
        }
    }
}

TEST_CASE("other upgrades are 403") {
    const RequestHead cases[] = {
        request_head("GET", "/v1/responses", {{"Host", "localhost:8080"}, {"Upgrade", "h2c"}}),
        request_head("POST", "/v1/responses", {{"Host", "localhost:8080"}, {"upgrade", "TLS/1.2"}}),
        request_head("POST", "/v1/responses", {{"Host", "localhost:8080"}, {"Upgrade", ""}}),
        request_head("GET", "/shutdown", {{"Host", "localhost:8080"}, {"Upgrade", "websocket"}}),
        request_head("GET", "/v1/responses?x=1",
                     {{"Host", "localhost:8080"}, {"Upgrade", "websocket"}}),
        request_head("PUT", "/v1/responses",
                     {{"Host", "localhost:8080"}, {"Upgrade", "websocket"}}),
        request_head("GET", "/", {{"Host", "localhost:8080"}, {"Upgrade", "websocket"}}),
    };
    for (const auto& h : cases) {
        CAPTURE(h.method);
        CAPTURE(h.target);
        CHECK(same(decide(h, policy(true)).refusal, refusal::kUpgradeRefused));
    }
}

TEST_CASE("only POST /v1/responses, byte-exact, is forwarded") {
    struct Case {
        const char* method;
        const char* target;
    };
    const Case refused[] = {
        {"POST", "/v1/responses?x=1"},
        {"POST", "/v1/responses?"},
        {"POST", "/v1/responses/"},
        {"POST", "//v1/responses"},
        {"POST", "/v1/Responses"},
        {"POST", "/V1/responses"},
        {"POST", "/v1/responses#"},
        {"POST", "/v1/responses#x"},
        {"POST", "/v1/%72esponses"},
        {"POST", "/v1%2Fresponses"},
        {"POST", "/v1/responses%00"},
        {"POST", "/v1/./responses"},
        {"POST", "/v1/../v1/responses"},
        {"POST", "/v1/responses;x"},
        {"POST", "v1/responses"},
        {"POST", "/v1/responses "},
        {"POST", "http://127.0.0.1:8080/v1/responses"},
        {"POST", "/responses"},
        {"POST", "/v1"},
        {"POST", "/"},
        {"POST", "*"},
        {"POST", ""},
        {"POST", "/shutdown"},
        {"post", "/v1/responses"},
        {"Post", "/v1/responses"},
        {"GET", "/v1/responses"},
        {"PUT", "/v1/responses"},
        {"DELETE", "/v1/responses"},
        {"HEAD", "/v1/responses"},
        {"OPTIONS", "/v1/responses"},
        {"OPTIONS", "*"},
        {"PATCH", "/v1/responses"},
        {"CONNECT", "api.openai.com:443"},
        {"TRACE", "/v1/responses"},
        {"GET", "/"},
        {"GET", "/v1/models"},
        {"POST", "/v1/chat/completions"},
        {"GET", "/shutdown"},  // http_shutdown is off here
    };
    for (const auto& c : refused) {
        CAPTURE(c.method);
        CAPTURE(c.target);
        const Decision d =
            decide(request_head(c.method, c.target, {{"Host", "127.0.0.1:8080"}}), policy(false));
        CHECK(same(d.refusal, refusal::kForbidden));
    }
}

TEST_CASE("GET /shutdown with --http-shutdown") {
    const RequestPolicy p = policy(true);
    const Decision d = decide(request_head("GET", "/shutdown", {{"Host", "localhost:8080"}}), p);
    CHECK_FALSE(d.refusal);
    CHECK(d.route == Route::Shutdown);
    CHECK(accepted(decide(post(), p)));  // forwarding still works
    for (const char* target :
         {"/shutdown/", "/shutdown?now", "/Shutdown", "//shutdown", "/shutdown#"}) {
        CAPTURE(target);
        CHECK(same(decide(request_head("GET", target, {{"Host", "localhost:8080"}}), p).refusal,
                   refusal::kForbidden));
    }
    for (const char* method : {"POST", "HEAD", "get", "DELETE"}) {
        CAPTURE(method);
        CHECK(
            same(decide(request_head(method, "/shutdown", {{"Host", "localhost:8080"}}), p).refusal,
                 refusal::kForbidden));
    }
    // Browsers and rebinding pages cannot shut the proxy down.
    CHECK(same(decide(request_head("GET", "/shutdown",
                                   {{"Host", "localhost:8080"}, {"Sec-Fetch-Site", "cross-site"}}),
                      p)
                   .refusal,
               refusal::kBrowserRequest));
    CHECK(same(decide(request_head("GET", "/shutdown", {{"Host", "evil.example:8080"}}), p).refusal,
               refusal::kMisdirectedRequest));
    // A user typing the URL into the address bar is the user, not a page.
    const Decision typed = decide(request_head("GET", "/shutdown",
                                               {{"Host", "localhost:8080"},
                                                {"Sec-Fetch-Site", "none"},
                                                {"Sec-Fetch-Mode", "navigate"}}),
                                  p);
    CHECK(typed.route == Route::Shutdown);
    CHECK_FALSE(typed.refusal);
}

TEST_CASE("refusal table: statuses, types and codes") {
    for (const Refusal* r : refusal::kAll) {
        CAPTURE(r->code);
        CHECK(r->status >= 400);
        CHECK(r->status < 600);
        const std::string_view type = r->type;
        // 429s use OpenAI's rate-limit types ("requests", "tokens"), or
        // its type for money spent ("insufficient_quota"), as the API's own
        // 429s do; everything else is a client or server error.
        if (r->status == 429)
            CHECK((type == "requests" || type == "tokens" || type == "insufficient_quota"));
        else
            CHECK(type == (r->status < 500 ? "invalid_request_error" : "server_error"));
        CHECK(std::string_view(r->code).size() > 0);
        CHECK(std::string_view(r->message).size() > 0);
    }
    CHECK(refusal::kForbidden.status == 403);
    CHECK(refusal::kMisdirectedRequest.status == 421);
    CHECK(refusal::kBrowserRequest.status == 403);
    CHECK(refusal::kWebsocketUpgrade.status == 426);
    CHECK(refusal::kUpgradeRefused.status == 403);
    CHECK(refusal::kBadRequest.status == 400);
    CHECK(refusal::kRequestTimeout.status == 408);
    CHECK(refusal::kBodyTooLarge.status == 413);
    CHECK(refusal::kExpectationFailed.status == 417);
    CHECK(refusal::kHeaderTooLarge.status == 431);
    CHECK(refusal::kVersionNotSupported.status == 505);
    CHECK(refusal::kOverloaded.status == 503);
    CHECK(refusal::kShuttingDown.status == 503);
    CHECK(std::string_view(refusal::kUpstreamUnreachable.code) == "upstream_unreachable");
    CHECK(std::string_view(refusal::kUpstreamTls.code) == "upstream_tls_error");
    CHECK(std::string_view(refusal::kUpstreamProtocol.code) == "upstream_protocol_error");
    CHECK(refusal::kUpstreamTimeout.status == 504);
    CHECK(refusal_body(refusal::kForbidden) ==
          R"({"error":{"message":"only POST /v1/responses is allowed",)"
          R"("type":"invalid_request_error","code":"forbidden"}})");
}
