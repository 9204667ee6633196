// The counters behind the per-user limits: open streams, their token
// reservations and the per-minute token bucket of each uid (live, lost on
// restart), and today's requests, refusals and tokens (UsageDay, kept in
// --state-file). Callers that could not be identified share one account,
// kUnknownUid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "parent/users/usage_state.hpp"
#include "policy/rate_limit.hpp"
#include "policy/refusal.hpp"
#include "policy/token_budget.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

inline constexpr uid_t kUnknownUid = static_cast<uid_t>(-1);

class UserAccounts {
  public:
    explicit UserAccounts(UsageDay loaded = {}) : day_(std::move(loaded)) {}

    struct Verdict {
        const Refusal* refusal = nullptr;  // null: go ahead
        std::uint32_t retry_after = 0;     // seconds, for 429
    };
    // Before anything is sent upstream. On success the request is counted,
    // and a stream is open and `reservation` tokens are held back
    // (policy/token_budget.hpp) until stream_ended() with the same figure.
    Verdict admit(uid_t uid, const EffectiveLimits& limits, std::uint64_t reservation,
                  std::int64_t now_unix, double now_mono_s);
    // Every end of an admitted stream, however it ended: releases its
    // reservation and charges what it cost.
    void stream_ended(uid_t uid, std::uint64_t reservation, const TokenCharge& charge,
                      std::int64_t now_unix);
    void count_refusal(uid_t uid, std::int64_t now_unix);

    // Today's figures (rolled over to `now_unix`'s day first).
    const UsageDay& today(std::int64_t now_unix);
    unsigned open_streams(uid_t uid) const;
    // Every uid with a stream open now or counted today (for GET /metrics).
    std::vector<uid_t> uids_seen(std::int64_t now_unix);
    std::uint64_t reserved_tokens(uid_t uid) const;
    bool dirty() const { return dirty_; }
    void mark_saved() { dirty_ = false; }

  private:
    struct Live {
        unsigned streams = 0;
        std::uint64_t reserved = 0;  // tokens, of the streams open
        TokenBucket bucket;
    };
    void roll(std::int64_t now_unix);

    UsageDay day_;
    std::int64_t day_ends_ = 0;  // unix time at which day_ is over
    std::unordered_map<uid_t, Live> live_;
    bool dirty_ = false;
};

}  // namespace proxy
