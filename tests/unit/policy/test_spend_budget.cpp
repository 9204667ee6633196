// Budgets per day, week and month (tokens and dollars), tokens per minute,
// and a model without a price under a dollar budget: the admission
// arithmetic on a clock the test sets.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "policy/spend_budget.hpp"
#include "tests/unit/support/civil_time.hpp"

using namespace proxy;
using namespace std::chrono;

namespace {

using proxy::test::utc;

PeriodAmounts amounts(std::uint64_t day, std::uint64_t week, std::uint64_t month) {
    return PeriodAmounts{{day, week, month}};
}

const TimeZone kUtc;

// Wednesday 2025-07-16 12:00 UTC: the day resets in 12 h, the week on
// Monday the 21st (4 days 12 h), the month on August 1st (15 days 12 h).
const std::int64_t kSpendNow = utc(2025, 7, 16, 12);
constexpr std::uint32_t kToDayEnd = 12 * 3600;
constexpr std::uint32_t kToWeekEnd = 4 * 86400 + 12 * 3600;
constexpr std::uint32_t kToMonthEnd = 15 * 86400 + 12 * 3600;

}  // namespace

TEST_CASE("period budgets: limits come from the effective limits") {
    EffectiveLimits l;
    l.tokens_per_day = 1;
    l.tokens_per_week = 2;
    l.tokens_per_month = 3;
    l.dollars_per_day = 4;
    l.dollars_per_week = 5;
    l.dollars_per_month = 6;
    CHECK(token_budgets(l).by_period == std::array<std::uint64_t, 3>{1, 2, 3});
    CHECK(dollar_budgets(l).by_period == std::array<std::uint64_t, 3>{4, 5, 6});
    CHECK_FALSE(token_budgets(EffectiveLimits{}).any());
}

TEST_CASE("period budgets: no budget admits everything") {
    const PeriodDecision d = period_budgets_admit(amounts(0, 0, 0), amounts(1e12, 1e12, 1e12), 1e9,
                                                  50, 1e9, kUtc, kSpendNow);
    CHECK(d.verdict == BudgetVerdict::Admit);
    CHECK_FALSE(d.period);
}

TEST_CASE("period budgets: spent in one period, Retry-After until that period resets") {
    const PeriodAmounts budgets = amounts(100, 500, 1000);
    // Below every budget.
    CHECK(period_budgets_admit(budgets, amounts(99, 99, 99), 0, 0, 10, kUtc, kSpendNow).verdict ==
          BudgetVerdict::Admit);
    // Today's spent.
    PeriodDecision d =
        period_budgets_admit(budgets, amounts(100, 100, 100), 0, 0, 10, kUtc, kSpendNow);
    CHECK(d.verdict == BudgetVerdict::Spent);
    CHECK(d.period == BudgetPeriod::Day);
    CHECK(d.retry_after_s == kToDayEnd);
    CHECK(std::string(token_budget_refusal(d).message).find("today") != std::string::npos);
    CHECK(&spend_budget_refusal(d) == &refusal::kSpendBudgetDay);
    // The week's spent though today's is not: until Monday.
    d = period_budgets_admit(budgets, amounts(10, 500, 500), 0, 0, 10, kUtc, kSpendNow);
    CHECK(d.verdict == BudgetVerdict::Spent);
    CHECK(d.period == BudgetPeriod::Week);
    CHECK(d.retry_after_s == kToWeekEnd);
    CHECK(&token_budget_refusal(d) == &refusal::kTokenBudgetWeek);
    CHECK(&spend_budget_refusal(d) == &refusal::kSpendBudgetWeek);
    // Day and month both spent: nothing before the month resets.
    d = period_budgets_admit(budgets, amounts(100, 400, 1000), 0, 0, 10, kUtc, kSpendNow);
    CHECK(d.verdict == BudgetVerdict::Spent);
    CHECK(d.period == BudgetPeriod::Month);
    CHECK(d.retry_after_s == kToMonthEnd);
    CHECK(&token_budget_refusal(d) == &refusal::kTokenBudgetMonth);
    CHECK(&spend_budget_refusal(d) == &refusal::kSpendBudgetMonth);
    CHECK(std::string(refusal::kSpendBudgetMonth.code) == "spend_budget_exceeded");
    CHECK(refusal::kSpendBudgetMonth.status == 429);
}

