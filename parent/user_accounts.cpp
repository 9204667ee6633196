#include "parent/user_accounts.hpp"

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

UserAccounts::Verdict UserAccounts::admit(uid_t uid, const EffectiveLimits& limits,
                                          std::int64_t now_unix, double now_mono_s) {
    roll(now_unix);
    Live& live = live_[uid];
    UsageCounters& used = day_.users[uid];
    Verdict v;
    if (limits.max_streams != 0 && live.streams >= limits.max_streams) {
        v.refusal = &refusal::kTooManyStreams;
        v.retry_after = 1;
    } else if (limits.tokens_per_day != 0 &&
               used.tokens_in + used.tokens_out >= limits.tokens_per_day) {
        v.refusal = &refusal::kTokenBudget;
        v.retry_after = seconds_until_next_utc_day(now_unix);
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
    return v;
}

void UserAccounts::stream_ended(uid_t uid, const std::optional<TokenUsage>& tokens,
                                std::int64_t now_unix) {
    auto it = live_.find(uid);
    if (it != live_.end() && it->second.streams > 0) --it->second.streams;
    if (!tokens) return;
    roll(now_unix);
    UsageCounters& used = day_.users[uid];
    used.tokens_in += tokens->input;
    used.tokens_out += tokens->output;
    dirty_ = true;
}

void UserAccounts::count_refusal(uid_t uid, std::int64_t now_unix) {
    roll(now_unix);
    ++day_.users[uid].refused;
    dirty_ = true;
}

}  // namespace proxy
