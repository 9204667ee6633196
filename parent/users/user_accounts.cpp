#include "parent/users/user_accounts.hpp"

#include <algorithm>
#include <cmath>

namespace proxy {

namespace {

std::size_t at(BudgetPeriod p) {
    return static_cast<std::size_t>(p);
}

PeriodAmounts used_tokens(const UserPeriods& p) {
    PeriodAmounts out;
    for (const BudgetPeriod k : kBudgetPeriods) out[k] = p[k].counters.tokens();
    return out;
}

PeriodAmounts used_dollars(const UserPeriods& p) {
    PeriodAmounts out;
    for (const BudgetPeriod k : kBudgetPeriods) out[k] = p[k].counters.dollars;
    return out;
}

// Saturating: a charge never wraps a counter.
void add(std::uint64_t& to, std::uint64_t v) {
    to = v > UINT64_MAX - to ? UINT64_MAX : to + v;
}

}  // namespace

UserAccounts::UserAccounts(UsageState loaded) : state_(std::move(loaded)) {
    set_zone(nullptr);
}

void UserAccounts::set_zone(std::shared_ptr<const TimeZone> zone) {
    zone_ = zone ? std::move(zone) : std::make_shared<const TimeZone>();
    spans_until_ = 0;  // recomputed, and every user rolled, at the next use
}

void UserAccounts::refresh_spans(std::int64_t now_unix) {
    // Three periods per request would cost a few allocations each; their
    // first reset is known.
    if (now_unix < spans_until_ && now_unix >= spans_[at(BudgetPeriod::Day)].start) return;
    spans_until_ = INT64_MAX;
    for (const BudgetPeriod p : kBudgetPeriods) {
        spans_[at(p)] = period_at(*zone_, p, now_unix);
        spans_until_ = std::min(spans_until_, spans_[at(p)].reset);
    }
}

UserPeriods& UserAccounts::periods_of(uid_t uid, std::int64_t now_unix) {
    refresh_spans(now_unix);
    UserPeriods& periods = state_.users[uid];
    // A period that is over starts again; the others keep counting.
    for (const BudgetPeriod p : kBudgetPeriods) {
        if (periods[p].key != spans_[at(p)].key) {
            periods[p] = PeriodUsage{spans_[at(p)].key, {}};
            dirty_ = true;
        }
    }
    return periods;
}

const UsageState& UserAccounts::state(std::int64_t now_unix) {
    refresh_spans(now_unix);
    for (auto it = state_.users.begin(); it != state_.users.end();) {
        UserPeriods& periods = periods_of(it->first, now_unix);
        bool any = false;
        for (const BudgetPeriod p : kBudgetPeriods)
            any = any || periods[p].counters != UsageCounters{};
        if (!any && live_.find(it->first) == live_.end()) {
            it = state_.users.erase(it);
            dirty_ = true;
        } else {
            ++it;
        }
    }
    return state_;
}

unsigned UserAccounts::open_streams(uid_t uid) const {
    auto it = live_.find(uid);
    return it == live_.end() ? 0 : it->second.streams;
}

std::vector<uid_t> UserAccounts::uids_seen(std::int64_t now_unix) {
    const UsageState& s = state(now_unix);
    std::vector<uid_t> out;
    for (const auto& [uid, periods] : s.users) {
        if (periods[BudgetPeriod::Day].counters != UsageCounters{}) out.push_back(uid);
    }
    for (const auto& [uid, live] : live_) {
        if (live.streams != 0 && std::find(out.begin(), out.end(), uid) == out.end())
            out.push_back(uid);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::uint64_t UserAccounts::reserved_tokens(uid_t uid) const {
    auto it = live_.find(uid);
    return it == live_.end() ? 0 : it->second.reserved.tokens;
}

UserAccounts::Verdict UserAccounts::admit(uid_t uid, const EffectiveLimits& limits,
                                          const Reservation& reservation, std::int64_t now_unix,
                                          double now_mono_s) {
    UserPeriods& used = periods_of(uid, now_unix);
    Live& live = live_[uid];
    live.tokens_per_minute_limit = limits.tokens_per_minute;
    Verdict v;
    // The budgets' rule and the overshoot they allow: budget_admits() in
    // policy/token_budget.hpp, per period (policy/spend_budget.hpp).
    const PeriodDecision tokens =
        period_budgets_admit(token_budgets(limits), used_tokens(used), live.reserved.tokens,
                             live.streams, reservation.tokens, *zone_, now_unix);
    const PeriodDecision dollars =
        period_budgets_admit(dollar_budgets(limits), used_dollars(used), live.reserved.dollars,
                             live.streams, reservation.dollars, *zone_, now_unix);
    if (limits.max_streams != 0 && live.streams >= limits.max_streams) {
        v.refusal = &refusal::kTooManyStreams;
        v.retry_after = 1;
    } else if (tokens.verdict != BudgetVerdict::Admit) {
        v.refusal = &token_budget_refusal(tokens);
        v.retry_after = tokens.retry_after_s;
    } else if (dollars.verdict != BudgetVerdict::Admit) {
        v.refusal = &spend_budget_refusal(dollars);
        v.retry_after = dollars.retry_after_s;
    } else if (const RateDecision rate = tokens_per_minute_admit(
                   live.tokens_per_minute, now_mono_s, limits.tokens_per_minute,
                   live.reserved.tokens, live.streams, reservation.tokens);
               rate.verdict != BudgetVerdict::Admit) {
        v.refusal = rate.verdict == BudgetVerdict::Spent ? &refusal::kTokensPerMinute
                                                         : &refusal::kTokensPerMinuteHeld;
        v.retry_after = rate.retry_after_s;
    } else if (std::uint32_t wait = 0;
               !take(live.bucket, now_mono_s, limits.requests_per_minute, wait)) {
        v.refusal = &refusal::kRateLimited;
        v.retry_after = wait;
    }
    dirty_ = true;
    for (PeriodUsage& p : used.periods) {
        if (v.refusal)
            ++p.counters.refused;
        else
            ++p.counters.requests;
    }
    if (v.refusal) return v;
    ++live.streams;
    live.reserved.tokens += reservation.tokens;
    live.reserved.dollars += reservation.dollars;
    return v;
}

void UserAccounts::stream_ended(uid_t uid, const Reservation& reservation,
                                const TokenCharge& charge, std::int64_t now_unix,
                                MicroDollars dollars, double now_mono_s) {
    auto it = live_.find(uid);
    if (it != live_.end()) {
        Live& live = it->second;
        if (live.streams > 0) --live.streams;
        live.reserved.tokens -= std::min(reservation.tokens, live.reserved.tokens);
        live.reserved.dollars -= std::min(reservation.dollars, live.reserved.dollars);
        charge_tokens_per_minute(live.tokens_per_minute, now_mono_s, live.tokens_per_minute_limit,
                                 charge.total());
    }
    if (charge.total() == 0 && dollars == 0) return;
    for (PeriodUsage& p : periods_of(uid, now_unix).periods) {
        add(p.counters.tokens_in, charge.input);
        add(p.counters.tokens_out, charge.output);
        if (charge.estimated) add(p.counters.tokens_estimated, charge.total());
        add(p.counters.dollars, dollars);
    }
    dirty_ = true;
}

void UserAccounts::count_refusal(uid_t uid, std::int64_t now_unix) {
    for (PeriodUsage& p : periods_of(uid, now_unix).periods) ++p.counters.refused;
    dirty_ = true;
}

void UserAccounts::count_body_refusal(uid_t uid, std::int64_t now_unix) {
    for (PeriodUsage& p : periods_of(uid, now_unix).periods) {
        // Admitted in this period, unless it began before a reset.
        if (p.counters.requests != 0) --p.counters.requests;
        ++p.counters.refused;
    }
    dirty_ = true;
}

UserStanding UserAccounts::standing(uid_t uid, std::int64_t now_unix, double now_mono_s) {
    UserStanding s;
    s.used = periods_of(uid, now_unix);
    s.spans = spans_;
    if (auto it = live_.find(uid); it != live_.end()) {
        Live& live = it->second;
        s.streams = live.streams;
        s.reserved = live.reserved;
        if (live.tokens_per_minute_limit != 0) {
            // A look, not a charge: refill a copy.
            TokenRate copy = live.tokens_per_minute;
            charge_tokens_per_minute(copy, now_mono_s, live.tokens_per_minute_limit, 0);
            s.tokens_this_minute_left = copy.level;
        }
    }
    return s;
}

}  // namespace proxy
