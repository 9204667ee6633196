// The periods budgets are counted in: the day, the ISO week (Monday to
// Sunday; weeks are numbered as ISO 8601 does, so 2024-12-30 is in
// 2025-W01) and the calendar month, all on the wall clock of one time zone
// (policy/time_zone.hpp: --budget-timezone, the policy's `timezone`, else the
// system's local zone). Pure: the caller passes the instant.
//
// Each period runs from the instant its first local midnight is reached to
// the instant the next period's is (TimeZone::start_of_day): periods follow
// each other without gap or overlap, whatever the clocks do. Across DST a
// day is 23 or 25 hours long, and the week and the month containing it an
// hour shorter or longer; a day whose midnight does not exist begins when
// the clocks jump past it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/time_zone.hpp"

namespace proxy {

enum class BudgetPeriod { Day, Week, Month };
inline constexpr BudgetPeriod kBudgetPeriods[] = {BudgetPeriod::Day, BudgetPeriod::Week,
                                                  BudgetPeriod::Month};

// "day", "week", "month": for JSON, audit lines and the state file.
std::string_view period_name(BudgetPeriod period);

struct PeriodSpan {
    // "2025-03-30", "2025-W13" (ISO year and week), "2025-03": sortable
    // within one kind of period, and the state file's key for it.
    std::string key;
    std::int64_t start = 0;  // Unix seconds: the period's first instant
    std::int64_t reset = 0;  // the next period's first instant
};

// The local date whose day period contains `now`.
std::chrono::sys_days budget_day(const TimeZone& zone, std::int64_t now);

// The period of that kind containing `now`.
PeriodSpan period_at(const TimeZone& zone, BudgetPeriod period, std::int64_t now);

// The keys of the periods of each kind that contain the local date `day`
// (what a version 2 state file's day is carried into).
std::string period_key_of_day(BudgetPeriod period, std::chrono::sys_days day);

// Seconds from `now` to span.reset, at least 1: the
// Retry-After of a budget spent for this period.
std::uint32_t seconds_until_reset(const PeriodSpan& span, std::int64_t now);

}  // namespace proxy
