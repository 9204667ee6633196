// Our TZif reader and POSIX rules against glibc's own: the same offsets at
// every sampled instant from 1900 to 2100 (past the files' last transitions,
// where the footer rule decides), for zones north and south, with half-hour
// DST and with midnight transitions; and what is refused.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "policy/time_zone.hpp"
#include "tests/unit/support/civil_time.hpp"

using namespace proxy;
using namespace std::chrono;

namespace {

using proxy::test::zone;

// Sets TZ for glibc for the life of the object, and puts it back.
class GlibcZone {
  public:
    explicit GlibcZone(const char* tz) {
        if (const char* old = ::getenv("TZ")) old_ = old;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~GlibcZone() {
        if (old_) {
            ::setenv("TZ", old_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    GlibcZone(const GlibcZone&) = delete;
    GlibcZone& operator=(const GlibcZone&) = delete;

    static long offset_at(std::int64_t t) {
        const time_t tt = static_cast<time_t>(t);
        struct tm tm {};
        // A failure reads as offset -1, which no zone has: a mismatch.
        return ::localtime_r(&tt, &tm) != nullptr ? tm.tm_gmtoff : -1;
    }

  private:
    std::optional<std::string> old_;
};

using proxy::test::utc;

}  // namespace

TEST_CASE("time zone: offsets agree with glibc's, 1900 to 2100") {
    for (const char* name :
         {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
          "America/Havana", "America/Sao_Paulo", "Asia/Kolkata", "Pacific/Apia", "America/Santiago",
          "Africa/Casablanca", "Europe/Dublin", "UTC"}) {
        CAPTURE(name);
        const auto tz = zone(name);
        const GlibcZone glibc(name);
        int mismatches = 0;
        // Every 29 hours 17 minutes: every hour of the day comes round.
        for (std::int64_t t = utc(1900, 1, 1); t < utc(2100, 1, 1) && mismatches < 5;
             t += 29 * 3600 + 17 * 60) {
            const long want = GlibcZone::offset_at(t);
            if (tz->offset_at(t) != want) {
                ++mismatches;
                CAPTURE(t);
                CHECK(tz->offset_at(t) == want);
            }
        }
        CHECK(mismatches == 0);
    }
}

TEST_CASE("time zone: offsets at the very seconds of DST transitions") {
    const auto berlin = zone("Europe/Berlin");
    // 2025-03-30 01:00 UTC: 02:00 CET becomes 03:00 CEST.
    CHECK(berlin->offset_at(utc(2025, 3, 30, 0, 59, 59)) == 3600);
    CHECK(berlin->offset_at(utc(2025, 3, 30, 1)) == 7200);
    // 2025-10-26 01:00 UTC: 03:00 CEST becomes 02:00 CET.
    CHECK(berlin->offset_at(utc(2025, 10, 26, 0, 59, 59)) == 7200);
    CHECK(berlin->offset_at(utc(2025, 10, 26, 1)) == 3600);
    // 2090: far past the file's transitions, the footer rule.
    CHECK(berlin->offset_at(utc(2090, 3, 26, 0, 59, 59)) == 3600);
    CHECK(berlin->offset_at(utc(2090, 3, 26, 1)) == 7200);
}

TEST_CASE("POSIX rules as $TZ and TZif footers say them") {
    const auto cet = parse_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3");
    REQUIRE(cet);
    CHECK(cet->std_offset == 3600);
    REQUIRE(cet->dst);
    CHECK(cet->dst->offset == 7200);
    CHECK(cet->offset_at(utc(2031, 3, 30, 0, 59, 59)) == 3600);
    CHECK(cet->offset_at(utc(2031, 3, 30, 1)) == 7200);

    const auto fixed = parse_posix_tz("<+0530>-5:30");
    REQUIRE(fixed);
    CHECK(fixed->std_offset == 5 * 3600 + 1800);
    CHECK_FALSE(fixed->dst);

    // DST without rules: the US rules, as glibc does.
    const auto est = parse_posix_tz("EST5EDT");
    REQUIRE(est);
    CHECK(est->offset_at(utc(2030, 3, 10, 6, 59, 59)) == -5 * 3600);
    CHECK(est->offset_at(utc(2030, 3, 10, 7)) == -4 * 3600);

    // Julian days, and the RFC 8536 extensions (negative and >24h times).
    REQUIRE(parse_posix_tz("XXX3YYY,J60/-1,300/167"));
    REQUIRE(parse_posix_tz("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1"));
    for (const char* bad :
         {"", "C", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
          "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J100",
          "CET-1CEST,366,1", "CET-25", "CET-1 ", "<ab>1", "CET-1CEST,M3.5.0/168,M10.5.0"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_posix_tz(bad).has_value());
    }
}

TEST_CASE("time zone: local midnight across DST, in Berlin and New York") {
    const auto berlin = zone("Europe/Berlin");
    // A 23-hour day and a 25-hour one.
    const auto spring = sys_days{2025y / March / 30};
    CHECK(berlin->start_of_day(spring) == utc(2025, 3, 29, 23));
    CHECK(berlin->start_of_day(spring + days{1}) == utc(2025, 3, 30, 22));
    const auto autumn = sys_days{2025y / October / 26};
    CHECK(berlin->start_of_day(autumn) == utc(2025, 10, 25, 22));
    CHECK(berlin->start_of_day(autumn + days{1}) == utc(2025, 10, 26, 23));

    const auto new_york = zone("America/New_York");
    CHECK(new_york->start_of_day(sys_days{2025y / March / 9}) == utc(2025, 3, 9, 5));
    CHECK(new_york->start_of_day(sys_days{2025y / March / 10}) == utc(2025, 3, 10, 4));
    CHECK(new_york->start_of_day(sys_days{2025y / November / 2}) == utc(2025, 11, 2, 4));
    CHECK(new_york->start_of_day(sys_days{2025y / November / 3}) == utc(2025, 11, 3, 5));
}

TEST_CASE("time zone: a midnight that does not exist, and one that comes twice") {
    // Cuba sets its clocks from 00:00 to 01:00 on the second Sunday in March
    // (at 05:00 UTC), and from 01:00 back to 00:00 on the first in November.
    const auto havana = zone("America/Havana");
    CHECK(havana->start_of_day(sys_days{2025y / March / 9}) == utc(2025, 3, 9, 5));
    CHECK(havana->offset_at(utc(2025, 3, 9, 5)) == -4 * 3600);  // 01:00 CDT: the jump
    CHECK(havana->start_of_day(sys_days{2025y / March / 8}) == utc(2025, 3, 8, 5));
    // 01:00 CDT back to 00:00 CST happens after midnight: one midnight, the
    // day is 25 hours.
    CHECK(havana->start_of_day(sys_days{2025y / November / 2}) == utc(2025, 11, 2, 4));
    CHECK(havana->start_of_day(sys_days{2025y / November / 3}) == utc(2025, 11, 3, 5));
    // Brazil, 2018-11-04: 00:00 became 01:00 (-03 to -02).
    const auto sao_paulo = zone("America/Sao_Paulo");
    CHECK(sao_paulo->start_of_day(sys_days{2018y / November / 4}) == utc(2018, 11, 4, 3));
    // Samoa skipped 2011-12-30 altogether: that day has no length.
    const auto apia = zone("Pacific/Apia");
    CHECK(apia->start_of_day(sys_days{2011y / December / 30}) ==
          apia->start_of_day(sys_days{2011y / December / 31}));
}

TEST_CASE("time zone: every local day begins at a midnight or at the jump past it") {
    for (const char* name : {"Europe/Berlin", "America/New_York", "America/Havana",
                             "Australia/Lord_Howe", "America/Santiago", "Asia/Tehran"}) {
        CAPTURE(name);
        const auto tz = zone(name);
        sys_days d{2000y / January / 1};
        std::int64_t previous = tz->start_of_day(d - days{1});
        int bad = 0;
        for (; d < sys_days{2040y / January / 1} && bad < 3; d += days{1}) {
            const std::int64_t start = tz->start_of_day(d);
            const std::int64_t wall = start + tz->offset_at(start);
            const std::int64_t midnight = d.time_since_epoch().count() * 86400;
            const std::int64_t length = start - previous;
            // At midnight, or (no midnight that day) less than 2 hours after.
            const bool ok =
                wall >= midnight && wall < midnight + 7200 &&
                (wall == midnight || tz->offset_at(start - 1) != tz->offset_at(start)) &&
                length >= 22 * 3600 && length <= 26 * 3600;
            if (!ok) {
                ++bad;
                CAPTURE(d.time_since_epoch().count());
                CHECK(ok);
            }
            previous = start;
        }
    }
}

TEST_CASE("time zone: names that are refused") {
    for (const char* bad :
         {"", "/etc/passwd", "../../etc/passwd", "Europe/../../etc/passwd", "Europe//Berlin",
          "Europe/", "./UTC", "Europe/Berlin\n", "Europe/Ber lin"}) {
        CAPTURE(bad);
        CHECK_FALSE(valid_zone_name(bad));
        const auto loaded = load_time_zone(bad);
        REQUIRE(std::holds_alternative<std::string>(loaded));
        CHECK(std::get<std::string>(loaded).find("not a time zone name") != std::string::npos);
    }
    const auto missing = load_time_zone("Mars/Olympus_Mons");
    REQUIRE(std::holds_alternative<std::string>(missing));
    CHECK(std::get<std::string>(missing).find("unknown time zone 'Mars/Olympus_Mons'") !=
          std::string::npos);
    // Files that exist in the tz directory but are no zones.
    for (const char* not_a_zone : {"zone.tab", "tzdata.zi", "Europe"}) {
        CAPTURE(not_a_zone);
        CHECK(std::holds_alternative<std::string>(load_time_zone(not_a_zone)));
    }
    // Leap-second zones count TAI-like seconds, not Unix time.
    const auto right = load_time_zone("right/Europe/Berlin");
    REQUIRE(std::holds_alternative<std::string>(right));
    CHECK(std::get<std::string>(right).find("leap seconds") != std::string::npos);
    // UTC needs no tzdata.
    const auto utc_zone = load_time_zone("UTC", "/nonexistent");
    REQUIRE(std::holds_alternative<std::shared_ptr<const TimeZone>>(utc_zone));
    CHECK(std::get<std::shared_ptr<const TimeZone>>(utc_zone)->offset_at(utc(2025, 6, 1)) == 0);
    CHECK(std::holds_alternative<std::string>(load_time_zone("Europe/Berlin", "/nonexistent")));
}

TEST_CASE("time zone: malformed TZif data is refused, not misread") {
    CHECK(std::holds_alternative<std::string>(TimeZone::from_tzif("x", "")));
    CHECK(std::holds_alternative<std::string>(TimeZone::from_tzif("x", "TZif2")));
    CHECK(std::holds_alternative<std::string>(TimeZone::from_tzif("x", "not a zone at all")));
    // A real file cut short anywhere is an error, never a zone.
    std::string berlin;
    {
        FILE* f = std::fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
        REQUIRE(f != nullptr);
        char buf[4096];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) berlin.append(buf, n);
        std::fclose(f);
    }
    REQUIRE(std::holds_alternative<TimeZone>(TimeZone::from_tzif("Europe/Berlin", berlin)));
    for (std::size_t cut = 0; cut + 1 < berlin.size(); cut += 7) {
        CAPTURE(cut);
        CHECK(std::holds_alternative<std::string>(
            TimeZone::from_tzif("x", std::string_view(berlin).substr(0, cut))));
    }
}

TEST_CASE("the local zone: $TZ as glibc reads it, else /etc/localtime, else UTC") {
    CHECK(load_local_time_zone("Europe/Berlin").zone->name() == "Europe/Berlin");
    CHECK(load_local_time_zone(":Europe/Berlin").zone->offset_at(utc(2025, 7, 1)) == 7200);
    CHECK(load_local_time_zone("/usr/share/zoneinfo/Asia/Kolkata").zone->offset_at(0) == 19800);
    const LocalTimeZone rule = load_local_time_zone("EST5EDT4,M3.2.0,M11.1.0");
    CHECK(rule.warning.empty());
    CHECK(rule.zone->offset_at(utc(2025, 7, 1)) == -4 * 3600);
    CHECK(load_local_time_zone("").zone->offset_at(utc(2025, 7, 1)) == 0);
    // Unreadable: UTC, and a warning for the operator.
    const LocalTimeZone bogus = load_local_time_zone("Mars/Olympus_Mons");
    CHECK(bogus.zone->offset_at(utc(2025, 7, 1)) == 0);
    CHECK(bogus.warning.find("using UTC") != std::string::npos);
    const LocalTimeZone bad_path = load_local_time_zone(":/nonexistent/zone");
    CHECK(bad_path.zone->name() == "UTC");
    CHECK_FALSE(bad_path.warning.empty());
    // No $TZ: the file /etc/localtime links to, named by its link.
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/tz-test-XXXXXX";
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    const std::string link = dir + "/localtime";
    REQUIRE(::symlink("/usr/share/zoneinfo/America/New_York", link.c_str()) == 0);
    const LocalTimeZone from_file = load_local_time_zone(nullptr, link);
    ::unlink(link.c_str());
    ::rmdir(dir.c_str());
    CHECK(from_file.zone->name() == "America/New_York");
    CHECK(from_file.zone->offset_at(utc(2025, 1, 1)) == -5 * 3600);
    // A plain file is named by its path.
    CHECK(load_local_time_zone(nullptr, "/usr/share/zoneinfo/Asia/Kolkata").zone->name() ==
          "/usr/share/zoneinfo/Asia/Kolkata");
    // None at all: UTC, silently, as glibc.
    const LocalTimeZone none = load_local_time_zone(nullptr, "/nonexistent/localtime");
    CHECK(none.zone->name() == "UTC");
    CHECK(none.warning.empty());
}
