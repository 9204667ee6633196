// Per-user usage of the current budget periods (the day, the ISO week and the
// month of the budget zone: policy/budget_periods.hpp), and the file that
// keeps it across restarts (--state-file). A small text file, one line per
// user and period, replaced atomically (temporary file, fsync, rename).
// Reading is strict: a file that does not parse is an error the operator must
// see, never a silent reset of everyone's budget.
//
//   codex-responses-api-proxy usage 3
//   uid 1000 day 2026-12-02 requests 12 refused 1 tokens_in 3400 tokens_out 912 tokens_estimated
//   300 microdollars 12500 uid 1000 week 2026-W49 requests 40 ... uid 1000 month 2026-12 requests
//   97 ...
//
// tokens_estimated: how many of tokens_in + tokens_out are estimates
// (policy/token_budget.hpp); microdollars: what the answers cost
// (policy/pricing.hpp). Versions 1 and 2 (one UTC day, no dollars) are still
// read: their day's counts become the day, week and month that contain it.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "common/dollars.hpp"
#include "common/result.hpp"
#include "policy/budget_periods.hpp"

namespace proxy {

// A line that ends the usage part: what follows is another section of the
// same file (parent/users/state_file.hpp), not read here. Files without it
// are today's files, and still load.
inline constexpr std::string_view kResponsesSection = "responses 1";

struct UsageCounters {
    std::uint64_t requests = 0;  // forwarded upstream
    std::uint64_t refused = 0;   // refused by the per-user policy or the worker
    std::uint64_t tokens_in = 0;
    std::uint64_t tokens_out = 0;
    std::uint64_t tokens_estimated = 0;  // of tokens_in + tokens_out
    MicroDollars dollars = 0;
    std::uint64_t tokens() const { return tokens_in + tokens_out; }
    bool operator==(const UsageCounters&) const = default;
};

// One period's figures; an empty key: nothing recorded in it.
struct PeriodUsage {
    std::string key;  // budget_periods.hpp PeriodSpan::key
    UsageCounters counters;
    bool operator==(const PeriodUsage&) const = default;
};

// Indexed by BudgetPeriod.
struct UserPeriods {
    std::array<PeriodUsage, 3> periods{};
    PeriodUsage& operator[](BudgetPeriod p) { return periods[static_cast<std::size_t>(p)]; }
    const PeriodUsage& operator[](BudgetPeriod p) const {
        return periods[static_cast<std::size_t>(p)];
    }
    bool operator==(const UserPeriods&) const = default;
};

struct UsageState {
    std::map<uid_t, UserPeriods> users;
    bool operator==(const UsageState&) const = default;
};

std::string format_usage_state(const UsageState& s);
// Pure: the state, or what is wrong with the text.
std::variant<UsageState, std::string> parse_usage_state(std::string_view text);

// A missing file is an empty state; anything unreadable or malformed is an
// error naming the file.
Result<UsageState> load_usage_state(const std::string& path);
// The same from a file the caller opened (the proxy checks who may change it
// first: parent/files/trusted_path.hpp); `path` names it in errors.
Result<UsageState> read_usage_state(int fd, const std::string& path);
// Replaced whole, mode 0600, through an unpredictable temporary
// (parent/files/atomic_file.hpp).
Result<void> save_usage_state(const std::string& path, const UsageState& s);

}  // namespace proxy
