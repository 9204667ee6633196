// The --policy file: per-user and per-group limits and access rules that the
// flags cannot say well. TOML (toml++), strict: an unknown table or key, a
// wrong type, a negative or out-of-range number, or a name that resolves to no
// user or group is an error naming the file and line, and nothing of the file
// is used.
//
//   timezone = "Europe/Berlin"      # budget periods; overrides --budget-timezone
//
//   [defaults]                      # override the --*-per-user flags
//   max_streams = 4
//   requests_per_minute = 60
//   tokens_per_day = 2000000        # also tokens_per_week, tokens_per_month
//   tokens_per_minute = 40000
//   dollars_per_day = 5.0           # also dollars_per_week, dollars_per_month
//
//   [prices."gpt-5*"]               # USD per million tokens (policy/pricing.hpp)
//   input = 1.25
//   cached_input = 0.125
//   output = 10.0
//
//   [access]                        # added to --allow-user / --allow-group
//   allow_users = ["alice", 1001]
//   allow_groups = ["codex"]
//   deny_users = ["mallory"]
//   deny_groups = ["contractors"]
//   metrics_users = ["prometheus"]  # may read GET /metrics (root always may)
//   metrics_groups = ["adm"]
//
//   [users.alice]                   # a name or a numeric uid
//   tokens_per_day = 5000000
//
//   [groups.interns]                # a name or a numeric gid
//   tokens_per_day = 100000
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "policy/user_policy.hpp"

namespace proxy {

// Names to ids. The parent passes getpwnam_r/getgrnam_r; tests pass tables.
struct NameResolver {
    std::function<std::optional<uid_t>(std::string_view)> user;
    std::function<std::optional<gid_t>(std::string_view)> group;
};

// A resolver backed by the system's user database (NSS).
NameResolver system_name_resolver();

// `base` is what the flags say; the file's rules are merged into a copy of it.
// Returns the merged policy, or one line of error text ("FILE:LINE:COL: ...").
std::variant<UserPolicy, std::string> parse_policy_text(std::string_view text,
                                                        std::string_view source_name,
                                                        const UserPolicy& base,
                                                        const NameResolver& names);
std::variant<UserPolicy, std::string> load_policy_file(const std::string& path,
                                                       const UserPolicy& base,
                                                       const NameResolver& names);
// The same from a file the caller opened (the proxy checks who may change it
// first: parent/files/trusted_path.hpp); `path` names it in errors.
std::variant<UserPolicy, std::string> read_policy_file(int fd, const std::string& path,
                                                       const UserPolicy& base,
                                                       const NameResolver& names);

}  // namespace proxy
