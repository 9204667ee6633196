#include "policy/user_policy.hpp"

#include <algorithm>

namespace proxy {
namespace {

template <typename Id>
bool contains(const std::vector<Id>& ids, Id id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool in_any_group(const std::vector<gid_t>& listed, const Caller& caller) {
    return std::any_of(caller.groups.begin(), caller.groups.end(),
                       [&](gid_t g) { return contains(listed, g); });
}

// 0 is unlimited, so it beats every number; otherwise the larger wins.
template <typename T>
T more_generous(T a, T b) {
    if (a == 0 || b == 0) return 0;
    return std::max(a, b);
}

// Folds one group's setting into what the caller's other groups said: a
// member of "interns" and "staff" gets the better of the two, because group
// membership only ever grants.
template <typename T>
void fold_group(std::optional<T>& acc, const std::optional<T>& group) {
    if (!group) return;
    acc = acc ? more_generous(*acc, *group) : *group;
}

template <typename T>
void override_with(T& field, const std::optional<T>& level) {
    if (level) field = *level;
}

// Every field, as a pair of members, so that no step below can forget one.
template <typename Visit>
void for_each_limit(Visit&& visit) {
    visit(&UserLimits::max_streams, &EffectiveLimits::max_streams);
    visit(&UserLimits::requests_per_minute, &EffectiveLimits::requests_per_minute);
    visit(&UserLimits::tokens_per_day, &EffectiveLimits::tokens_per_day);
    visit(&UserLimits::tokens_per_week, &EffectiveLimits::tokens_per_week);
    visit(&UserLimits::tokens_per_month, &EffectiveLimits::tokens_per_month);
    visit(&UserLimits::tokens_per_minute, &EffectiveLimits::tokens_per_minute);
    visit(&UserLimits::dollars_per_day, &EffectiveLimits::dollars_per_day);
    visit(&UserLimits::dollars_per_week, &EffectiveLimits::dollars_per_week);
    visit(&UserLimits::dollars_per_month, &EffectiveLimits::dollars_per_month);
}

void override_all(EffectiveLimits& out, const UserLimits& level) {
    for_each_limit([&](auto from, auto to) { override_with(out.*to, level.*from); });
}

// Limits that need an account per user (counters, buckets), as opposed to
// rules on what one request may ask for.
bool sets_account_limits(const UserLimits& l) {
    for (const auto* v :
         {&l.tokens_per_day, &l.tokens_per_week, &l.tokens_per_month, &l.tokens_per_minute,
          &l.dollars_per_day, &l.dollars_per_week, &l.dollars_per_month}) {
        if (v->value_or(0) != 0) return true;
    }
    return l.max_streams.value_or(0) != 0 || l.requests_per_minute.value_or(0) != 0;
}

bool sets_budget(const UserLimits& l) {
    for (const auto* v : {&l.tokens_per_day, &l.tokens_per_week, &l.tokens_per_month,
                          &l.dollars_per_day, &l.dollars_per_week, &l.dollars_per_month}) {
        if (v->value_or(0) != 0) return true;
    }
    return false;
}

}  // namespace

EffectiveLimits limits_for(const UserPolicy& policy, const Caller& caller) {
    EffectiveLimits out;
    override_all(out, policy.defaults);
    // Without a uid the groups are not the caller's either: defaults only.
    if (!caller.known) return out;

    UserLimits from_groups;
    for (gid_t g : caller.groups) {
        const auto it = policy.groups.find(g);
        if (it == policy.groups.end()) continue;
        for_each_limit([&](auto from, auto) { fold_group(from_groups.*from, it->second.*from); });
    }
    override_all(out, from_groups);

    if (const auto it = policy.users.find(caller.uid); it != policy.users.end()) {
        override_all(out, it->second);
    }
    return out;
}

bool UserPolicy::names_users() const {
    return has_allow_rules() || !deny_users.empty() || !deny_groups.empty() ||
           sets_account_limits(defaults) || !users.empty() || !groups.empty();
}

bool UserPolicy::has_budgets() const {
    if (sets_budget(defaults)) return true;
    for (const auto* level : {&users, &groups}) {
        for (const auto& [id, limits] : *level) {
            if (sets_budget(limits)) return true;
        }
    }
    return false;
}

const TimeZone& UserPolicy::budget_zone() const {
    static const TimeZone utc;
    return zone ? *zone : utc;
}

Admission admit(const UserPolicy& policy, const Caller& caller) {
    Admission out;
    if (!caller.known) {
        // Nothing can show an unidentified caller to be anyone allowed, nor
        // not to be someone denied, and no account can hold its limits: any
        // rule about users shuts it out.
        out.allowed = !policy.names_users();
        out.unidentified = !out.allowed;
    } else if (contains(policy.deny_users, caller.uid) ||
               in_any_group(policy.deny_groups, caller)) {
        out.allowed = false;
    } else if (policy.has_allow_rules()) {
        out.allowed =
            contains(policy.allow_users, caller.uid) || in_any_group(policy.allow_groups, caller);
    } else {
        out.allowed = true;
    }
    out.limits = limits_for(policy, caller);
    return out;
}

bool may_shutdown(const UserPolicy& policy, const Caller& caller) {
    // Root could kill the process anyway; the HTTP route only saves a signal.
    if (caller.known && caller.uid == 0) return true;
    return admit(policy, caller).allowed;
}

bool may_read_metrics(const UserPolicy& policy, const Caller& caller) {
    // The counters name users and how much they spend: nobody the kernel
    // cannot vouch for, whatever the lists say.
    if (!caller.known) return false;
    if (caller.uid == 0) return true;
    if (std::find(policy.metrics_users.begin(), policy.metrics_users.end(), caller.uid) !=
        policy.metrics_users.end())
        return true;
    for (gid_t g : caller.groups) {
        if (std::find(policy.metrics_groups.begin(), policy.metrics_groups.end(), g) !=
            policy.metrics_groups.end())
            return true;
    }
    return false;
}

}  // namespace proxy
