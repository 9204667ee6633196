// check_request_body(): what a request body may ask for, in the documented
// order, with messages that name what the request asked.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "policy/request_body_policy.hpp"

using namespace proxy;

namespace {

// The body scanned whole (the scanner's own tests cut it everywhere).
JsonObjectScanner scanned(std::string_view body) {
    JsonObjectScanner s = make_body_scanner();
    s.feed(body);
    s.finish();
    return s;
}

// Who created what, as the parent would know it.
const std::map<std::string, uid_t, std::less<>> kOwners = {
    {"resp_mine", 1000}, {"resp_theirs", 1001}, {"conv_mine", 1000}};

const BodyCheckContext kParent{
    .caller = 1000,
    .owner_of = [](std::string_view id) -> std::optional<uid_t> {
        const auto it = kOwners.find(id);
        if (it == kOwners.end()) return std::nullopt;
        return it->second;
    },
    .cap_must_be_present = false,
};
const BodyCheckContext kWorker{.caller = 1000, .owner_of = {}, .cap_must_be_present = false};

BodyRules all_rules() {
    BodyRules r;
    r.models = {"gpt-5*", "o3"};
    r.max_output_tokens = 4096;
    r.service_tiers = {"default", "flex"};
    r.budget_in_force = true;
    r.response_ownership = true;
    return r;
}

// The body_code of the refusal, or "" when the body may go upstream.
std::string body_code(std::string_view body, const BodyRules& rules = all_rules(),
                      const BodyCheckContext& context = kParent) {
    const auto r = check_request_body(scanned(body), rules, context);
    return r ? std::string(r->kind.code) : std::string();
}

std::string message(std::string_view body, const BodyRules& rules = all_rules(),
                    const BodyCheckContext& context = kParent) {
    const auto r = check_request_body(scanned(body), rules, context);
    REQUIRE(r);
    return r->message;
}

}  // namespace

TEST_CASE("body policy: a request within every rule goes upstream") {
    CHECK(body_code(R"({"model":"gpt-5-codex","input":"hi"})") == "");
    CHECK(body_code(R"({"model":"o3","max_output_tokens":4096,"service_tier":"flex",)"
                    R"("background":false,"previous_response_id":"resp_mine"})") == "");
    CHECK(body_code(R"({"model":"gpt-5","service_tier":null,"background":null,)"
                    R"("previous_response_id":null,"conversation":null})") == "");
    CHECK(body_code(R"({"model":"gpt-5","conversation":"conv_mine"})") == "");
    CHECK(body_code(R"({"model":"gpt-5","conversation":{"id":"conv_mine","x":{"id":1}}})") == "");
    // No rules at all: nothing is read, and nothing refused but invalid JSON.
    BodyRules none;
    none.response_ownership = false;
    CHECK_FALSE(none.reads_body());
    CHECK(body_code(R"({"model":["x"],"model":1,"background":true,"max_output_tokens":-1})",
                    none) == "");
    CHECK(body_code(R"({"x":)", none) == "invalid_json");
}

TEST_CASE("body policy: models, exact or by a trailing '*', named in the refusal") {
    CHECK(body_code(R"({"model":"gpt-4o"})") == "model_not_allowed");
    CHECK(message(R"({"model":"gpt-4o"})") ==
          "model \"gpt-4o\" is not allowed for this user; allowed: gpt-5*, o3");
    CHECK(body_code(R"({"model":"o3-pro"})") == "model_not_allowed");  // exact: o3 only
    CHECK(body_code(R"({"model":"GPT-5"})") == "model_not_allowed");   // case matters
    CHECK(body_code(R"({"model":""})") == "model_not_allowed");
    // A model named after 100 KiB of input is still read.
    const std::string late = R"({"input":")" + std::string(100 * 1024, 'a') + R"(","model":"o1"})";
    CHECK(body_code(late) == "model_not_allowed");
    CHECK(body_code(R"({"input":"x"})") == "missing_required_parameter");
    CHECK(body_code(R"({"model":null})") == "invalid_type");
    CHECK(body_code(R"({"model":{"id":"gpt-5"}})") == "invalid_type");
    CHECK(body_code("{\"model\":\"" + std::string(257, 'g') + "\"}") == "string_above_max_length");

    CHECK(model_matches("gpt-5*", "gpt-5"));
    CHECK(model_matches("gpt-5*", "gpt-5-mini-2025-08-07"));
    CHECK(model_matches("*", "anything"));
    CHECK_FALSE(model_matches("gpt-5*", "gpt-4"));
    CHECK_FALSE(model_matches("gpt-5", "gpt-5-mini"));
    CHECK(model_pattern_error("gpt-5*").empty());
    CHECK(model_pattern_error("o3").empty());
    CHECK_FALSE(model_pattern_error("").empty());
    CHECK_FALSE(model_pattern_error("gpt*5").empty());
    CHECK_FALSE(model_pattern_error("gpt 5").empty());
    CHECK_FALSE(model_pattern_error("gpt-\xc3\xa9").empty());
    CHECK_FALSE(model_pattern_error(std::string(257, 'a')).empty());
    // One rule with the price table's: at most 128 bytes, no quote or backslash.
    CHECK(model_pattern_error(std::string(128, 'a')).empty());
    CHECK_FALSE(model_pattern_error(std::string(129, 'a')).empty());
    CHECK_FALSE(model_pattern_error("gpt\"5").empty());
    CHECK_FALSE(model_pattern_error("gpt\\5").empty());
}