TEST_CASE("period budgets: the week's reset can come after the month's") {
    // Thursday 2025-07-31: the month resets tomorrow, the week on Monday.
    const std::int64_t now = utc(2025, 7, 31, 12);
    const PeriodDecision d =
        period_budgets_admit(amounts(0, 10, 10), amounts(0, 10, 10), 0, 0, 1, kUtc, now);
    CHECK(d.verdict == BudgetVerdict::Spent);
    CHECK(d.period == BudgetPeriod::Week);
    CHECK(d.retry_after_s == 3 * 86400 + 12 * 3600);
}

TEST_CASE("period budgets: reservations of requests in flight hold the rest") {
    const PeriodAmounts budgets = amounts(0, 1000, 0);
    // Alone, a request starts whatever it reserves.
    CHECK(period_budgets_admit(budgets, amounts(0, 900, 0), 0, 0, 5000, kUtc, kSpendNow).verdict ==
          BudgetVerdict::Admit);
    // With one in flight reserving 60 of the 100 left, 50 more does not fit.
    const PeriodDecision d =
        period_budgets_admit(budgets, amounts(0, 900, 0), 60, 1, 50, kUtc, kSpendNow);
    CHECK(d.verdict == BudgetVerdict::Held);
    CHECK(d.period == BudgetPeriod::Week);
    CHECK(d.retry_after_s == 1);
    CHECK(&spend_budget_refusal(d) == &refusal::kSpendBudgetHeld);
    CHECK(&token_budget_refusal(d) == &refusal::kTokenBudgetHeldPeriod);
    PeriodDecision day_held = d;
    day_held.period = BudgetPeriod::Day;
    CHECK(&token_budget_refusal(day_held) == &refusal::kTokenBudgetHeld);
    // 40 does.
    CHECK(period_budgets_admit(budgets, amounts(0, 900, 0), 60, 1, 40, kUtc, kSpendNow).verdict ==
          BudgetVerdict::Admit);
    // Spent beats Held: the answer that says when to come back.
    const PeriodDecision spent = period_budgets_admit(amounts(100, 1000, 0), amounts(100, 900, 0),
                                                      60, 1, 50, kUtc, kSpendNow);
    CHECK(spent.verdict == BudgetVerdict::Spent);
    CHECK(spent.period == BudgetPeriod::Day);
}

