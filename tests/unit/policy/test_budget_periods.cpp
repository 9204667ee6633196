// Budget periods on a clock the test sets: a day, an ISO week and a month
// rolling over at local midnight, ISO week numbers across year ends, and the
// 23- and 25-hour days of DST in Europe/Berlin and America/New_York.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "policy/budget_periods.hpp"
#include "tests/unit/support/civil_time.hpp"

using namespace proxy;
using namespace std::chrono;

namespace {

using proxy::test::zone;

using proxy::test::utc;

std::string key(const TimeZone& tz, BudgetPeriod p, std::int64_t t) {
    return period_at(tz, p, t).key;
}

}  // namespace

TEST_CASE("periods: names") {
    CHECK(period_name(BudgetPeriod::Day) == "day");
    CHECK(period_name(BudgetPeriod::Week) == "week");
    CHECK(period_name(BudgetPeriod::Month) == "month");
}

TEST_CASE("periods: a day, a week and a month roll over at local midnight") {
    const auto berlin = zone("Europe/Berlin");
    // Sunday 2025-06-29 23:59:59 CEST is 21:59:59 UTC; the month ends the
    // next day.
    const std::int64_t sunday_end = utc(2025, 6, 29, 21, 59, 59);
    CHECK(key(*berlin, BudgetPeriod::Day, sunday_end) == "2025-06-29");
    CHECK(key(*berlin, BudgetPeriod::Day, sunday_end + 1) == "2025-06-30");
    CHECK(key(*berlin, BudgetPeriod::Week, sunday_end) == "2025-W26");
    CHECK(key(*berlin, BudgetPeriod::Week, sunday_end + 1) == "2025-W27");
    const PeriodSpan week = period_at(*berlin, BudgetPeriod::Week, sunday_end);
    CHECK(week.start == utc(2025, 6, 22, 22));  // Monday 00:00 CEST
    CHECK(week.reset == sunday_end + 1);
    CHECK(seconds_until_reset(week, sunday_end) == 1);
    CHECK(seconds_until_reset(week, week.start) == 7 * 86400);

    // The month turns at 2025-07-01 00:00 CEST = 2025-06-30 22:00 UTC.
    const std::int64_t month_end = utc(2025, 6, 30, 21, 59, 59);
    CHECK(key(*berlin, BudgetPeriod::Month, month_end) == "2025-06");
    CHECK(key(*berlin, BudgetPeriod::Month, month_end + 1) == "2025-07");
    const PeriodSpan june = period_at(*berlin, BudgetPeriod::Month, month_end);
    CHECK(june.start == utc(2025, 5, 31, 22));
    CHECK(june.reset == month_end + 1);
    const PeriodSpan july = period_at(*berlin, BudgetPeriod::Month, month_end + 1);
    CHECK(july.start == june.reset);
    CHECK(july.reset == utc(2025, 7, 31, 22));
    // Still June at that instant in New York, and in UTC.
    CHECK(key(*zone("America/New_York"), BudgetPeriod::Month, month_end + 1) == "2025-06");
    CHECK(key(TimeZone{}, BudgetPeriod::Month, month_end + 1) == "2025-06");
    CHECK(key(TimeZone{}, BudgetPeriod::Month, utc(2025, 7, 1)) == "2025-07");
}

TEST_CASE("periods: months of every length, leap years, and the year's end") {
    const TimeZone utc_zone;
    const PeriodSpan feb_leap = period_at(utc_zone, BudgetPeriod::Month, utc(2024, 2, 29, 12));
    CHECK(feb_leap.key == "2024-02");
    CHECK(feb_leap.reset - feb_leap.start == 29 * 86400);
    CHECK(period_at(utc_zone, BudgetPeriod::Month, utc(2025, 2, 1)).reset - utc(2025, 2, 1) ==
          28 * 86400);
    const PeriodSpan december = period_at(utc_zone, BudgetPeriod::Month, utc(2025, 12, 31, 23));
    CHECK(december.key == "2025-12");
    CHECK(december.reset == utc(2026, 1, 1));
    CHECK(key(utc_zone, BudgetPeriod::Month, december.reset) == "2026-01");
    CHECK(key(utc_zone, BudgetPeriod::Day, december.reset - 1) == "2025-12-31");
    CHECK(key(utc_zone, BudgetPeriod::Day, december.reset) == "2026-01-01");
}

