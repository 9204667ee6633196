// The operator's commands that do not start the proxy: --check-policy FILE
// and --usage. Neither reads a key.
#pragma once

#include "common/options.hpp"

namespace proxy {

// Where --usage looks when --state-file is not given: the package's path.
inline constexpr const char* kDefaultStateFile = "/var/lib/codex-responses-api-proxy/usage.state";

// 0 and "FILE: ok (N allow rules, ...)" on stdout; 9 and one line on stderr.
int check_policy_command(const Options& o);
// Today's usage per user as a table on stdout (0), or one line on stderr (9).
int usage_command(const Options& o);

}  // namespace proxy
