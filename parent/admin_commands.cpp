#include "parent/admin_commands.hpp"

#include <chrono>
#include <cstdio>
#include <string>

#include "common/exit_codes.hpp"
#include "common/startup_failure.hpp"
#include "parent/users/usage_state.hpp"
#include "parent/users/user_accounts.hpp"
#include "parent/users/user_directory.hpp"
#include "parent/users/user_policy_load.hpp"
#include "policy/rate_limit.hpp"

namespace proxy {

namespace {

std::string limit_text(std::uint64_t v) {
    return v == 0 ? "-" : std::to_string(v);
}

}  // namespace

int check_policy_command(const Options& o) {
    // The file as --policy would read it over the same flags; its errors
    // name the file, not a flag.
    auto loaded = load_user_policy(o, o.check_policy, PolicyFileRead::AsGiven, "");
    if (!loaded) return startup_failure(exit_code::config_failed, loaded.error());
    const UserPolicy& p = *loaded;
    std::printf(
        "%s: ok (%zu allowed users, %zu allowed groups, %zu denied users, %zu denied "
        "groups, %zu user and %zu group overrides)\n",
        o.check_policy.c_str(), p.allow_users.size(), p.allow_groups.size(), p.deny_users.size(),
        p.deny_groups.size(), p.users.size(), p.groups.size());
    return exit_code::ok;
}

int usage_command(const Options& o) {
    const std::string path = o.state_file.empty() ? kDefaultStateFile : o.state_file;
    auto state = load_usage_state(path);
    if (!state) return startup_failure(exit_code::config_failed, state.error());
    const UsageDay& day = *state;
    // The limits shown are what the same flags and --policy would apply.
    auto policy = load_user_policy(o, o.policy_file, PolicyFileRead::AsGiven);
    if (!policy) return startup_failure(exit_code::config_failed, policy.error());
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const bool stale = !day.day.empty() && day.day != utc_day(now);
    std::printf("usage for %s (UTC)%s, from %s\n", day.day.empty() ? "today" : day.day.c_str(),
                stale ? " [an earlier day: nothing used today yet]" : "", path.c_str());
    // ESTIMATED: how many of TOKENS are estimates (streams that ended before
    // the upstream reported usage); last, so scripts reading the columns
    // before it still work.
    std::printf("%-10s %-16s %9s %8s %12s %12s %12s %14s %12s\n", "UID", "USER", "REQUESTS",
                "REFUSED", "TOKENS_IN", "TOKENS_OUT", "TOKENS", "TOKENS/DAY", "ESTIMATED");
    for (const auto& [uid, c] : day.users) {
        const bool unknown = uid == kUnknownUid;
        UserInfo info;
        if (!unknown) info = UserDirectory::fetch(uid);
        Caller caller{!unknown, uid, info.groups};
        const EffectiveLimits lim = limits_for(*policy, caller);
        std::printf("%-10s %-16s %9llu %8llu %12llu %12llu %12llu %14s %12llu\n",
                    unknown ? "?" : std::to_string(uid).c_str(),
                    unknown             ? "(unidentified)"
                    : info.name.empty() ? "?"
                                        : info.name.c_str(),
                    static_cast<unsigned long long>(c.requests),
                    static_cast<unsigned long long>(c.refused),
                    static_cast<unsigned long long>(c.tokens_in),
                    static_cast<unsigned long long>(c.tokens_out),
                    static_cast<unsigned long long>(c.tokens_in + c.tokens_out),
                    limit_text(lim.tokens_per_day).c_str(),
                    static_cast<unsigned long long>(c.tokens_estimated));
    }
    return exit_code::ok;
}

}  // namespace proxy
