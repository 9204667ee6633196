// Who may use the proxy, and how much: per-user rules as data and small pure
// functions. The parent learns the caller's uid from the kernel (the owner of
// the peer socket), resolves the uid's groups, and asks admit(); the counters
// the limits are checked against live in parent/user_accounts.*.
//
// In one paragraph: with no allow rule, everyone may; with allow rules, only
// the users named and the members of the groups named. A deny rule beats any
// allow rule. A caller whose uid the kernel could not vouch for (a peer
// socket that is gone, a time-wait or FIN_WAIT2 mini-socket, one with no
// inode: parent/users/peer_identity.cpp) is unidentified: never root, never anyone
// else, and refused wherever a rule names users (any allow or deny rule, any
// limit), since no rule can be applied to it; only a policy without any rule
// lets it through, as the original proxy would. Limits come from the
// flags (--max-streams-per-user, ...), overridden by the policy file's
// [defaults], then by the most generous [groups.G] the caller belongs to,
// then by [users.U]; 0 means unlimited. "Most generous" is per field: the
// larger number (0, unlimited, beats all).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/dollars.hpp"
#include "policy/body_limits.hpp"
#include "policy/pricing.hpp"
#include "policy/time_zone.hpp"

namespace proxy {

// One level of limits; nullopt means "this level says nothing", 0 unlimited.
// Tokens are input + output; days, weeks and months are those of the
// policy's zone (policy/budget_periods.hpp).
struct UserLimits {
    std::optional<std::uint32_t> max_streams{};          // concurrent streams
    std::optional<std::uint32_t> requests_per_minute{};  // token bucket, burst = the rate
    std::optional<std::uint64_t> tokens_per_day{};
    std::optional<std::uint64_t> tokens_per_week{};
    std::optional<std::uint64_t> tokens_per_month{};
    std::optional<std::uint64_t> tokens_per_minute{};  // policy/spend_budget.hpp
    std::optional<MicroDollars> dollars_per_day{};     // priced by UserPolicy::prices
    std::optional<MicroDollars> dollars_per_week{};
    std::optional<MicroDollars> dollars_per_month{};
    BodyLimits body = {};  // what request bodies may ask for (policy/body_rules.hpp)
};

// What applies to one caller; 0 means unlimited.
struct EffectiveLimits {
    std::uint32_t max_streams = 0;
    std::uint32_t requests_per_minute = 0;
    std::uint64_t tokens_per_day = 0;
    std::uint64_t tokens_per_week = 0;
    std::uint64_t tokens_per_month = 0;
    std::uint64_t tokens_per_minute = 0;
    MicroDollars dollars_per_day = 0;
    MicroDollars dollars_per_week = 0;
    MicroDollars dollars_per_month = 0;
    bool operator==(const EffectiveLimits&) const = default;

    // Any token budget (a day, week or month; not the per-minute rate).
    bool has_token_budget() const {
        return tokens_per_day != 0 || tokens_per_week != 0 || tokens_per_month != 0;
    }
    // Any dollar budget: then a model without a price is refused.
    bool has_dollar_budget() const {
        return dollars_per_day != 0 || dollars_per_week != 0 || dollars_per_month != 0;
    }
};

struct UserPolicy {
    // Both empty: everyone may (as without a policy).
    std::vector<uid_t> allow_users;
    std::vector<gid_t> allow_groups;
    std::vector<uid_t> deny_users;
    std::vector<gid_t> deny_groups;
    // Who may read GET /metrics besides root (--metrics-allow-*, [access]
    // metrics_users / metrics_groups). Not an allow rule: it lets nobody use
    // the proxy, and the allow and deny lists do not touch it.
    std::vector<uid_t> metrics_users;
    std::vector<gid_t> metrics_groups;
    UserLimits defaults;  // flags, then the file's [defaults]
    std::map<uid_t, UserLimits> users;
    std::map<gid_t, UserLimits> groups;
    PriceTable prices;  // the file's [prices."MODEL"]
    // The zone budget periods are counted in: --budget-timezone, the
    // file's `timezone`, else the system's (policy/budget_flags.hpp);
    // nullptr: UTC.
    std::shared_ptr<const TimeZone> zone;

    bool has_allow_rules() const { return !allow_users.empty() || !allow_groups.empty(); }
    // Any rule at all that is about who the caller is: allow, deny, limits
    // that need a per-user account.
    bool names_users() const;
    // Any token or dollar budget at any level (not the per-minute rates).
    bool has_budgets() const;
    const TimeZone& budget_zone() const;
};

// The caller as the parent knows it.
struct Caller {
    bool known = false;         // uid learned from the kernel
    uid_t uid = 0;              // valid when known
    std::vector<gid_t> groups;  // primary and supplementary, as the system reports them
};

struct Admission {
    bool allowed = false;
    bool unidentified = false;  // refused because the caller is unidentified
    EffectiveLimits limits;     // meaningful when allowed
};

// May this caller use the proxy, and with which limits.
Admission admit(const UserPolicy& policy, const Caller& caller);

// GET /shutdown (with --http-shutdown): root, or a caller admit() allows.
bool may_shutdown(const UserPolicy& policy, const Caller& caller);

// GET /metrics: root, or a caller metrics_users or metrics_groups names.
bool may_read_metrics(const UserPolicy& policy, const Caller& caller);

// The limits for a caller regardless of allow/deny (for the operator view).
EffectiveLimits limits_for(const UserPolicy& policy, const Caller& caller);

}  // namespace proxy