TEST_CASE("periods: ISO weeks across year ends") {
    const TimeZone utc_zone;
    struct Case {
        int y;
        unsigned m, d;
        const char* week;
    };
    for (const Case c : {
             Case{2024, 12, 29, "2024-W52"},  // Sunday
             Case{2024, 12, 30, "2025-W01"},  // Monday: 2025's first Thursday is Jan 2
             Case{2025, 1, 1, "2025-W01"},
             Case{2021, 1, 3, "2020-W53"},  // Sunday: 2020 has 53 weeks
             Case{2021, 1, 4, "2021-W01"},
             Case{2026, 12, 31, "2026-W53"},  // Thursday
             Case{2027, 1, 1, "2026-W53"},    // Friday, still 2026's last week
             Case{2027, 1, 3, "2026-W53"},
             Case{2027, 1, 4, "2027-W01"},
             Case{2025, 6, 30, "2025-W27"},
         }) {
        CAPTURE(c.y);
        CAPTURE(c.m);
        CAPTURE(c.d);
        CHECK(key(utc_zone, BudgetPeriod::Week, utc(c.y, c.m, c.d, 12)) == c.week);
    }
    // The week spanning a year end is one period: Monday to Monday.
    const PeriodSpan w = period_at(utc_zone, BudgetPeriod::Week, utc(2027, 1, 1, 12));
    CHECK(w.start == utc(2026, 12, 28));
    CHECK(w.reset == utc(2027, 1, 4));
}

TEST_CASE("periods: DST days of 23 and 25 hours in Europe/Berlin") {
    const auto berlin = zone("Europe/Berlin");
    const PeriodSpan spring = period_at(*berlin, BudgetPeriod::Day, utc(2025, 3, 30, 12));
    CHECK(spring.key == "2025-03-30");
    CHECK(spring.start == utc(2025, 3, 29, 23));
    CHECK(spring.reset == utc(2025, 3, 30, 22));
    CHECK(spring.reset - spring.start == 23 * 3600);
    // The week holding it is an hour short, and so is March.
    const PeriodSpan week = period_at(*berlin, BudgetPeriod::Week, utc(2025, 3, 30, 12));
    CHECK(week.key == "2025-W13");
    CHECK(week.reset - week.start == 7 * 86400 - 3600);
    const PeriodSpan march = period_at(*berlin, BudgetPeriod::Month, utc(2025, 3, 30, 12));
    CHECK(march.reset - march.start == 31 * 86400 - 3600);

    const PeriodSpan autumn = period_at(*berlin, BudgetPeriod::Day, utc(2025, 10, 26, 1, 30));
    CHECK(autumn.key == "2025-10-26");
    CHECK(autumn.reset - autumn.start == 25 * 3600);
    // Both passes through 02:30 local are the same day.
    CHECK(key(*berlin, BudgetPeriod::Day, utc(2025, 10, 26, 0, 30)) == "2025-10-26");
    CHECK(key(*berlin, BudgetPeriod::Day, utc(2025, 10, 26, 1, 30)) == "2025-10-26");
    // Retry-After from the last second before the spring reset.
    CHECK(seconds_until_reset(spring, spring.reset - 1) == 1);
    CHECK(seconds_until_reset(spring, spring.reset) == 1);  // never 0
}

