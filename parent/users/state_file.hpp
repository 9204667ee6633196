// The whole --state-file: the budget periods' usage (parent/users/usage_state.hpp), then,
// after a line "responses 1", which user created each stored response
// (policy/response_owners.hpp), one line each, oldest first:
//
//   codex-responses-api-proxy usage 3
//   uid 1000 day 2026-12-02 requests 12 refused 1 tokens_in 3400 tokens_out 912 ...
//   responses 1
//   response resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b 1000 1767225600
//
// The section line carries its own version. A file without it (what earlier
// versions wrote) loads with no owners. Both parts are read strictly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.hpp"
#include "parent/users/usage_state.hpp"
#include "policy/response_owners.hpp"

namespace proxy {

struct StateFile {
    UsageState usage;
    ResponseOwners owners;
};

std::string format_state_file(const UsageState& usage, const ResponseOwners& owners);
std::variant<StateFile, std::string> parse_state_file(std::string_view text,
                                                      ResponseOwnersLimits limits,
                                                      std::int64_t now);
// Opened as parent/files/trusted_path.hpp requires; missing: empty.
Result<StateFile> load_trusted_state_file(const std::string& path, ResponseOwnersLimits limits,
                                          std::int64_t now);
// Replaced whole, mode 0600 (parent/files/atomic_file.hpp).
Result<void> save_state_file(const std::string& path, const UsageState& usage,
                             const ResponseOwners& owners);

}  // namespace proxy
