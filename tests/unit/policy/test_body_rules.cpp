// The request-body keys of the policy file and flags, and how they resolve
// for one caller (policy/body_rules.hpp).
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "policy/body_rules.hpp"
#include "policy/policy_file.hpp"

using namespace proxy;

namespace {

NameResolver names() {
    static const std::map<std::string, std::uint32_t, std::less<>> users{{"alice", 1001},
                                                                         {"bob", 1002}};
    static const std::map<std::string, std::uint32_t, std::less<>> groups{{"staff", 500},
                                                                          {"interns", 501}};
    auto find = [](const auto& table, std::string_view n) -> std::optional<std::uint32_t> {
        const auto it = table.find(n);
        if (it == table.end()) return std::nullopt;
        return it->second;
    };
    return NameResolver{[find](std::string_view n) { return find(users, n); },
                        [find](std::string_view n) { return find(groups, n); }};
}

UserPolicy parse_body_rules(std::string_view text, const UserPolicy& base = {}) {
    auto r = parse_policy_text(text, "pol.toml", base, names());
    if (auto* e = std::get_if<std::string>(&r)) FAIL(*e);
    return std::get<UserPolicy>(std::move(r));
}

std::string error_of(std::string_view text) {
    auto r = parse_policy_text(text, "pol.toml", {}, names());
    if (auto* e = std::get_if<std::string>(&r)) return *e;
    return "(parsed)";
}

Caller caller(uid_t uid, std::vector<gid_t> groups = {}) {
    return Caller{true, uid, std::move(groups)};
}

BodyRules rules(const UserPolicy& p, const Caller& c) {
    return body_rules_for(p, c, limits_for(p, c));
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE(
    "body keys in [defaults], [users.X] and [groups.X] resolve user over group over defaults") {
    const UserPolicy p = parse_body_rules(R"(
[defaults]
models = ["gpt-5-mini"]
max_output_tokens = 2000
service_tiers = ["default"]
[groups.staff]
models = ["gpt-5*"]
max_output_tokens = 8000
[groups.interns]
models = ["o3"]
max_output_tokens = 4000
[users.alice]
models = ["*"]
service_tiers = ["default", "flex"]
)");
    const BodyRules none = rules(p, caller(2000));
    CHECK(none.models == Strings{"gpt-5-mini"});
    CHECK(none.max_output_tokens == 2000u);
    CHECK(none.service_tiers == Strings{"default"});
    // Groups only grant: lists joined, the larger cap.
    const BodyRules both = rules(p, caller(2000, {500, 501}));
    CHECK(both.models == Strings{"gpt-5*", "o3"});
    CHECK(both.max_output_tokens == 8000u);
    // The user's own table wins where it speaks, groups and defaults elsewhere.
    const BodyRules alice = rules(p, caller(1001, {501}));
    CHECK(alice.models == Strings{"*"});
    CHECK(alice.max_output_tokens == 4000u);
    CHECK(alice.service_tiers == Strings{"default", "flex"});
    // Without a uid, the groups are not the caller's either.
    CHECK(rules(p, Caller{}).models == Strings{"gpt-5-mini"});
}

TEST_CASE("max_output_tokens = 0 and an empty list mean no rule; a group's 0 beats a cap") {
    const UserPolicy p = parse_body_rules(R"(
[defaults]
models = ["gpt-5"]
max_output_tokens = 1000
[groups.staff]
models = []
max_output_tokens = 0
)");
    const BodyRules r = rules(p, caller(7, {500}));
    CHECK(r.models.empty());
    CHECK_FALSE(r.max_output_tokens.has_value());
}

TEST_CASE("the flags are the base the file overrides") {
    UserPolicy base;
    base.defaults.body.models = Strings{"gpt-5"};
    base.defaults.body.max_output_tokens = 100;
    const UserPolicy p = parse_body_rules("[defaults]\nmax_output_tokens = 300\n", base);
    const BodyRules r = rules(p, caller(1));
    CHECK(r.models == Strings{"gpt-5"});
    CHECK(r.max_output_tokens == 300u);
}

TEST_CASE("background is refused only while a token or dollar budget applies") {
    CHECK_FALSE(
        rules(parse_body_rules("[defaults]\nmax_streams = 2\n"), caller(1)).budget_in_force);
    CHECK(rules(parse_body_rules("[defaults]\ntokens_per_day = 10\n"), caller(1)).budget_in_force);
    CHECK(
        rules(parse_body_rules("[defaults]\ntokens_per_month = 10\n"), caller(1)).budget_in_force);
    CHECK(
        rules(parse_body_rules("[defaults]\ntokens_per_minute = 10\n"), caller(1)).budget_in_force);
    CHECK(
        rules(parse_body_rules("[defaults]\ndollars_per_week = 1.5\n"), caller(1)).budget_in_force);
    CHECK_FALSE(rules(parse_body_rules("[users.alice]\ntokens_per_day = 10\n"), caller(1002))
                    .budget_in_force);
}

TEST_CASE("a dollar budget makes the price table's patterns the models that may be priced") {
    const UserPolicy p = parse_body_rules(R"(
[defaults]
tokens_per_day = 100
[users.alice]
dollars_per_day = 2
[prices."gpt-5*"]
input = 1.25
output = 10
[prices."o3"]
input = 2
output = 8
)");
    const BodyRules alice = rules(p, caller(1001));
    CHECK(alice.must_be_priced);
    CHECK(alice.priced_models == Strings{"gpt-5*", "o3"});
    const BodyRules bob = rules(p, caller(1000));
    CHECK_FALSE(bob.must_be_priced);
    CHECK(bob.priced_models.empty());
}

TEST_CASE("response ownership: automatic where a per-user policy admits more than one user") {
    CHECK_FALSE(response_ownership_in_force(UserPolicy{}));  // no per-user rule: the original
    UserPolicy two;
    two.allow_users = {1001, 1002};
    CHECK(response_ownership_in_force(two));
    UserPolicy one;
    one.allow_users = {1001};
    CHECK_FALSE(response_ownership_in_force(one));
    one.allow_groups = {500};
    CHECK(response_ownership_in_force(one));
    CHECK(response_ownership_in_force(parse_body_rules("[users.alice]\nmax_streams = 1\n")));
    CHECK(response_ownership_in_force(parse_body_rules("[defaults]\nresponse_ownership = true\n")));
    CHECK_FALSE(response_ownership_in_force(parse_body_rules(
        "[defaults]\nresponse_ownership = false\n[users.alice]\nmax_streams = 1\n")));
    CHECK(rules(two, caller(1001)).response_ownership);
    CHECK(rules(two, caller(1001)).reads_body());
    CHECK_FALSE(rules(UserPolicy{}, caller(1001)).reads_body());
}

TEST_CASE("bad body keys are errors naming the file, line and column") {
    CHECK(error_of("[defaults]\nmodels = \"gpt-5\"\n") ==
          "pol.toml:2:10: models must be an array of strings");
    CHECK(error_of("[defaults]\nmodels = [5]\n") == "pol.toml:2:11: models must hold strings");
    CHECK(error_of("[defaults]\nmodels = [\"gpt*5\"]\n") ==
          "pol.toml:2:11: a model pattern has '*' other than at its end: \"gpt*5\"");
    CHECK(error_of("[defaults]\nmodels = [\"\"]\n") ==
          "pol.toml:2:11: a model pattern is empty: \"\"");
    CHECK(error_of("[defaults]\nservice_tiers = [\"Flex\"]\n") ==
          "pol.toml:2:18: a service tier may hold only a-z, 0-9, '_' and '-': \"Flex\"");
    CHECK(error_of("[defaults]\nmax_output_tokens = -1\n") ==
          "pol.toml:2:21: max_output_tokens must not be negative");
    CHECK(error_of("[users.alice]\nresponse_ownership = false\n") ==
          "pol.toml:2:1: response_ownership may be set only in [defaults]");
    CHECK(error_of("[defaults]\nresponse_ownership = 0\n") ==
          "pol.toml:2:22: response_ownership must be true or false");
}