TEST_CASE("periods: DST days of 23 and 25 hours in America/New_York") {
    const auto ny = zone("America/New_York");
    const PeriodSpan spring = period_at(*ny, BudgetPeriod::Day, utc(2025, 3, 9, 12));
    CHECK(spring.key == "2025-03-09");
    CHECK(spring.start == utc(2025, 3, 9, 5));
    CHECK(spring.reset == utc(2025, 3, 10, 4));
    const PeriodSpan autumn = period_at(*ny, BudgetPeriod::Day, utc(2025, 11, 2, 12));
    CHECK(autumn.key == "2025-11-02");
    CHECK(autumn.reset - autumn.start == 25 * 3600);
    // 23:30 EST on Saturday 2025-11-01 is still Saturday; 00:30 EDT Sunday is
    // Sunday, the week's last day (2025-W44), and 00:00 Monday starts W45.
    CHECK(key(*ny, BudgetPeriod::Day, utc(2025, 11, 2, 3, 30)) == "2025-11-01");
    CHECK(key(*ny, BudgetPeriod::Day, utc(2025, 11, 2, 4, 30)) == "2025-11-02");
    CHECK(key(*ny, BudgetPeriod::Week, utc(2025, 11, 3, 4, 59, 59)) == "2025-W44");
    CHECK(key(*ny, BudgetPeriod::Week, utc(2025, 11, 3, 5)) == "2025-W45");
}

TEST_CASE("periods: a day whose midnight does not exist begins at the jump") {
    const auto havana = zone("America/Havana");
    // 2025-03-09: 00:00 CST becomes 01:00 CDT at 05:00 UTC.
    const PeriodSpan saturday = period_at(*havana, BudgetPeriod::Day, utc(2025, 3, 9, 4, 59, 59));
    CHECK(saturday.key == "2025-03-08");
    CHECK(saturday.reset == utc(2025, 3, 9, 5));
    const PeriodSpan sunday = period_at(*havana, BudgetPeriod::Day, utc(2025, 3, 9, 5));
    CHECK(sunday.key == "2025-03-09");
    CHECK(sunday.start == utc(2025, 3, 9, 5));
    CHECK(sunday.reset - sunday.start == 23 * 3600);
}

TEST_CASE("periods: every instant is in exactly one period of each kind") {
    for (const char* name : {"Europe/Berlin", "America/New_York", "America/Havana",
                             "Australia/Lord_Howe", "Pacific/Apia"}) {
        CAPTURE(name);
        const auto tz = zone(name);
        int bad = 0;
        for (std::int64_t t = utc(2010, 1, 1); t < utc(2030, 1, 1) && bad < 3; t += 17 * 3600 + 7) {
            for (BudgetPeriod p : kBudgetPeriods) {
                const PeriodSpan s = period_at(*tz, p, t);
                const bool ok = s.start <= t && t < s.reset &&
                                period_at(*tz, p, s.start).key == s.key &&
                                period_at(*tz, p, s.reset).key != s.key &&
                                period_at(*tz, p, s.reset).start == s.reset &&
                                period_at(*tz, p, s.start - 1).reset == s.start;
                if (!ok) {
                    ++bad;
                    CAPTURE(t);
                    CAPTURE(period_name(p));
                    CHECK(ok);
                }
            }
        }
        CHECK(bad == 0);
    }
}

TEST_CASE("periods: clocks set back across midnight do not bring the day before back") {
    // A made-up southern zone (-03, DST -02) whose DST ends at 00:30 on the
    // third Sunday in February: the clock shows Sunday 00:00 to 00:29, then
    // Saturday 23:30 again. No real zone does this today; the periods must
    // still not run backwards.
    const auto rule = parse_posix_tz("<-03>3<-02>,M10.1.0/0,M2.3.0/0:30");
    REQUIRE(rule);
    const TimeZone tz = TimeZone::from_rule("test", *rule);
    // 2026-02-15: Sunday 00:00 -02 is 02:00 UTC; the clocks go back at 02:30.
    CHECK(tz.local_date(utc(2026, 2, 15, 2, 45)) == sys_days{2026y / February / 14});
    const PeriodSpan sunday = period_at(tz, BudgetPeriod::Day, utc(2026, 2, 15, 2, 45));
    CHECK(sunday.key == "2026-02-15");
    CHECK(sunday.start == utc(2026, 2, 15, 2));
    CHECK(sunday.reset == utc(2026, 2, 16, 3));
    CHECK(key(tz, BudgetPeriod::Day, utc(2026, 2, 15, 1, 59, 59)) == "2026-02-14");
}
