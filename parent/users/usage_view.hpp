// A user's own view of their standing: the JSON of GET /usage and the
// x-codex-proxy-budget-remaining-* headers on the answers of a user with a
// budget in force. Built from the caller the parent identified itself
// (AccessControl::usage_of), never from a worker's word.
//
// "remaining" is the limit less what the period's answers were charged; the
// reservations of requests still in flight are listed apart ("in_flight"),
// since they are released, and replaced by what the answers cost, when
// those streams end.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "parent/users/user_accounts.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

struct UsageView {
    uid_t uid = 0;
    std::string user;  // "" when the system has no name for the uid
    std::string zone;  // the budget zone's name
    EffectiveLimits limits;
    UserStanding standing;
    std::int64_t now = 0;
};

// {"uid":1000,"user":"alice","timezone":"UTC","periods":{"day":{...},...},...}
std::string usage_json(const UsageView& v);

// One header per budget in force: ("x-codex-proxy-budget-remaining-tokens-day",
// "1234"), (...-dollars-month, "2.5"), (...-tokens-minute, "800"); none
// without a budget.
std::vector<std::pair<std::string, std::string>> budget_headers(const UsageView& v);

}  // namespace proxy