TEST_CASE("body policy: the output cap") {
    CHECK(body_code(R"({"model":"o3","max_output_tokens":4097})") ==
          "max_output_tokens_over_limit");
    CHECK(message(R"({"model":"o3","max_output_tokens":4097})") ==
          "max_output_tokens 4097 is over this user's limit of 4096");
    CHECK(body_code(R"({"model":"o3","max_output_tokens":0})") == "");
    CHECK(body_code(R"({"model":"o3","max_output_tokens":null})") ==
          "max_output_tokens_over_limit");
    for (std::string_view n : {"-1", "1.0", "1e3", "18446744073709551616", "\"100\"", "true"}) {
        CAPTURE(n);
        CHECK(body_code("{\"model\":\"o3\",\"max_output_tokens\":" + std::string(n) + "}") ==
              "invalid_type");
    }
    // Without the field: fine in the worker, which adds it; in the parent's
    // check of what goes upstream, missing means the worker did not.
    CHECK(body_code(R"({"model":"o3"})", all_rules(), kWorker) == "");
    BodyCheckContext upstream = kParent;
    upstream.cap_must_be_present = true;
    CHECK(body_code(R"({"model":"o3"})", all_rules(), upstream) == "max_output_tokens_over_limit");
    CHECK(body_code(R"({"model":"o3","max_output_tokens":4096})", all_rules(), upstream) == "");
}

TEST_CASE("body policy: service tiers and background") {
    CHECK(body_code(R"({"model":"o3","service_tier":"priority"})") == "service_tier_not_allowed");
    CHECK(message(R"({"model":"o3","service_tier":"priority"})") ==
          "service_tier \"priority\" is not allowed for this user; allowed: default, flex");
    CHECK(body_code(R"({"model":"o3","service_tier":1})") == "invalid_type");
    CHECK(body_code(R"({"model":"o3","background":true})") == "background_not_allowed");
    CHECK(body_code(R"({"model":"o3","background":"true"})") == "invalid_type");
    BodyRules no_budget = all_rules();
    no_budget.budget_in_force = false;
    CHECK(body_code(R"({"model":"o3","background":true})", no_budget) == "");
}

TEST_CASE("body policy: another user's stored response, or an unknown one, is refused") {
    CHECK(body_code(R"({"model":"o3","previous_response_id":"resp_theirs"})") ==
          "previous_response_not_yours");
    CHECK(body_code(R"({"model":"o3","previous_response_id":"resp_unknown"})") ==
          "previous_response_not_yours");
    // The same words for both: no oracle for whose an id is.
    CHECK(message(R"({"model":"o3","previous_response_id":"resp_x"})") ==
          "previous_response_id \"resp_x\" is not a response this user created through this "
          "proxy (or one older than the proxy remembers)");
    CHECK(body_code(R"({"model":"o3","conversation":"conv_other"})") == "conversation_not_yours");
    CHECK(body_code(R"({"model":"o3","conversation":{"id":"resp_theirs"}})") ==
          "conversation_not_yours");
    CHECK(body_code(R"({"model":"o3","conversation":{"name":"x"}})") == "invalid_type");
    CHECK(body_code(R"({"model":"o3","conversation":{"id":"a","id":"b"}})") == "duplicate_field");
    CHECK(body_code(R"({"model":"o3","conversation":[]})") == "invalid_type");
    CHECK(body_code(R"({"model":"o3","previous_response_id":7})") == "invalid_type");
    // An unidentified caller owns nothing.
    BodyCheckContext nobody = kParent;
    nobody.caller = std::nullopt;
    CHECK(body_code(R"({"model":"o3","previous_response_id":"resp_mine"})", all_rules(), nobody) ==
          "previous_response_not_yours");
    // The worker cannot know owners: the parent decides.
    CHECK(body_code(R"({"model":"o3","previous_response_id":"resp_theirs"})", all_rules(),
                    kWorker) == "");
    // Turned off, any id goes.
    BodyRules off = all_rules();
    off.response_ownership = false;
    CHECK(body_code(R"({"model":"o3","previous_response_id":"resp_theirs"})", off) == "");
}

