// The counters behind the per-user limits: open streams, their reservations
// (tokens and dollars) and the per-minute buckets (requests and tokens) of
// each uid (live, lost on restart), and each user's requests, refusals,
// tokens and dollars in the current day, ISO week and month of the budget
// zone (UsageState, kept in --state-file). Callers that could not be
// identified share one account, kUnknownUid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "parent/users/usage_state.hpp"
#include "policy/rate_limit.hpp"
#include "policy/refusal.hpp"
#include "policy/spend_budget.hpp"
#include "policy/time_zone.hpp"
#include "policy/token_budget.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

inline constexpr uid_t kUnknownUid = static_cast<uid_t>(-1);

// What a request in flight holds back until its stream ends.
struct Reservation {
    std::uint64_t tokens = 0;
    MicroDollars dollars = 0;
    Reservation() = default;
    Reservation(std::uint64_t t, MicroDollars d = 0) : tokens(t), dollars(d) {}  // NOLINT
};

// What one user may still spend, for GET /usage and the budget headers.
struct UserStanding {
    UserPeriods used;                 // the periods containing `now`
    std::array<PeriodSpan, 3> spans;  // their keys and resets, by BudgetPeriod
    unsigned streams = 0;
    Reservation reserved;
    std::optional<double> tokens_this_minute_left;  // the bucket, when one is in force
};

class UserAccounts {
  public:
    explicit UserAccounts(UsageState loaded = {});

    // The zone the periods are counted in (the policy's); default UTC.
    void set_zone(std::shared_ptr<const TimeZone> zone);

    struct Verdict {
        const Refusal* refusal = nullptr;  // null: go ahead
        std::uint32_t retry_after = 0;     // seconds, for 429
    };
    // Before anything is sent upstream. On success the request is counted,
    // and a stream is open and `reservation` is held back
    // (policy/token_budget.hpp, policy/spend_budget.hpp) until
    // stream_ended() with the same figure.
    Verdict admit(uid_t uid, const EffectiveLimits& limits, const Reservation& reservation,
                  std::int64_t now_unix, double now_mono_s);
    // Every end of an admitted stream, however it ended: releases its
    // reservation and charges what it cost, in tokens and in dollars, to
    // every period and to the tokens-per-minute bucket.
    void stream_ended(uid_t uid, const Reservation& reservation, const TokenCharge& charge,
                      std::int64_t now_unix, MicroDollars dollars = 0, double now_mono_s = 0);
    void count_refusal(uid_t uid, std::int64_t now_unix);
    // An admitted request the parent then refused for its body (the body
    // rules): it moves from the periods' requests to their refusals.
    void count_body_refusal(uid_t uid, std::int64_t now_unix);

    // One user's current periods (rolled over to `now_unix` first).
    UserStanding standing(uid_t uid, std::int64_t now_unix, double now_mono_s);
    // Everyone's, rolled over: what the state file keeps.
    const UsageState& state(std::int64_t now_unix);
    unsigned open_streams(uid_t uid) const;
    // Every uid with a stream open now or counted today (for GET /metrics).
    std::vector<uid_t> uids_seen(std::int64_t now_unix);
    std::uint64_t reserved_tokens(uid_t uid) const;
    bool dirty() const { return dirty_; }
    void mark_saved() { dirty_ = false; }

  private:
    struct Live {
        unsigned streams = 0;
        Reservation reserved;  // of the streams open
        TokenBucket bucket;
        TokenRate tokens_per_minute;
        std::uint64_t tokens_per_minute_limit = 0;  // as of the last admission
    };
    void refresh_spans(std::int64_t now_unix);
    UserPeriods& periods_of(uid_t uid, std::int64_t now_unix);

    std::shared_ptr<const TimeZone> zone_;
    UsageState state_;
    std::array<PeriodSpan, 3> spans_{};  // the current periods, by BudgetPeriod
    std::int64_t spans_until_ = 0;       // the first reset among them
    std::unordered_map<uid_t, Live> live_;
    bool dirty_ = false;
};

}  // namespace proxy
