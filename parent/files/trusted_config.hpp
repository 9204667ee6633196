// The --policy and --state-file files the parent reads, refused when anyone
// but root or the parent's own user could change them or the directories on
// their path (parent/files/trusted_path.hpp). --check-policy and --usage, which an
// operator runs to look, read them with no such check.
#pragma once

#include <string>

#include "common/result.hpp"
#include "parent/users/usage_state.hpp"
#include "policy/policy_file.hpp"

namespace proxy {

// A symbolic link to the policy file is followed (checked like the rest).
Result<UserPolicy> load_trusted_policy(const std::string& path, const UserPolicy& base);
// Missing: an empty day, as load_usage_state. A symbolic link is refused: the
// proxy replaces the file, it would not write through one.
Result<UsageState> load_trusted_usage_state(const std::string& path);

}  // namespace proxy
