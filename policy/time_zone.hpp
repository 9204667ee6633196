// A time zone for budget periods, read from the system's tz database
// (/usr/share/zoneinfo, TZif files: RFC 8536) by our own small reader.
//
// Why not libc: glibc has one process-wide zone, set from $TZ, and
// libstdc++ 12 has no std::chrono::tzdb. Changing $TZ at run time (a policy
// reload naming another zone) would mean setenv() in a threaded process.
// A TimeZone here is an immutable value: loaded when the policy is read
// (before any sandbox step that could stop the reading; the parent re-reads
// it on SIGHUP as it does the policy file), shared by pointer, and safe to
// use from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/zone_name.hpp"
#include "policy/posix_tz.hpp"

namespace proxy {

class TimeZone {
  public:
    // UTC.
    TimeZone() = default;

    // A TZif file's bytes (versions 1 to 4). Zones with leap seconds
    // ("right/...") are refused: their clocks are not Unix time.
    static std::variant<TimeZone, std::string> from_tzif(std::string name, std::string_view data);
    // A zone that is only a rule, as $TZ may say ("CET-1CEST,M3.5.0,M10.5.0/3").
    static TimeZone from_rule(std::string name, const PosixTzRule& rule);

    const std::string& name() const { return name_; }

    // Seconds east of UTC in force at that instant.
    std::int32_t offset_at(std::int64_t utc_seconds) const;

    // The date on the local wall clock at that instant.
    std::chrono::sys_days local_date(std::int64_t utc_seconds) const;

    // The instant the local day `date` begins: local midnight. Across DST:
    // where midnight comes twice (clocks set back across it) the first;
    // where it does not exist (clocks set forward from 00:00, as in
    // Brazil until 2019 or Havana), the instant the clocks jump, so such a
    // day begins at 01:00. Days are therefore 23, 24 or 25 hours long and
    // follow each other without gap or overlap.
    std::int64_t start_of_day(std::chrono::sys_days date) const;

  private:
    std::string name_ = "UTC";
    std::vector<std::int64_t> transitions_;  // ascending, Unix seconds
    std::vector<std::uint8_t> transition_types_;
    std::vector<std::int32_t> type_offsets_;
    std::int32_t initial_offset_ = 0;  // before the first transition
    std::optional<PosixTzRule> rule_;  // after the last transition
};

// The tz database the proxy reads. Debian's tzdata package installs it.
inline constexpr std::string_view kZoneInfoDir = "/usr/share/zoneinfo";

// valid_zone_name: common/zone_name.hpp (the command line checks names too).

// The zone of that name from `dir`, or one line of error. "UTC" and
// "Etc/UTC" work without tzdata too.
std::variant<std::shared_ptr<const TimeZone>, std::string> load_time_zone(
    std::string_view name, std::string_view dir = kZoneInfoDir);

// The system's local zone, as glibc would choose it from $TZ (pass
// getenv("TZ")): unset, /etc/localtime (UTC without one); empty, UTC;
// ":PATH" or ":NAME" or "NAME", that file; else a POSIX rule. Never fails:
// what cannot be read is UTC, with a warning saying so.
struct LocalTimeZone {
    std::shared_ptr<const TimeZone> zone;
    std::string warning;  // empty unless falling back to UTC
};
LocalTimeZone load_local_time_zone(const char* tz_env,
                                   std::string_view localtime_path = "/etc/localtime",
                                   std::string_view dir = kZoneInfoDir);

}  // namespace proxy