TEST_CASE("period budgets: the overshoot bound, parallel streams against a dollar budget") {
    // A 1 USD daily budget, requests reserving 0.3 USD: of ten opened at
    // once only three fit their reservations in the 1 USD. Charged as
    // reserved, the day's total is 0.9 USD; the next one, alone, may start
    // and take it to 1.2 USD, and then the day is spent.
    const PeriodAmounts budgets = amounts(1'000'000, 0, 0);
    std::uint64_t reserved = 0;
    unsigned in_flight = 0;
    int admitted = 0;
    for (int i = 0; i < 10; ++i) {
        const PeriodDecision d = period_budgets_admit(budgets, amounts(0, 0, 0), reserved,
                                                      in_flight, 300'000, kUtc, kSpendNow);
        if (d.verdict != BudgetVerdict::Admit) continue;
        ++admitted;
        ++in_flight;
        reserved += 300'000;
    }
    CHECK(admitted == 3);  // 0.3 + 0.3 + 0.3 <= 1; a fourth would be 1.2
    // All ended, charged as reserved: 0.9 used; one more may start alone.
    CHECK(period_budgets_admit(budgets, amounts(900'000, 0, 0), 0, 0, 300'000, kUtc, kSpendNow)
              .verdict == BudgetVerdict::Admit);
    CHECK(
        period_budgets_admit(budgets, amounts(1'200'000, 0, 0), 0, 0, 1, kUtc, kSpendNow).verdict ==
        BudgetVerdict::Spent);
}

TEST_CASE("period budgets: the reset follows the policy's zone") {
    const auto loaded = load_time_zone("Europe/Berlin");
    REQUIRE(std::holds_alternative<std::shared_ptr<const TimeZone>>(loaded));
    const TimeZone& berlin = *std::get<std::shared_ptr<const TimeZone>>(loaded);
    // 21:00 UTC is 23:00 in Berlin in July: the day resets in an hour.
    const PeriodDecision d = period_budgets_admit(amounts(10, 0, 0), amounts(10, 0, 0), 0, 0, 1,
                                                  berlin, utc(2025, 7, 16, 21));
    CHECK(d.retry_after_s == 3600);
}

TEST_CASE("tokens per minute: a bucket charged after the fact") {
    TokenRate rate;
    // Unlimited: always admitted, the bucket untouched.
    CHECK(tokens_per_minute_admit(rate, 0, 0, 0, 0, 100).verdict == BudgetVerdict::Admit);
    charge_tokens_per_minute(rate, 0, 0, 1'000'000);
    CHECK_FALSE(rate.primed);

    // 6000 tokens per minute: 100 per second. A fresh user has a full minute.
    CHECK(tokens_per_minute_admit(rate, 1000, 6000, 0, 0, 5000).verdict == BudgetVerdict::Admit);
    charge_tokens_per_minute(rate, 1010, 6000, 6000);  // refilled to the top, then 6000 taken
    CHECK(rate.level == doctest::Approx(0));
    RateDecision d = tokens_per_minute_admit(rate, 1010, 6000, 0, 0, 10);
    CHECK(d.verdict == BudgetVerdict::Spent);
    CHECK(d.retry_after_s == 1);  // one token back in 0.01 s
    CHECK(tokens_per_minute_admit(rate, 1010.5, 6000, 0, 0, 10).verdict == BudgetVerdict::Admit);

    // One answer far over a minute's worth: the debt is paid off first.
    charge_tokens_per_minute(rate, 1011, 6000, 30'000);  // about -29950
    d = tokens_per_minute_admit(rate, 1011, 6000, 0, 0, 10);
    CHECK(d.verdict == BudgetVerdict::Spent);
    CHECK(d.retry_after_s == 300);
    CHECK(tokens_per_minute_admit(rate, 1011 + 299, 6000, 0, 0, 10).verdict ==
          BudgetVerdict::Spent);
    CHECK(tokens_per_minute_admit(rate, 1011 + 301, 6000, 0, 0, 10).verdict ==
          BudgetVerdict::Admit);
    // The bucket never holds more than a minute's tokens.
    CHECK(tokens_per_minute_admit(rate, 1e6, 6000, 0, 0, 10).verdict == BudgetVerdict::Admit);
    CHECK(rate.level == doctest::Approx(6000));
    CHECK(std::string(refusal::kTokensPerMinute.code) == "tokens_per_minute_exceeded");
    CHECK(refusal::kTokensPerMinute.status == 429);
}

TEST_CASE("tokens per minute: reservations in flight, a clock going back, a lowered rate") {
    TokenRate rate;
    CHECK(tokens_per_minute_admit(rate, 0, 6000, 0, 0, 4000).verdict == BudgetVerdict::Admit);
    // One in flight reserves 4000 of 6000: 3000 more does not fit, 2000 does.
    RateDecision d = tokens_per_minute_admit(rate, 0, 6000, 4000, 1, 3000);
    CHECK(d.verdict == BudgetVerdict::Held);
    CHECK(d.retry_after_s == 1);
    CHECK(tokens_per_minute_admit(rate, 0, 6000, 4000, 1, 2000).verdict == BudgetVerdict::Admit);
    // A clock that goes back refills nothing.
    charge_tokens_per_minute(rate, 10, 6000, 6000);
    const double level = rate.level;
    CHECK(tokens_per_minute_admit(rate, 5, 6000, 0, 0, 1).verdict == BudgetVerdict::Spent);
    CHECK(rate.level == doctest::Approx(level));
    // A reload to a lower rate caps what is there.
    TokenRate full;
    tokens_per_minute_admit(full, 0, 6000, 0, 0, 1);
    tokens_per_minute_admit(full, 1, 60, 0, 0, 1);
    CHECK(full.level == doctest::Approx(60));
}
