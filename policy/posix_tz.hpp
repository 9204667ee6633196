// The POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") that ends every TZif file
// since version 2 and says the zone's offsets after its last listed
// transition (RFC 8536, section 3.3, with its extensions: hours up to 167
// and negative times in the rules). Also what $TZ may hold. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace proxy {

inline constexpr std::int64_t kSecondsPerDay = 86400;

struct PosixTzRule {
    // A day of the year: Jn (1-365, February 29 never counted), n (0-365,
    // counted), or Mm.w.d (weekday d, 0 = Sunday, of week w, 5 = the last,
    // of month m).
    struct Day {
        enum class Kind { Julian1, Julian0, MonthWeekDay } kind = Kind::MonthWeekDay;
        int number = 0;  // Jn, n
        int month = 0, week = 0, weekday = 0;
    };
    struct Dst {
        std::int32_t offset = 0;  // seconds east of UTC while DST is in force
        Day start, end;
        std::int32_t start_time = 7200;  // local time of day, standard time
        std::int32_t end_time = 7200;    // local time of day, DST
    };
    std::int32_t std_offset = 0;  // seconds east of UTC (TZ says west: "CET-1")
    std::optional<Dst> dst;

    // Seconds east of UTC at that instant.
    std::int32_t offset_at(std::int64_t utc_seconds) const;
};

// nullopt for anything that is not a complete TZ rule.
std::optional<PosixTzRule> parse_posix_tz(std::string_view text);

}  // namespace proxy
