// JsonMemberAppender: the output cap added to a body that lacks it, as the
// body streams by, with only the closing brace held back.
#include <doctest/doctest.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_member_appender.hpp"
#include "common/json_object_scanner.hpp"

using namespace proxy;

namespace {

constexpr std::array<std::string_view, 2> kKeys = {"model", "max_output_tokens"};
constexpr std::size_t kCap = 1;

// What goes upstream for `body` cut into `step`-byte pieces (0: whole), or
// nullopt when the appender refused it. Each piece's output must be a prefix
// of that piece.
std::optional<std::string> run(std::string_view body, std::size_t step, std::uint64_t cap) {
    JsonObjectScanner scanner(kKeys);
    JsonMemberAppender app(scanner, kCap, cap);
    if (step == 0) step = body.size() + 1;
    std::string out;
    for (std::size_t off = 0; off < body.size(); off += step) {
        const std::string_view piece = body.substr(off, step);
        const std::string_view pass = app.feed(piece);
        if (!pass.empty()) REQUIRE(pass.data() == piece.data());
        REQUIRE(pass.size() <= piece.size());
        out += pass;
    }
    const auto tail = app.finish();
    if (!tail) return std::nullopt;
    return out + *tail;
}

std::optional<std::string> run_cut(std::string_view body, std::size_t cut, std::uint64_t cap) {
    JsonObjectScanner scanner(kKeys);
    JsonMemberAppender app(scanner, kCap, cap);
    std::string out(app.feed(body.substr(0, cut)));
    out += app.feed(body.substr(cut));
    const auto tail = app.finish();
    if (!tail) return std::nullopt;
    return out + *tail;
}

// Every way of cutting the body gives the same output as whole.
std::optional<std::string> run_everywhere(std::string_view body, std::uint64_t cap) {
    CAPTURE(body);
    const auto whole = run(body, 0, cap);
    CHECK(run(body, 1, cap) == whole);
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        CAPTURE(cut);
        REQUIRE(run_cut(body, cut, cap) == whole);
    }
    return whole;
}

}  // namespace

TEST_CASE("member appender: the cap added where the body has none") {
    CHECK(run_everywhere(R"({"model":"gpt-5"})", 4096) ==
          R"({"model":"gpt-5","max_output_tokens":4096})");
    CHECK(run_everywhere("{}", 16) == R"({"max_output_tokens":16})");
    CHECK(run_everywhere(" \n{ \n } \n\n", 16) == " \n{ \n \"max_output_tokens\":16}");
    CHECK(run_everywhere("{\"a\":{\"b\":[{}]} \n}\n", 7) ==
          "{\"a\":{\"b\":[{}]} \n,\"max_output_tokens\":7}");
    // The nested max_output_tokens is not the body's.
    CHECK(run_everywhere(R"({"text":{"max_output_tokens":1}})", 5) ==
          R"({"text":{"max_output_tokens":1},"max_output_tokens":5})");
}

TEST_CASE("member appender: a body that has the key passes unchanged (the policy checks it)") {
    for (std::string_view body :
         {R"({"max_output_tokens":99999,"model":"x"})", R"({"model":"x","max_output_tokens":null})",
          R"({"max_output_tokens":1,"max_output_tokens":2})"}) {
        CHECK(run_everywhere(body, 10) == std::string(body));
    }
}

TEST_CASE("member appender: what it sends, scanned again, carries the cap exactly once") {
    std::string big = R"({"input":")" + std::string(200000, 'x') + R"(","model":"m"})";
    for (std::size_t step : {std::size_t{1000}, std::size_t{65536}}) {
        const auto out = run(big, step, 123);
        REQUIRE(out);
        JsonObjectScanner again(kKeys);
        again.feed(*out);
        REQUIRE(again.finish());
        CHECK(again.member(kCap).count == 1);
        CHECK(again.member(kCap).integer == 123u);
        CHECK(again.member(0).text == "m");
        CHECK(out->substr(0, big.size() - 1) == big.substr(0, big.size() - 1));
    }
}

TEST_CASE("member appender: an invalid body gets nothing more, and no tail") {
    for (std::string_view body : {"", "{", "[]", "{} x", "{\"a\":}", "{\"a\":1}{}"}) {
        CAPTURE(body);
        CHECK_FALSE(run_everywhere(body, 1));
    }
    JsonObjectScanner scanner(kKeys);
    JsonMemberAppender app(scanner, kCap, 1);
    CHECK(app.feed("{\"a\":") == "{\"a\":");
    CHECK(app.feed("x}").empty());  // the piece with the error: nothing of it
    CHECK(app.feed("\"more\"}").empty());
    CHECK_FALSE(app.finish());
}
