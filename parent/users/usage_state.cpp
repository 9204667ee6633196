#include "parent/users/usage_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <span>

#include "common/unique_fd.hpp"
#include "parent/files/atomic_file.hpp"

namespace proxy {

namespace {

constexpr std::string_view kMagic = "codex-responses-api-proxy usage 3";
constexpr std::string_view kMagicV2 = "codex-responses-api-proxy usage 2";  // one UTC day
constexpr std::string_view kMagicV1 = "codex-responses-api-proxy usage 1";  // no tokens_estimated
constexpr std::size_t kMaxUsageFile = 16u << 20;

std::string_view next_word(std::string_view& line) {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    std::size_t end = line.find(' ');
    std::string_view w = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    return w;
}

bool to_u64(std::string_view s, std::uint64_t& v) {
    if (s.empty() || s.front() < '0' || s.front() > '9') return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

bool digits_at(std::string_view s, std::initializer_list<std::size_t> at) {
    for (std::size_t i : at)
        if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    return true;
}

unsigned two(std::string_view s, std::size_t at) {
    return static_cast<unsigned>((s[at] - '0') * 10 + (s[at + 1] - '0'));
}

// "2026-12-02", as a date that exists.
std::optional<std::chrono::sys_days> parse_day(std::string_view d) {
    using namespace std::chrono;
    if (d.size() != 10 || d[4] != '-' || d[7] != '-' || !digits_at(d, {0, 1, 2, 3, 5, 6, 8, 9}))
        return std::nullopt;
    const int y = std::stoi(std::string(d.substr(0, 4)));
    const year_month_day ymd{year{y}, month{two(d, 5)}, day{two(d, 8)}};
    if (!ymd.ok()) return std::nullopt;
    return sys_days{ymd};
}

bool valid_key(BudgetPeriod period, std::string_view k) {
    switch (period) {
        case BudgetPeriod::Day:
            return parse_day(k).has_value();
        case BudgetPeriod::Week:
            return k.size() == 8 && k[4] == '-' && k[5] == 'W' &&
                   digits_at(k, {0, 1, 2, 3, 6, 7}) && two(k, 6) >= 1 && two(k, 6) <= 53;
        case BudgetPeriod::Month:
            return k.size() == 7 && k[4] == '-' && digits_at(k, {0, 1, 2, 3, 5, 6}) &&
                   two(k, 5) >= 1 && two(k, 5) <= 12;
    }
    return false;
}

std::optional<BudgetPeriod> period_named(std::string_view name) {
    for (const BudgetPeriod p : kBudgetPeriods)
        if (period_name(p) == name) return p;
    return std::nullopt;
}

// The counters of one line, after its uid (and, in version 3, its period).
std::string read_counters(std::string_view& line, unsigned version, UsageCounters& c) {
    std::pair<std::string_view, std::uint64_t*> fields[] = {
        {"requests", &c.requests},
        {"refused", &c.refused},
        {"tokens_in", &c.tokens_in},
        {"tokens_out", &c.tokens_out},
        {"tokens_estimated", &c.tokens_estimated},
        {"microdollars", &c.dollars}};
    const std::size_t count = version == 1 ? 4 : version == 2 ? 5 : 6;
    for (auto& [name, field] : std::span(fields).first(count)) {
        if (next_word(line) != name || !to_u64(next_word(line), *field))
            return "bad or missing " + std::string(name);
    }
    if (!line.empty()) return "trailing text";
    if (c.tokens_estimated > c.tokens_in && c.tokens_estimated - c.tokens_in > c.tokens_out)
        return "tokens_estimated above tokens_in + tokens_out";
    return {};
}

}  // namespace

std::string format_usage_state(const UsageState& s) {
    std::string out(kMagic);
    out += '\n';
    for (const auto& [uid, periods] : s.users) {
        for (const BudgetPeriod p : kBudgetPeriods) {
            const PeriodUsage& u = periods[p];
            if (u.key.empty()) continue;
            const UsageCounters& c = u.counters;
            out += "uid " + std::to_string(uid) + " " + std::string(period_name(p)) + " " + u.key +
                   " requests " + std::to_string(c.requests) + " refused " +
                   std::to_string(c.refused) + " tokens_in " + std::to_string(c.tokens_in) +
                   " tokens_out " + std::to_string(c.tokens_out) + " tokens_estimated " +
                   std::to_string(c.tokens_estimated) + " microdollars " +
                   std::to_string(c.dollars) + "\n";
        }
    }
    return out;
}

std::variant<UsageState, std::string> parse_usage_state(std::string_view text) {
    UsageState s;
    unsigned lineno = 0;
    unsigned version = 0;
    bool have_day = false;  // versions 1 and 2
    std::optional<std::chrono::sys_days> legacy_day;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        if (nl == std::string_view::npos) return std::string("last line has no newline");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        ++lineno;
        const std::string at = "line " + std::to_string(lineno) + ": ";
        if (lineno == 1) {
            version = line == kMagic ? 3 : line == kMagicV2 ? 2 : line == kMagicV1 ? 1 : 0;
            if (version == 0) return at + "not a usage state file (unknown header)";
            continue;
        }
        if (line == kResponsesSection) break;
        std::string_view kind = next_word(line);
        if (version < 3 && kind == "day" && !have_day) {
            std::string_view day = next_word(line);
            if (!line.empty()) return at + "bad day";
            if (day != "none") {
                legacy_day = parse_day(day);
                if (!legacy_day) return at + "bad day";
            }
            have_day = true;
            continue;
        }
        if (kind != "uid" || (version < 3 && !have_day)) return at + "unexpected line";
        std::uint64_t uid = 0;
        if (!to_u64(next_word(line), uid) || uid > 0xffffffffull) return at + "bad uid";
        UserPeriods& periods = s.users[static_cast<uid_t>(uid)];
        UsageCounters c;
        if (version == 3) {
            const auto period = period_named(next_word(line));
            if (!period) return at + "bad period";
            const std::string_view key = next_word(line);
            if (!valid_key(*period, key)) return at + "bad period key";
            if (!periods[*period].key.empty()) return at + "duplicate uid and period";
            if (auto err = read_counters(line, version, c); !err.empty()) return at + err;
            periods[*period] = PeriodUsage{std::string(key), c};
            continue;
        }
        if (!periods[BudgetPeriod::Day].key.empty()) return at + "duplicate uid";
        if (auto err = read_counters(line, version, c); !err.empty()) return at + err;
        // That day's counts were all of the week and month so far that
        // the proxy knew of.
        if (legacy_day) {
            for (const BudgetPeriod p : kBudgetPeriods)
                periods[p] = PeriodUsage{period_key_of_day(p, *legacy_day), c};
        }
        if (periods[BudgetPeriod::Day].key.empty()) s.users.erase(static_cast<uid_t>(uid));
    }
    if (lineno == 0) return std::string("empty file");
    if (version < 3 && !have_day) return std::string("no day line");
    return s;
}

Result<UsageState> load_usage_state(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return UsageState{};
        return Error{"cannot read " + path + ": " + std::strerror(errno)};
    }
    return read_usage_state(fd.get(), path);
}

Result<UsageState> read_usage_state(int fd, const std::string& path) {
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error{"cannot read " + path + ": " + std::strerror(errno)};
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxUsageFile) return Error{path + ": too large for a usage state file"};
    }
    auto parsed = parse_usage_state(text);
    if (auto* err = std::get_if<std::string>(&parsed)) return Error{path + ": " + *err};
    return std::get<UsageState>(std::move(parsed));
}

Result<void> save_usage_state(const std::string& path, const UsageState& s) {
    return replace_file(path, format_usage_state(s), 0600);
}

}  // namespace proxy
