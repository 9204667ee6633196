// UserAccounts with the budgets of issue 24: dollars, weeks and months in a
// zone, tokens per minute; and what the scanner notes to price an answer by.
#include <doctest/doctest.h>

#include "parent/users/usage_scanner.hpp"
#include "parent/users/usage_view.hpp"
#include "parent/users/user_accounts.hpp"

using namespace proxy;

namespace {
constexpr std::int64_t kSpendT0 = 1796169600;  // 2026-12-02 00:00:00 UTC, a Wednesday
}

TEST_CASE("accounts: a dollar budget spent refuses until the period resets") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.dollars_per_day = 1'000'000;  // $1
    REQUIRE(acc.admit(1000, lim, Reservation{10, 500'000}, kSpendT0 + 3600, 1).refusal == nullptr);
    acc.stream_ended(1000, Reservation{10, 500'000}, TokenCharge{100, 100, false}, kSpendT0 + 3601,
                     1'000'000, 2);
    const auto v = acc.admit(1000, lim, Reservation{10, 500'000}, kSpendT0 + 3602, 3);
    REQUIRE(v.refusal != nullptr);
    CHECK(std::string(v.refusal->code) == "spend_budget_exceeded");
    CHECK(v.refusal == &refusal::kSpendBudgetDay);
    CHECK(v.retry_after == 86400 - 3602);
    // Another user is served; the next day this one is again.
    CHECK(acc.admit(1001, lim, Reservation{10, 500'000}, kSpendT0 + 3602, 3).refusal == nullptr);
    CHECK(acc.admit(1000, lim, Reservation{10, 500'000}, kSpendT0 + 86400, 4).refusal == nullptr);
    // The week and the month still hold the dollar.
    const UserStanding s = acc.standing(1000, kSpendT0 + 86400, 4);
    CHECK(s.used[BudgetPeriod::Day].counters.dollars == 0);
    CHECK(s.used[BudgetPeriod::Week].counters.dollars == 1'000'000);
    CHECK(s.used[BudgetPeriod::Month].counters.dollars == 1'000'000);
    CHECK(s.reserved.dollars == 500'000);
}

TEST_CASE("accounts: a week spent is refused past the day, until Monday in the zone") {
    auto berlin = std::get<std::shared_ptr<const TimeZone>>(load_time_zone("Europe/Berlin"));
    UserAccounts acc;
    acc.set_zone(berlin);
    EffectiveLimits lim;
    lim.tokens_per_day = 1000;
    lim.tokens_per_week = 100;
    REQUIRE(acc.admit(7, lim, 10, kSpendT0, 0).refusal == nullptr);
    acc.stream_ended(7, 10, TokenCharge{60, 60, false}, kSpendT0);
    const auto v = acc.admit(7, lim, 10, kSpendT0 + 86400, 1);  // Thursday
    REQUIRE(v.refusal == &refusal::kTokenBudgetWeek);
    // Monday 2026-12-07 00:00 in Berlin is Sunday 23:00 UTC.
    const std::int64_t monday = kSpendT0 + 5 * 86400 - 3600;
    CHECK(v.retry_after == monday - (kSpendT0 + 86400));
    CHECK(acc.admit(7, lim, 10, monday - 1, 2).refusal == &refusal::kTokenBudgetWeek);
    CHECK(acc.admit(7, lim, 10, monday, 3).refusal == nullptr);
}

TEST_CASE("accounts: tokens per minute are charged after the fact") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.tokens_per_minute = 600;  // 10 a second
    REQUIRE(acc.admit(5, lim, 100, kSpendT0, 100.0).refusal == nullptr);
    acc.stream_ended(5, 100, TokenCharge{400, 400, false}, kSpendT0, 0, 100.0);  // 200 owed
    const auto v = acc.admit(5, lim, 100, kSpendT0, 100.0);
    REQUIRE(v.refusal == &refusal::kTokensPerMinute);
    CHECK(std::string(v.refusal->code) == "tokens_per_minute_exceeded");
    CHECK(v.retry_after == 21);  // 201 tokens at 10 a second
    CHECK(acc.admit(5, lim, 100, kSpendT0, 121.0).refusal == nullptr);
    // The view of the bucket does not charge it.
    CHECK(acc.standing(5, kSpendT0, 121.0).tokens_this_minute_left.has_value());
}

TEST_CASE("usage view: JSON and headers say what remains") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.tokens_per_day = 1000;
    lim.dollars_per_month = 5'000'000;
    REQUIRE(acc.admit(1000, lim, 10, kSpendT0, 0).refusal == nullptr);
    acc.stream_ended(1000, 10, TokenCharge{100, 50, false}, kSpendT0, 1'250'000, 0);
    UsageView v;
    v.uid = 1000;
    v.user = "alice";
    v.zone = "UTC";
    v.limits = lim;
    v.standing = acc.standing(1000, kSpendT0 + 60, 0);
    v.now = kSpendT0 + 60;
    const std::string json = usage_json(v);
    CHECK(json.rfind("{\"uid\":1000,\"user\":\"alice\",\"timezone\":\"UTC\",\"periods\":{\"day\":"
                     "{\"period\":\"2026-12-02\",\"resets_at\":1796256000,\"resets_in_s\":86340,"
                     "\"requests\":1,\"refused\":0,\"tokens\":150,\"tokens_estimated\":0,"
                     "\"dollars\":1.25,\"token_limit\":1000,\"tokens_remaining\":850,"
                     "\"dollar_limit\":null,\"dollars_remaining\":null}",
                     0) == 0);
    CHECK(json.find("\"month\":{\"period\":\"2026-12\"") != std::string::npos);
    CHECK(json.find("\"dollar_limit\":5,\"dollars_remaining\":3.75}") != std::string::npos);
    const auto headers = budget_headers(v);
    REQUIRE(headers.size() == 2);
    CHECK(headers[0] ==
          std::pair<std::string, std::string>{"x-codex-proxy-budget-remaining-tokens-day", "850"});
    CHECK(headers[1] == std::pair<std::string, std::string>{
                            "x-codex-proxy-budget-remaining-dollars-month", "3.75"});
}

TEST_CASE("usage scanner: the models an answer names and its cached input") {
    UsageScanner s;
    const std::string body =
        "event: response.created\ndata: {\"response\":{\"id\":\"r\",\"model\":\"gpt-5-2025\","
        "\"metadata\":{\"model\":\"gpt-5-nano\"}}}\n\n"
        "data: {\"delta\":\"\\\"model\\\": \\\"free\\\"\"}\n\n"
        "data: {\"response\":{\"model\":\"gpt-5-2025\",\"usage\":{\"input_tokens\":1000,"
        "\"input_tokens_details\":{\"cached_tokens\":800},\"output_tokens\":20,"
        "\"output_tokens_details\":{\"reasoning_tokens\":5},\"total_tokens\":1020}}}\n\n";
    // Byte by byte, as the worst split of a stream.
    for (char c : body) s.feed(std::string_view(&c, 1));
    CHECK(s.models() == std::vector<std::string>{"gpt-5-2025", "gpt-5-nano"});
    REQUIRE(s.usage().has_value());
    CHECK(s.usage()->input == 1000);
    CHECK(s.usage()->cached_input == 800);
    CHECK(s.usage()->output == 20);

    UsageScanner escaped;
    escaped.feed("{\"model\":\"gpt\\u002d5\",\"model\":\"a\\\\\",\"x\":\"model\"}");
    CHECK(escaped.models() == std::vector<std::string>{""});
}

TEST_CASE("pricing: an answer costs its most expensive model; unpriced ones the highest") {
    PriceTable t;
    t.set("gpt-5*", ModelPrice{1'250'000, 125'000, 10'000'000});
    t.set("gpt-5-nano", ModelPrice{50'000, 5'000, 400'000});
    const AnswerTokens tokens{1000, 800, 20};
    // 200 x 1.25 + 800 x 0.125 + 20 x 10 = 250 + 100 + 200 = 550 micro-dollars
    CHECK(t.price_answer({"gpt-5-2025"}, tokens) == 550);
    CHECK(t.price_answer({"gpt-5-nano", "gpt-5-2025"}, tokens) == 550);
    CHECK(t.price_answer({"gpt-5-nano"}, tokens) == 10 + 4 + 8);
    CHECK(t.price_answer({"o3"}, tokens) == 550);
    CHECK(t.price_answer({}, tokens) == 550);
    CHECK(PriceTable{}.price_answer({"gpt-5"}, tokens) == 0);
}
