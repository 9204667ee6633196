// Test helpers: one user's counters in the current day, and that day's key.
#pragma once

#include <string>

#include "parent/users/user_accounts.hpp"

namespace proxy::test {

inline UsageCounters day_of(UserAccounts& acc, uid_t uid, std::int64_t now) {
    return acc.standing(uid, now, 0).used[BudgetPeriod::Day].counters;
}

inline std::string day_of_key(UserAccounts& acc, std::int64_t now) {
    return acc.standing(0, now, 0).spans[0].key;
}

}  // namespace proxy::test
