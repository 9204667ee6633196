// The policy file's budgets of issue 24: prices, dollars, tokens per week,
// month and minute, and the budget zone.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <variant>

#include "policy/policy_file.hpp"

using namespace proxy;

namespace {

NameResolver budget_names() {
    return NameResolver{[](std::string_view n) -> std::optional<uid_t> {
                            if (n == "alice") return 1001;
                            return std::nullopt;
                        },
                        [](std::string_view n) -> std::optional<gid_t> {
                            if (n == "codex") return 500;
                            return std::nullopt;
                        }};
}

UserPolicy parse_budget_policy_ok(std::string_view text, const UserPolicy& base = {}) {
    auto result = parse_policy_text(text, "pol.toml", base, budget_names());
    if (const auto* error = std::get_if<std::string>(&result)) FAIL("unexpected error: " << *error);
    return std::get<UserPolicy>(std::move(result));
}

std::string parse_budget_policy_error(std::string_view text) {
    auto result = parse_policy_text(text, "pol.toml", UserPolicy{}, budget_names());
    if (std::holds_alternative<UserPolicy>(result)) {
        FAIL("accepted: " << text);
        return {};
    }
    return std::get<std::string>(result);
}

}  // namespace

TEST_CASE("policy file: prices in USD per million tokens, a trailing * allowed") {
    const UserPolicy p = parse_budget_policy_ok(
        "[prices.\"gpt-5\"]\ninput = 1.25\ncached_input = 0.125\noutput = 10.0\n"
        "[prices.\"gpt-5-mini*\"]\ninput = 0.25\noutput = 2\n");
    REQUIRE(p.prices.size() == 2);
    const PriceEntry* full = p.prices.find("gpt-5");
    REQUIRE(full != nullptr);
    CHECK(full->price == ModelPrice{1'250'000, 125'000, 10'000'000});
    const PriceEntry* mini = p.prices.find("gpt-5-mini-2025-08-07");
    REQUIRE(mini != nullptr);
    // No cached_input: cached input costs what input does.
    CHECK(mini->price == ModelPrice{250'000, 250'000, 2'000'000});
    CHECK(p.prices.find("o3") == nullptr);
    CHECK(p.prices.highest() == ModelPrice{1'250'000, 250'000, 10'000'000});
}

TEST_CASE("policy file: dollars and tokens per period, per level") {
    const UserPolicy p = parse_budget_policy_ok(
        "[defaults]\ndollars_per_day = 2.5\ndollars_per_week = 10\ndollars_per_month = 30\n"
        "tokens_per_week = 700000\ntokens_per_month = 3000000\ntokens_per_minute = 40000\n"
        "[users.alice]\ndollars_per_day = 0\n"
        "[groups.codex]\ndollars_per_month = 100.000001\n");
    CHECK(p.defaults.dollars_per_day == 2'500'000u);
    CHECK(p.defaults.dollars_per_week == 10'000'000u);
    CHECK(p.defaults.dollars_per_month == 30'000'000u);
    CHECK(p.defaults.tokens_per_week == 700000u);
    CHECK(p.defaults.tokens_per_month == 3000000u);
    CHECK(p.defaults.tokens_per_minute == 40000u);
    CHECK(p.users.at(1001).dollars_per_day == 0u);
    CHECK(p.groups.at(500).dollars_per_month == 100'000'001u);
    CHECK(p.has_budgets());
}

TEST_CASE("policy file: the budget zone") {
    CHECK(parse_budget_policy_ok("").budget_zone().name() == "UTC");
    CHECK(parse_budget_policy_ok("timezone = \"Europe/Berlin\"\n").budget_zone().name() ==
          "Europe/Berlin");
    // The file's zone replaces the flags'.
    UserPolicy base;
    base.zone = std::get<std::shared_ptr<const TimeZone>>(load_time_zone("America/New_York"));
    CHECK(parse_budget_policy_ok("", base).budget_zone().name() == "America/New_York");
    CHECK(parse_budget_policy_ok("timezone = \"UTC\"\n", base).budget_zone().name() == "UTC");
}

TEST_CASE("policy file: bad prices, dollars and zones are refused with their place") {
    CHECK(parse_budget_policy_error("[defaults]\ndollars_per_day = -1\n")
              .rfind("pol.toml:2:19: dollars_per_day "
                     "must be a number of dollars",
                     0) == 0);
    CHECK(parse_budget_policy_error("[defaults]\ndollars_per_day = 0.0000001\n")
              .find("at most 6 decimals") != std::string::npos);
    CHECK(parse_budget_policy_error("[defaults]\ndollars_per_day = \"5\"\n") ==
          "pol.toml:2:19: dollars_per_day must be a number of dollars");
    CHECK(parse_budget_policy_error("[defaults]\ntokens_per_minute = -5\n") ==
          "pol.toml:2:21: tokens_per_minute must not be negative");
    CHECK(parse_budget_policy_error("[prices.\"gpt-5\"]\ninput = 1\n") ==
          "pol.toml:1:9: [prices.\"gpt-5\"] needs both input and output");
    CHECK(parse_budget_policy_error("[prices.\"gpt-5\"]\ninput = 1\noutput = 2\ncached = 1\n")
              .find("unknown key 'cached' in [prices.\"gpt-5\"]") != std::string::npos);
    CHECK(parse_budget_policy_error("[prices.\"gpt*5\"]\ninput = 1\noutput = 2\n")
              .find("not a model name or a name ending in one '*'") != std::string::npos);
    CHECK(parse_budget_policy_error("[prices]\ngpt = 1\n").find("must be a table") !=
          std::string::npos);
    CHECK(parse_budget_policy_error("timezone = \"Mars/Olympus\"\n")
              .rfind("pol.toml:1:12: timezone: ", 0) == 0);
    CHECK(parse_budget_policy_error("timezone = \"../etc/passwd\"\n")
              .rfind("pol.toml:1:12: timezone: ", 0) == 0);
    CHECK(parse_budget_policy_error("timezone = 1\n") ==
          "pol.toml:1:12: timezone must be a string (\"Europe/Berlin\")");
}
