#include "policy/spend_budget.hpp"

#include <algorithm>
#include <cmath>

#include "policy/rate_limit.hpp"

namespace proxy {

PeriodAmounts token_budgets(const EffectiveLimits& limits) {
    return PeriodAmounts{{limits.tokens_per_day, limits.tokens_per_week, limits.tokens_per_month}};
}

PeriodAmounts dollar_budgets(const EffectiveLimits& limits) {
    return PeriodAmounts{
        {limits.dollars_per_day, limits.dollars_per_week, limits.dollars_per_month}};
}

PeriodDecision period_budgets_admit(const PeriodAmounts& budgets, const PeriodAmounts& used,
                                    std::uint64_t reserved, unsigned in_flight,
                                    std::uint64_t reservation, const TimeZone& zone,
                                    std::int64_t now) {
    PeriodDecision out;
    std::optional<BudgetPeriod> held;
    std::int64_t latest_reset = 0;
    for (const BudgetPeriod p : kBudgetPeriods) {
        const BudgetVerdict v =
            budget_admits(budgets[p], used[p], reserved, in_flight, reservation);
        if (v == BudgetVerdict::Held && !held) held = p;
        if (v != BudgetVerdict::Spent) continue;
        // A user out of this week's budget gets nothing tomorrow either:
        // the answer names the spent period that resets last.
        const PeriodSpan span = period_at(zone, p, now);
        if (!out.period || span.reset > latest_reset) {
            out.period = p;
            latest_reset = span.reset;
            out.retry_after_s = seconds_until_reset(span, now);
        }
    }
    if (out.period) {
        out.verdict = BudgetVerdict::Spent;
    } else if (held) {
        out.verdict = BudgetVerdict::Held;
        out.period = held;
        out.retry_after_s = 1;
    }
    return out;
}

const Refusal& token_budget_refusal(const PeriodDecision& decision) {
    if (decision.verdict == BudgetVerdict::Held) {
        // The day's own message, as before weeks and months existed.
        return decision.period == BudgetPeriod::Day ? refusal::kTokenBudgetHeld
                                                    : refusal::kTokenBudgetHeldPeriod;
    }
    switch (decision.period.value_or(BudgetPeriod::Day)) {
        case BudgetPeriod::Day:
            return refusal::kTokenBudget;
        case BudgetPeriod::Week:
            return refusal::kTokenBudgetWeek;
        case BudgetPeriod::Month:
            return refusal::kTokenBudgetMonth;
    }
    return refusal::kTokenBudget;
}

const Refusal& spend_budget_refusal(const PeriodDecision& decision) {
    if (decision.verdict == BudgetVerdict::Held) return refusal::kSpendBudgetHeld;
    switch (decision.period.value_or(BudgetPeriod::Day)) {
        case BudgetPeriod::Day:
            return refusal::kSpendBudgetDay;
        case BudgetPeriod::Week:
            return refusal::kSpendBudgetWeek;
        case BudgetPeriod::Month:
            return refusal::kSpendBudgetMonth;
    }
    return refusal::kSpendBudgetDay;
}

namespace {

void refill(TokenRate& rate, double now_s, std::uint64_t per_minute) {
    const double capacity = static_cast<double>(per_minute);
    if (!rate.primed) {
        rate = TokenRate{capacity, now_s, true};
        return;
    }
    if (now_s > rate.last_s) {
        rate.level = std::min(capacity, rate.level + (now_s - rate.last_s) * capacity / 60.0);
        rate.last_s = now_s;
    } else {
        // A clock that went backwards refills nothing; a rate lowered by a
        // reload caps what was saved at the old one.
        rate.level = std::min(capacity, rate.level);
    }
}

}  // namespace

RateDecision tokens_per_minute_admit(TokenRate& rate, double now_s, std::uint64_t per_minute,
                                     std::uint64_t reserved, unsigned in_flight,
                                     std::uint64_t reservation) {
    RateDecision out;
    if (per_minute == 0) return out;
    refill(rate, now_s, per_minute);
    if (rate.level < 1.0) {
        const double per_second = static_cast<double>(per_minute) / 60.0;
        const double wait = (1.0 - rate.level) / per_second;
        out.verdict = BudgetVerdict::Spent;
        out.retry_after_s = retry_after_seconds(wait);
        return out;
    }
    // As budget_admits(): alone, a request may start whatever it reserves.
    if (in_flight != 0 &&
        static_cast<double>(reserved) + static_cast<double>(reservation) > rate.level) {
        out.verdict = BudgetVerdict::Held;
        out.retry_after_s = 1;
    }
    return out;
}

void charge_tokens_per_minute(TokenRate& rate, double now_s, std::uint64_t per_minute,
                              std::uint64_t tokens) {
    if (per_minute == 0) return;
    refill(rate, now_s, per_minute);
    rate.level -= static_cast<double>(tokens);
}

}  // namespace proxy
