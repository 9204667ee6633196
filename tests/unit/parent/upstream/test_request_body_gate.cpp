// The parent's gate on request bodies (parent/upstream/request_body_gate.hpp):
// what it lets go upstream, piece by piece, and what it holds back.
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "parent/upstream/request_body_gate.hpp"

using namespace proxy;

namespace {

// Feeds `body` in pieces of `step` bytes; what went upstream, and the verdict.
struct GateRun {
    std::string sent;
    std::string tail;
    std::optional<DetailedRefusal> refused;
    std::size_t sent_before_end = 0;
};

GateRun run(const BodyRules& rules, std::string_view body, std::size_t step,
            BodyCheckContext context = {}) {
    RequestBodyGate gate(rules, std::move(context));
    GateRun r;
    for (std::size_t i = 0; i < body.size() && !gate.refused(); i += step)
        r.sent += gate.feed(body.substr(i, step));
    r.sent_before_end = r.sent.size();
    auto v = gate.finish();
    if (auto* t = std::get_if<std::string>(&v)) {
        r.tail = *t;
        r.sent += *t;
    } else {
        r.refused = std::get<DetailedRefusal>(v);
    }
    return r;
}

BodyRules models(std::vector<std::string> m) {
    BodyRules r;
    r.models = std::move(m);
    r.response_ownership = false;
    return r;
}

}  // namespace

TEST_CASE("an allowed body passes byte for byte, its closing brace last") {
    const std::string body = R"({"model":"gpt-5","input":"hi"})";
    for (std::size_t step : {1u, 3u, 1000u}) {
        const GateRun r = run(models({"gpt-5*"}), body, step);
        CHECK_FALSE(r.refused);
        CHECK(r.sent == body);
        CHECK(r.tail == "}");
        CHECK(r.sent_before_end == body.size() - 1);
    }
}

TEST_CASE("a model named after 100 KB is refused, and the brace never went") {
    const std::string body = "{\"input\":\"" + std::string(100000, 'x') + "\",\"model\":\"gpt-5\"}";
    const GateRun r = run(models({"gpt-5-mini"}), body, 16384);
    REQUIRE(r.refused);
    CHECK(std::string(r.refused->kind.code) == "model_not_allowed");
    CHECK(r.sent == body.substr(0, body.size() - 1));
}

TEST_CASE("the output cap is added where missing, and a larger one refused") {
    BodyRules cap;
    cap.max_output_tokens = 1000;
    cap.response_ownership = false;
    CHECK(run(cap, R"({"model":"m"})", 2).sent == R"({"model":"m","max_output_tokens":1000})");
    CHECK(run(cap, R"({"max_output_tokens":10})", 5).sent == R"({"max_output_tokens":10})");
    const GateRun over = run(cap, R"({"max_output_tokens":1001})", 5);
    REQUIRE(over.refused);
    CHECK(std::string(over.refused->kind.code) == "max_output_tokens_over_limit");
}

TEST_CASE("invalid JSON is refused as soon as it is seen; nothing after it goes") {
    RequestBodyGate gate(models({"gpt-5"}), {});
    CHECK(gate.feed(R"({"model":"gpt-5",)") == R"({"model":"gpt-5",)");
    CHECK(gate.feed("}").empty());
    REQUIRE(gate.refused());
    CHECK(std::string(gate.refused()->kind.code) == "invalid_json");
    CHECK(gate.feed(R"("x":1})").empty());
    CHECK(std::holds_alternative<DetailedRefusal>(gate.finish()));
}

TEST_CASE("previous_response_id must be the caller's own, and stored answers are remembered") {
    BodyRules own;  // response_ownership on by default
    BodyCheckContext ctx;
    ctx.caller = 1000;
    ctx.owner_of = [](std::string_view id) -> std::optional<uid_t> {
        if (id == "resp_mine") return 1000;
        if (id == "resp_theirs") return 1001;
        return std::nullopt;
    };
    CHECK_FALSE(run(own, R"({"previous_response_id":"resp_mine"})", 4, ctx).refused);
    for (const char* other : {R"({"previous_response_id":"resp_theirs"})",
                              R"({"previous_response_id":"resp_unknown"})"}) {
        const GateRun r = run(own, other, 4, ctx);
        REQUIRE(r.refused);
        CHECK(std::string(r.refused->kind.code) == "previous_response_not_yours");
    }
    RequestBodyGate stored(own, ctx);
    stored.feed("{}");
    stored.finish();
    CHECK(stored.remembers_response());
    RequestBodyGate unstored(own, ctx);
    unstored.feed(R"({"store":false})");
    unstored.finish();
    CHECK_FALSE(unstored.remembers_response());
}