TEST_CASE("body policy: invalid JSON, then duplicates, then types, then rules") {
    CHECK(body_code(R"({"model":"gpt-4o",})") == "invalid_json");
    CHECK(message(R"({"model":"gpt-4o",})") ==
          "the request body is not one valid JSON object: invalid JSON syntax at byte 18");
    CHECK(message(R"({"model":"o3")") ==
          "the request body is not one valid JSON object: the JSON object is incomplete at byte "
          "13");
    CHECK(body_code("[]") == "invalid_json");
    // A checked field given twice, even with the same value.
    CHECK(body_code(R"({"model":"o3","model":"o3"})") == "duplicate_field");
    CHECK(message(R"({"model":"o3","model":"o3"})") ==
          "\"model\" is given more than once in the request body");
    // A nested "model" is no duplicate.
    CHECK(body_code(R"({"model":"o3","text":{"model":"x"}})") == "");
    // Duplicates before types before rules, whatever the fields' order.
    CHECK(body_code(R"({"model":"gpt-4o","background":1,"service_tier":"x","service_tier":"y"})") ==
          "duplicate_field");
    CHECK(body_code(R"({"model":"gpt-4o","background":1})") == "invalid_type");
    CHECK(body_code(R"({"background":true,"model":"gpt-4o"})") == "model_not_allowed");
    CHECK(body_code(R"({"model":"o3","background":true,"max_output_tokens":5000})") ==
          "max_output_tokens_over_limit");
    // An unchecked field given twice is the upstream's business.
    BodyRules models_only;
    models_only.models = {"o3"};
    models_only.response_ownership = false;
    CHECK(body_code(R"({"model":"o3","background":true,"background":false})", models_only) == "");
}

TEST_CASE("body policy: whether the response will be stored") {
    CHECK(stores_response(scanned(R"({"model":"o3"})")));
    CHECK(stores_response(scanned(R"({"store":true})")));
    CHECK_FALSE(stores_response(scanned(R"({"store":false})")));
    CHECK(stores_response(scanned(R"({"store":false,"store":true})")));
}

TEST_CASE("body policy: its refusals, as the refusal table's") {
    for (const Refusal* r : refusal::kBodyPolicyAll) {
        CAPTURE(r->code);
        CHECK(r->status >= 400);
        CHECK(r->status < 500);
        CHECK(std::string_view(r->type) == "invalid_request_error");
        CHECK(std::string_view(r->code).size() > 0);
        CHECK(std::string_view(r->message).size() > 0);
    }
    const auto r = check_request_body(scanned(R"({"model":"a\"b"})"), all_rules(), kParent);
    REQUIRE(r);
    CHECK(r->kind.status == 403);
    CHECK(refusal_body(*r) ==
          R"({"error":{"message":"model \"a\\\"b\" is not allowed for this user; allowed: )"
          R"(gpt-5*, o3","type":"invalid_request_error","code":"model_not_allowed"}})");
}

TEST_CASE("body policy: under a dollar budget, a model no price matches is refused") {
    BodyRules r;
    r.response_ownership = false;
    r.must_be_priced = true;
    r.priced_models = {"gpt-5*", "o3"};
    CHECK(r.reads_body());
    CHECK(body_code(R"({"model":"gpt-5-mini"})", r) == "");
    CHECK(body_code(R"({"model":"o3"})", r) == "");
    CHECK(body_code(R"({"model":"o3-pro"})", r) == "model_not_priced");
    CHECK(message(R"({"model":"o4-mini"})", r) ==
          "model \"o4-mini\" has no price in the policy's [prices], and this user has a dollar "
          "budget: its answers could not be charged");
    // No model: the upstream refuses it, nothing to price.
    CHECK(body_code(R"({"input":"x"})", r) == "");
    CHECK(body_code(R"({"model":1})", r) == "invalid_type");
    // An allow list is checked first, and names the refusal.
    r.models = {"gpt-5*", "o4-mini"};
    CHECK(body_code(R"({"model":"gpt-4o"})", r) == "model_not_allowed");
    CHECK(body_code(R"({"model":"o4-mini"})", r) == "model_not_priced");
    CHECK(body_code(R"({"input":"x"})", r) == "missing_required_parameter");
}
