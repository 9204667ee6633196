#include "policy/posix_tz.hpp"

#include <cctype>
#include <chrono>

namespace proxy {
namespace {

using namespace std::chrono;

class TzText {
  public:
    explicit TzText(std::string_view s) : s_(s) {}
    bool done() const { return at_ == s_.size(); }
    bool at(char c) const { return at_ < s_.size() && s_[at_] == c; }
    bool eat(char c) {
        if (at_ < s_.size() && s_[at_] == c) {
            ++at_;
            return true;
        }
        return false;
    }

    // "CET", or "<+0330>" for a name that is not all letters.
    bool name() {
        if (eat('<')) {
            const std::size_t start = at_;
            while (at_ < s_.size() && s_[at_] != '>') {
                const char c = s_[at_];
                if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') {
                    return false;
                }
                ++at_;
            }
            return at_ - start >= 3 && eat('>');
        }
        const std::size_t start = at_;
        while (at_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[at_]))) ++at_;
        return at_ - start >= 3;
    }

    std::optional<int> number(int lo, int hi) {
        const std::size_t start = at_;
        int v = 0;
        while (at_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[at_])) &&
               at_ - start < 4) {
            v = v * 10 + (s_[at_++] - '0');
        }
        if (at_ == start || v < lo || v > hi) return std::nullopt;
        return v;
    }

    // [+-]hh[:mm[:ss]], in seconds; hours up to max_hours.
    std::optional<std::int32_t> clock(int max_hours) {
        int sign = 1;
        if (eat('-')) {
            sign = -1;
        } else {
            eat('+');
        }
        const auto h = number(0, max_hours);
        if (!h) return std::nullopt;
        std::int32_t v = *h * 3600;
        if (eat(':')) {
            const auto m = number(0, 59);
            if (!m) return std::nullopt;
            v += *m * 60;
            if (eat(':')) {
                const auto sec = number(0, 59);
                if (!sec) return std::nullopt;
                v += *sec;
            }
        }
        return sign * v;
    }

    std::optional<PosixTzRule::Day> day() {
        using Kind = PosixTzRule::Day::Kind;
        PosixTzRule::Day d;
        if (eat('M')) {
            const auto m = number(1, 12);
            if (!m || !eat('.')) return std::nullopt;
            const auto w = number(1, 5);
            if (!w || !eat('.')) return std::nullopt;
            const auto wd = number(0, 6);
            if (!wd) return std::nullopt;
            d.kind = Kind::MonthWeekDay;
            d.month = *m;
            d.week = *w;
            d.weekday = *wd;
            return d;
        }
        const bool julian1 = eat('J');
        const auto n = julian1 ? number(1, 365) : number(0, 365);
        if (!n) return std::nullopt;
        d.kind = julian1 ? Kind::Julian1 : Kind::Julian0;
        d.number = *n;
        return d;
    }

    // ",start[/time],end[/time]"
    bool rules(PosixTzRule::Dst& dst) {
        if (!eat(',')) return false;
        auto start = day();
        if (!start) return false;
        dst.start = *start;
        if (eat('/')) {
            const auto t = clock(167);
            if (!t) return false;
            dst.start_time = *t;
        }
        if (!eat(',')) return false;
        auto end = day();
        if (!end) return false;
        dst.end = *end;
        if (eat('/')) {
            const auto t = clock(167);
            if (!t) return false;
            dst.end_time = *t;
        }
        return true;
    }

  private:
    std::string_view s_;
    std::size_t at_ = 0;
};

// Days since 1970-01-01 of the rule's day in `year`.
std::int64_t day_in_year(const PosixTzRule::Day& d, int y) {
    using Kind = PosixTzRule::Day::Kind;
    const year yr{y};
    const sys_days jan1{yr / January / 1};
    switch (d.kind) {
        case Kind::Julian1: {
            // February 29 is never counted: J60 is March 1 in every year.
            const int leap = yr.is_leap() && d.number >= 60 ? 1 : 0;
            return (jan1 + days{d.number - 1 + leap}).time_since_epoch().count();
        }
        case Kind::Julian0:
            return (jan1 + days{d.number}).time_since_epoch().count();
        case Kind::MonthWeekDay:
            break;
    }
    const year_month ym = yr / month{static_cast<unsigned>(d.month)};
    const weekday wd{static_cast<unsigned>(d.weekday)};
    const sys_days day = d.week == 5 ? sys_days{ym / weekday_last{wd}}
                                     : sys_days{ym / wd[static_cast<unsigned>(d.week)]};
    return day.time_since_epoch().count();
}

}  // namespace

std::int32_t PosixTzRule::offset_at(std::int64_t t) const {
    if (!dst) return std_offset;
    // The year of the instant in standard time: transitions lie well inside
    // a year, so the year's two of them decide.
    const sys_days local_day = floor<days>(sys_seconds{seconds{t + std_offset}});
    const int y = static_cast<int>(year_month_day{local_day}.year());
    const std::int64_t start =
        day_in_year(dst->start, y) * kSecondsPerDay + dst->start_time - std_offset;
    const std::int64_t end =
        day_in_year(dst->end, y) * kSecondsPerDay + dst->end_time - dst->offset;
    const bool in_dst = start < end ? (start <= t && t < end) : !(end <= t && t < start);
    return in_dst ? dst->offset : std_offset;
}

std::optional<PosixTzRule> parse_posix_tz(std::string_view text) {
    TzText s(text);
    PosixTzRule rule;
    if (!s.name()) return std::nullopt;
    const auto std_west = s.clock(24);
    if (!std_west) return std::nullopt;
    rule.std_offset = -*std_west;
    if (s.done()) return rule;
    PosixTzRule::Dst dst;
    if (!s.name()) return std::nullopt;
    dst.offset = rule.std_offset + 3600;
    if (!s.done() && !s.at(',')) {
        const auto dst_west = s.clock(24);
        if (!dst_west) return std::nullopt;
        dst.offset = -*dst_west;
    }
    if (s.done()) {
        // No rules: POSIX leaves them to the implementation; glibc, like
        // the US since 2007, uses the second Sunday in March to the first
        // in November.
        dst.start = {PosixTzRule::Day::Kind::MonthWeekDay, 0, 3, 2, 0};
        dst.end = {PosixTzRule::Day::Kind::MonthWeekDay, 0, 11, 1, 0};
        rule.dst = dst;
        return rule;
    }
    if (!s.rules(dst) || !s.done()) return std::nullopt;
    rule.dst = dst;
    return rule;
}

}  // namespace proxy
