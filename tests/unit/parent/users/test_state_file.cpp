// The whole --state-file: usage, then the response owners' section
// (parent/users/state_file.hpp).
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "parent/users/state_file.hpp"

using namespace proxy;

namespace {
constexpr std::int64_t kStateNow = 1767225600;

// A usage part as the proxy writes it (version 3: parent/users/usage_state.hpp).
std::string usage_text() {
    UsageState state;
    PeriodUsage& day = state.users[1000][BudgetPeriod::Day];
    day.key = "2026-01-01";
    day.counters.requests = 1;
    day.counters.tokens_in = 2;
    day.counters.tokens_out = 3;
    return format_usage_state(state);
}
const std::string kUsage = usage_text();
}  // namespace

TEST_CASE("today's files, without the section, still load, with no owners") {
    auto parsed = parse_state_file(kUsage, {}, kStateNow);
    REQUIRE(std::holds_alternative<StateFile>(parsed));
    const StateFile& s = std::get<StateFile>(parsed);
    CHECK(s.usage.users.at(1000)[BudgetPeriod::Day].counters.tokens_out == 3);
    CHECK(s.owners.size() == 0);
    // ... and a file with no owners is written as before.
    CHECK(format_state_file(s.usage, s.owners) == kUsage);
}

TEST_CASE("the owners round-trip after the section line; usage-only readers stop there") {
    UsageState day = std::get<UsageState>(parse_usage_state(kUsage));
    ResponseOwners owners;
    REQUIRE(owners.insert("resp_a1", 1000, kStateNow - 10));
    REQUIRE(owners.insert("resp_b2", 1001, kStateNow - 5));
    const std::string text = format_state_file(day, owners);
    CHECK(text == kUsage +
                      "responses 1\nresponse resp_a1 1000 1767225590\n"
                      "response resp_b2 1001 1767225595\n");
    auto parsed = parse_state_file(text, {}, kStateNow);
    REQUIRE(std::holds_alternative<StateFile>(parsed));
    const StateFile& s = std::get<StateFile>(parsed);
    CHECK(s.usage == day);
    CHECK(s.owners.owner_of("resp_a1", kStateNow) == 1000u);
    CHECK(s.owners.owner_of("resp_b2", kStateNow) == 1001u);
    // --usage reads the usage part alone.
    CHECK(std::holds_alternative<UsageState>(parse_usage_state(text)));
}

TEST_CASE("a bad owner line is an error naming it") {
    const std::string text = kUsage + "responses 1\nresponse resp_a1 x 5\n";
    auto parsed = parse_state_file(text, {}, kStateNow);
    REQUIRE(std::holds_alternative<std::string>(parsed));
    CHECK(std::get<std::string>(parsed).starts_with("after \"responses 1\": line 1: "));
}
