#include "parent/users/user_accounts.hpp"

#include <algorithm>

namespace proxy {

void UserAccounts::roll(std::int64_t now_unix) {
    // Formatting the day for every request would cost an allocation each;
    // the day's end is known.
    if (now_unix < day_ends_) return;
    day_ends_ = now_unix + seconds_until_next_utc_day(now_unix);
    std::string today = utc_day(now_unix);
    if (day_.day == today) return;
    // A new UTC day: budgets start again. Live streams and buckets are not
    // per day and stay.
    day_.day = std::move(today);
    day_.users.clear();
    dirty_ = true;
}

const UsageDay& UserAccounts::today(std::int64_t now_unix) {
    roll(now_unix);
    return day_;
}

unsigned UserAccounts::open_streams(uid_t uid) const {
    auto it = live_.find(uid);
    return it == live_.end() ? 0 : it->second.streams;
}

std::vector<uid_t> UserAccounts::uids_seen(std::int64_t now_unix) {
    roll(now_unix);
    std::vector<uid_t> out;
    for (const auto& [uid, _] : day_.users) out.push_back(uid);
    for (const auto& [uid, live] : live_)
        if (live.streams != 0 && !day_.users.contains(uid)) out.push_back(uid);
    std::sort(out.begin(), out.end());
    return out;
}

std::uint64_t UserAccounts::reserved_tokens(uid_t uid) const {
    auto it = live_.find(uid);
    return it == live_.end() ? 0 : it->second.reserved;
}

UserAccounts::Verdict UserAccounts::admit(uid_t uid, const EffectiveLimits& limits,
                                          std::uint64_t reservation, std::int64_t now_unix,
                                          double now_mono_s) {
    roll(now_unix);
    Live& live = live_[uid];
    UsageCounters& used = day_.users[uid];
    Verdict v;
    // The token budget's rule and the overshoot it allows: budget_admits()
    // in policy/token_budget.hpp.
    const BudgetVerdict budget =
        budget_admits(limits.tokens_per_day, used.tokens_in + used.tokens_out, live.reserved,
                      live.streams, reservation);
    if (limits.max_streams != 0 && live.streams >= limits.max_streams) {
        v.refusal = &refusal::kTooManyStreams;
        v.retry_after = 1;
    } else if (budget == BudgetVerdict::Spent) {
        v.refusal = &refusal::kTokenBudget;
        v.retry_after = seconds_until_next_utc_day(now_unix);
    } else if (budget == BudgetVerdict::Held) {
        // Room comes back as soon as a stream in flight ends.
        v.refusal = &refusal::kTokenBudgetHeld;
        v.retry_after = 1;
    } else if (std::uint32_t wait = 0;
               !take(live.bucket, now_mono_s, limits.requests_per_minute, wait)) {
        v.refusal = &refusal::kRateLimited;
        v.retry_after = wait;
    }
    dirty_ = true;
    if (v.refusal) {
        ++used.refused;
        return v;
    }
    ++used.requests;
    ++live.streams;
    live.reserved += reservation;
    return v;
}

void UserAccounts::stream_ended(uid_t uid, std::uint64_t reservation, const TokenCharge& charge,
                                std::int64_t now_unix) {
    auto it = live_.find(uid);
    if (it != live_.end()) {
        if (it->second.streams > 0) --it->second.streams;
        it->second.reserved -= std::min(reservation, it->second.reserved);
    }
    if (charge.total() == 0) return;
    roll(now_unix);
    UsageCounters& used = day_.users[uid];
    used.tokens_in += charge.input;
    used.tokens_out += charge.output;
    if (charge.estimated) used.tokens_estimated += charge.total();
    dirty_ = true;
}

void UserAccounts::count_refusal(uid_t uid, std::int64_t now_unix) {
    roll(now_unix);
    ++day_.users[uid].refused;
    dirty_ = true;
}

}  // namespace proxy
