// The admission arithmetic of the budgets counted per period (tokens and
// dollars per day, week and month) and of tokens per minute. Pure: the
// counters live in the parent's accounts, which pass the clock in.
//
// Budgets per period: each period's rule is budget_admits() of
// policy/token_budget.hpp (Spent when the period's total reached the budget;
// Held when requests in flight reserve the rest; a request alone always
// starts below the budget), with the same overshoot bound per period. A
// request in flight reserves the same amount against every period, since it
// will be charged to all three. Dollars reserve reservation_price() of the
// requested model (policy/pricing.hpp): its input estimate at the input price
// and its output reserve or cap at the output price. While a dollar budget
// is in force, a requested model the price table does not price is refused
// (403 model_not_priced: policy/request_body_policy.cpp, on the body the
// parent reads): its answers could not be charged.
//
// Tokens per minute: a bucket holding up to a minute's tokens, refilled
// continuously, charged AFTER the fact with what each stream was charged
// (policy/token_budget.hpp charge_for()), so it can go below zero. A request
// is admitted while at least one token is left (and, with others in flight,
// while their reservations and its own fit in what is left); a user who
// spent more than a minute's worth in one answer waits until the bucket
// refills above zero, which Retry-After says.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "policy/budget_periods.hpp"
#include "policy/refusal.hpp"
#include "policy/token_budget.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

// One amount per period kind, indexed by BudgetPeriod.
struct PeriodAmounts {
    std::array<std::uint64_t, 3> by_period{};
    std::uint64_t& operator[](BudgetPeriod p) { return by_period[static_cast<std::size_t>(p)]; }
    std::uint64_t operator[](BudgetPeriod p) const {
        return by_period[static_cast<std::size_t>(p)];
    }
    bool any() const { return by_period[0] != 0 || by_period[1] != 0 || by_period[2] != 0; }
};

PeriodAmounts token_budgets(const EffectiveLimits& limits);   // tokens_per_day/week/month
PeriodAmounts dollar_budgets(const EffectiveLimits& limits);  // dollars_per_*, micro-dollars

struct PeriodDecision {
    BudgetVerdict verdict = BudgetVerdict::Admit;
    // Spent: of the spent periods, the one that resets last (nothing is
    // admitted before), and the seconds until then. Held: the first period
    // that holds, and 1 (room comes back when a stream in flight ends).
    std::optional<BudgetPeriod> period;
    std::uint32_t retry_after_s = 0;
};

// `used`: what the user was charged in the periods containing `now`;
// `reserved`: the reservations of their `in_flight` requests.
PeriodDecision period_budgets_admit(const PeriodAmounts& budgets, const PeriodAmounts& used,
                                    std::uint64_t reserved, unsigned in_flight,
                                    std::uint64_t reservation, const TimeZone& zone,
                                    std::int64_t now);

// The refusals for a decision that is not Admit (the period names the limit).
const Refusal& token_budget_refusal(const PeriodDecision& decision);
const Refusal& spend_budget_refusal(const PeriodDecision& decision);

struct TokenRate {
    double level = 0;   // tokens available; below zero, owed
    double last_s = 0;  // the clock at the last refill
    bool primed = false;
};

struct RateDecision {
    BudgetVerdict verdict = BudgetVerdict::Admit;
    std::uint32_t retry_after_s = 0;  // Spent: until a token is back; Held: 1
};

// per_minute 0: unlimited, the bucket untouched. now_s: any monotonic seconds.
RateDecision tokens_per_minute_admit(TokenRate& rate, double now_s, std::uint64_t per_minute,
                                     std::uint64_t reserved, unsigned in_flight,
                                     std::uint64_t reservation);

// Takes a stream's charged tokens from the bucket when it ends.
void charge_tokens_per_minute(TokenRate& rate, double now_s, std::uint64_t per_minute,
                              std::uint64_t tokens);

}  // namespace proxy
