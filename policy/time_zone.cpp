#include "policy/time_zone.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace proxy {
namespace {

using namespace std::chrono;

// Bounds that no real zone comes near; past them the file is broken.
constexpr std::uint32_t kMaxTransitions = 100000;
constexpr std::uint32_t kMaxTypes = 256;  // indices are one byte
constexpr std::uint32_t kMaxChars = 4096;
// RFC 8536: utoff must not be -2^31, and real ones are within a day.
constexpr std::int32_t kMaxOffset = 26 * 3600;

class BigEndian {
  public:
    explicit BigEndian(std::string_view d) : d_(d) {}
    bool ok() const { return ok_; }
    std::string_view rest() const { return ok_ ? d_.substr(at_) : std::string_view(); }

    std::string_view bytes(std::uint64_t n) {
        if (!ok_ || n > d_.size() - at_) {
            ok_ = false;
            return {};
        }
        const std::string_view out = d_.substr(at_, static_cast<std::size_t>(n));
        at_ += static_cast<std::size_t>(n);
        return out;
    }
    std::uint64_t number(std::size_t width) {
        std::uint64_t v = 0;
        for (char c : bytes(width)) v = (v << 8) | static_cast<unsigned char>(c);
        return v;
    }
    std::int64_t signed_number(std::size_t width) {
        const std::uint64_t v = number(width);
        if (width == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
        return static_cast<std::int64_t>(v);
    }

  private:
    std::string_view d_;
    std::size_t at_ = 0;
    bool ok_ = true;
};

struct TzifHeader {
    char version = 0;
    std::uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;

    // The size of the data block that follows, with `time_size`-byte times.
    std::uint64_t block_size(std::uint64_t time_size) const {
        return timecnt * time_size + timecnt + typecnt * 6ull + charcnt +
               leapcnt * (time_size + 4) + isstdcnt + isutcnt;
    }
};

bool read_header(BigEndian& in, TzifHeader& h) {
    if (in.bytes(4) != "TZif") return false;
    const std::string_view version = in.bytes(1);
    in.bytes(15);
    if (!in.ok()) return false;
    h.version = version[0];
    if (h.version != '\0' && (h.version < '2' || h.version > '4')) return false;
    for (std::uint32_t* field :
         {&h.isutcnt, &h.isstdcnt, &h.leapcnt, &h.timecnt, &h.typecnt, &h.charcnt}) {
        *field = static_cast<std::uint32_t>(in.number(4));
    }
    return in.ok();
}

}  // namespace

std::variant<TimeZone, std::string> TimeZone::from_tzif(std::string name, std::string_view data) {
    BigEndian in(data);
    TzifHeader h;
    if (!read_header(in, h)) return "not a TZif time zone file";
    std::size_t time_size = 4;
    if (h.version != '\0') {
        // Version 2 and later repeat the data with 64-bit times, and end in
        // the rule for instants after the last transition.
        in.bytes(h.block_size(4));
        if (!read_header(in, h)) return "truncated TZif time zone file";
        time_size = 8;
    }
    if (h.leapcnt != 0) return "time zones with leap seconds (right/...) are not supported";
    if (h.typecnt == 0 || h.typecnt > kMaxTypes || h.timecnt > kMaxTransitions || h.charcnt == 0 ||
        h.charcnt > kMaxChars || (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) ||
        (h.isutcnt != 0 && h.isutcnt != h.typecnt)) {
        return "malformed TZif time zone file";
    }
    TimeZone tz;
    tz.name_ = std::move(name);
    tz.transitions_.reserve(h.timecnt);
    for (std::uint32_t i = 0; i < h.timecnt; ++i) {
        tz.transitions_.push_back(in.signed_number(time_size));
        if (i > 0 && tz.transitions_[i] <= tz.transitions_[i - 1]) {
            return "malformed TZif time zone file (transitions out of order)";
        }
    }
    for (char c : in.bytes(h.timecnt)) {
        const auto type = static_cast<std::uint8_t>(c);
        if (type >= h.typecnt) return "malformed TZif time zone file (bad type index)";
        tz.transition_types_.push_back(type);
    }
    for (std::uint32_t i = 0; i < h.typecnt; ++i) {
        const std::int64_t offset = in.signed_number(4);
        in.bytes(2);  // isdst, abbreviation index: not needed for offsets
        if (offset < -kMaxOffset || offset > kMaxOffset) {
            return "malformed TZif time zone file (offset out of range)";
        }
        tz.type_offsets_.push_back(static_cast<std::int32_t>(offset));
    }
    in.bytes(std::uint64_t{h.charcnt} + h.isstdcnt + h.isutcnt);
    if (!in.ok()) return "truncated TZif time zone file";
    // RFC 8536: before the first transition, the first type applies.
    tz.initial_offset_ = tz.type_offsets_.front();
    if (time_size == 8) {
        const std::string_view rest = in.rest();
        const std::size_t end = rest.find('\n', 1);
        if (rest.empty() || rest[0] != '\n' || end == std::string_view::npos) {
            return "malformed TZif time zone file (no footer)";
        }
        const std::string_view footer = rest.substr(1, end - 1);
        if (!footer.empty()) {
            tz.rule_ = parse_posix_tz(footer);
            if (!tz.rule_) return "malformed TZif time zone file (footer rule)";
        }
    }
    return tz;
}

TimeZone TimeZone::from_rule(std::string name, const PosixTzRule& rule) {
    TimeZone tz;
    tz.name_ = std::move(name);
    tz.initial_offset_ = rule.std_offset;
    tz.rule_ = rule;
    return tz;
}

std::int32_t TimeZone::offset_at(std::int64_t t) const {
    if (transitions_.empty()) return rule_ ? rule_->offset_at(t) : initial_offset_;
    if (t < transitions_.front()) return initial_offset_;
    if (rule_ && t >= transitions_.back()) return rule_->offset_at(t);
    const auto after = std::upper_bound(transitions_.begin(), transitions_.end(), t);
    const auto index = static_cast<std::size_t>(after - transitions_.begin()) - 1;
    return type_offsets_[transition_types_[index]];
}

sys_days TimeZone::local_date(std::int64_t t) const {
    return floor<days>(sys_seconds{seconds{t + offset_at(t)}});
}

std::int64_t TimeZone::start_of_day(sys_days date) const {
    const std::int64_t midnight = date.time_since_epoch().count() * kSecondsPerDay;
    // The offsets in force a day either side of local midnight: with at
    // most one transition in two days (true of every zone), one of them is
    // the offset at the instant midnight is reached, if it is.
    std::optional<std::int64_t> first;
    std::int64_t lo = std::numeric_limits<std::int64_t>::max();
    std::int64_t hi = std::numeric_limits<std::int64_t>::min();
    for (const std::int64_t probe :
         {midnight - kSecondsPerDay, midnight, midnight + kSecondsPerDay}) {
        const std::int32_t offset = offset_at(probe);
        const std::int64_t t = midnight - offset;
        lo = std::min(lo, t);
        hi = std::max(hi, t);
        if (offset_at(t) == offset && (!first || t < *first)) first = t;
    }
    if (first) return *first;
    // Midnight falls in a gap: the clocks jump from before 00:00 to after it
    // at one instant between lo (where the clock still shows the day
    // before) and hi (where it shows this day): the first one showing it.
    while (lo < hi) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (mid + offset_at(mid) >= midnight) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

}  // namespace proxy
