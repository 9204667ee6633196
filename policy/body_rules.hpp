// The request-body rules for one caller (policy/request_body_policy.hpp's
// BodyRules), resolved from the levels of policy/body_limits.hpp the way the
// counting limits are (policy/user_policy.hpp): the flags, then the file's
// [defaults], then the caller's groups (the most generous: lists are joined,
// the larger cap wins, no cap beats any), then [users.NAME].
//
// Response ownership is one switch for the whole proxy, not per user: it
// protects each user's stored responses from the others, so it cannot be
// one user's to give up. Automatic (the default): on as soon as the policy
// says anything about who may use the proxy or how much (UserPolicy::
// names_users()), unless it admits exactly one user and no group; off
// without any per-user rule, where the proxy behaves as the original, which
// knows no users. `response_ownership = true|false` in [defaults], or
// --response-ownership on|off, says it outright.
#pragma once

#include "policy/request_body_policy.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

bool response_ownership_in_force(const UserPolicy& policy);

// `limits` is what limits_for() gave the same caller: a token budget there
// means "background": true is refused.
BodyRules body_rules_for(const UserPolicy& policy, const Caller& caller,
                         const EffectiveLimits& limits);

}  // namespace proxy
