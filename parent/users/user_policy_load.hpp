// The per-user policy the proxy runs with, built in one place: the flags'
// part (--allow-user, --allow-group, the per-user limits), then a policy file
// read over it. AccessControl builds it at start and on SIGHUP; --usage builds
// it to show the limits in force, --check-policy to check a file.
#pragma once

#include <string>
#include <string_view>

#include "common/options.hpp"
#include "common/result.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

// The flags' part alone. Names resolve through the system; an unknown one is
// an error.
Result<UserPolicy> policy_from_flags(const Options& o);

// How the policy file is read: checked as parent/files/trusted_path.hpp says
// (the proxy itself, which acts on it), or as given (the operator's look at
// it with --usage or --check-policy).
enum class PolicyFileRead { Trusted, AsGiven };

// The flags' part, then `file` over it ("" : the flags alone). An error is
// one line: the flags' as they are, the file's after "<flag>: " (no prefix
// when `flag` is empty).
Result<UserPolicy> load_user_policy(const Options& o, const std::string& file, PolicyFileRead how,
                                    std::string_view flag = "--policy");

}  // namespace proxy
