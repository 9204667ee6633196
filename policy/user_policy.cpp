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

}  // namespace

EffectiveLimits limits_for(const UserPolicy& policy, const Caller& caller) {
    EffectiveLimits out;
    override_with(out.max_streams, policy.defaults.max_streams);
    override_with(out.requests_per_minute, policy.defaults.requests_per_minute);
    override_with(out.tokens_per_day, policy.defaults.tokens_per_day);
    // Without a uid the groups are not the caller's either: defaults only.
    if (!caller.known) return out;

    UserLimits from_groups;
    for (gid_t g : caller.groups) {
        const auto it = policy.groups.find(g);
        if (it == policy.groups.end()) continue;
        fold_group(from_groups.max_streams, it->second.max_streams);
        fold_group(from_groups.requests_per_minute, it->second.requests_per_minute);
        fold_group(from_groups.tokens_per_day, it->second.tokens_per_day);
    }
    override_with(out.max_streams, from_groups.max_streams);
    override_with(out.requests_per_minute, from_groups.requests_per_minute);
    override_with(out.tokens_per_day, from_groups.tokens_per_day);

    if (const auto it = policy.users.find(caller.uid); it != policy.users.end()) {
        override_with(out.max_streams, it->second.max_streams);
        override_with(out.requests_per_minute, it->second.requests_per_minute);
        override_with(out.tokens_per_day, it->second.tokens_per_day);
    }
    return out;
}

bool UserPolicy::names_users() const {
    auto any = [](const UserLimits& l) {
        return l.max_streams.value_or(0) != 0 || l.requests_per_minute.value_or(0) != 0 ||
               l.tokens_per_day.value_or(0) != 0;
    };
    return has_allow_rules() || !deny_users.empty() || !deny_groups.empty() || any(defaults) ||
           !users.empty() || !groups.empty();
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
