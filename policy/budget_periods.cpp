#include "policy/budget_periods.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace proxy {
namespace {

using namespace std::chrono;

std::string date_key(const year_month_day& ymd) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return buf;
}

std::string month_key(const year_month_day& ymd) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()));
    return buf;
}

sys_days monday_of(sys_days day) {
    return day - (weekday{day} - Monday);
}

// ISO 8601: a week belongs to the year of its Thursday, and week 1 is the
// one holding that year's first Thursday.
std::string iso_week_key(sys_days monday) {
    const sys_days thursday = monday + days{3};
    const year iso_year = year_month_day{thursday}.year();
    const auto week = (thursday - sys_days{iso_year / January / 1}).count() / 7 + 1;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-W%02d", static_cast<int>(iso_year),
                  static_cast<int>(week));
    return buf;
}

}  // namespace

std::string_view period_name(BudgetPeriod period) {
    switch (period) {
        case BudgetPeriod::Day:
            return "day";
        case BudgetPeriod::Week:
            return "week";
        case BudgetPeriod::Month:
            return "month";
    }
    return "?";
}

sys_days budget_day(const TimeZone& zone, std::int64_t now) {
    // The wall clock's date, unless the clocks were set back across
    // midnight and show the day before again: the day that began is kept.
    sys_days day = zone.local_date(now);
    if (zone.start_of_day(day + days{1}) <= now) day += days{1};
    if (zone.start_of_day(day) > now) day -= days{1};
    return day;
}

PeriodSpan period_at(const TimeZone& zone, BudgetPeriod period, std::int64_t now) {
    const sys_days day = budget_day(zone, now);
    const year_month_day ymd{day};
    PeriodSpan span;
    sys_days first = day;
    sys_days next = day + days{1};
    switch (period) {
        case BudgetPeriod::Day:
            span.key = date_key(ymd);
            break;
        case BudgetPeriod::Week:
            first = monday_of(day);
            next = first + days{7};
            span.key = iso_week_key(first);
            break;
        case BudgetPeriod::Month:
            first = sys_days{ymd.year() / ymd.month() / 1};
            next = sys_days{(ymd.year() / ymd.month() + months{1}) / 1};
            span.key = month_key(ymd);
            break;
    }
    span.start = zone.start_of_day(first);
    span.reset = zone.start_of_day(next);
    return span;
}

std::string period_key_of_day(BudgetPeriod period, sys_days day) {
    switch (period) {
        case BudgetPeriod::Day:
            return date_key(year_month_day{day});
        case BudgetPeriod::Week:
            return iso_week_key(monday_of(day));
        case BudgetPeriod::Month:
            return month_key(year_month_day{day});
    }
    return {};
}

std::uint32_t seconds_until_reset(const PeriodSpan& span, std::int64_t now) {
    if (span.reset <= now) return 1;
    const std::int64_t left = span.reset - now;
    return static_cast<std::uint32_t>(
        std::min<std::int64_t>(left, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace proxy
