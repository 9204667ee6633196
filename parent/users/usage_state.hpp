// Per-user usage of the current UTC day, and the file that keeps it across
// restarts (--state-file). A small text file, one line per user, replaced
// atomically (temporary file, fsync, rename). Reading is strict: a file that
// does not parse is an error the operator must see, never a silent reset of
// everyone's budget.
//
//   codex-responses-api-proxy usage 2
//   day 2026-12-02
//   uid 1000 requests 12 refused 1 tokens_in 3400 tokens_out 912 tokens_estimated 300
//
// tokens_estimated: how many of tokens_in + tokens_out are estimates
// (policy/token_budget.hpp). Version 1 files, without it, are still read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.hpp"

namespace proxy {

struct UsageCounters {
    std::uint64_t requests = 0;  // forwarded upstream
    std::uint64_t refused = 0;   // refused by the per-user policy or the worker
    std::uint64_t tokens_in = 0;
    std::uint64_t tokens_out = 0;
    std::uint64_t tokens_estimated = 0;  // of tokens_in + tokens_out
    bool operator==(const UsageCounters&) const = default;
};

struct UsageDay {
    std::string day;  // YYYY-MM-DD (UTC); empty: nothing recorded yet
    std::map<uid_t, UsageCounters> users;
    bool operator==(const UsageDay&) const = default;
};

std::string format_usage_state(const UsageDay& d);
// Pure: the day, or what is wrong with the text.
std::variant<UsageDay, std::string> parse_usage_state(std::string_view text);

// A missing file is an empty day; anything unreadable or malformed is an
// error naming the file.
Result<UsageDay> load_usage_state(const std::string& path);
// The same from a file the caller opened (the proxy checks who may change it
// first: parent/files/trusted_path.hpp); `path` names it in errors.
Result<UsageDay> read_usage_state(int fd, const std::string& path);
// Replaced whole, mode 0600, through an unpredictable temporary
// (parent/files/atomic_file.hpp).
Result<void> save_usage_state(const std::string& path, const UsageDay& d);

}  // namespace proxy
