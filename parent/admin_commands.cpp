#include "parent/admin_commands.hpp"

#include <chrono>
#include <cstdio>
#include <string>

#include "common/dollars.hpp"
#include "common/exit_codes.hpp"
#include "common/startup_failure.hpp"
#include "parent/users/usage_state.hpp"
#include "parent/users/user_accounts.hpp"
#include "parent/users/user_directory.hpp"
#include "parent/users/user_policy_load.hpp"
#include "policy/budget_periods.hpp"
#include "policy/rate_limit.hpp"
#include "policy/spend_budget.hpp"

namespace proxy {

namespace {

std::string limit_text(std::uint64_t v) {
    return v == 0 ? "-" : std::to_string(v);
}

std::string list_text(const std::vector<std::string>& v) {
    if (v.empty()) return "any";
    std::string out;
    for (const auto& item : v) out += (out.empty() ? "" : " ") + item;
    return out;
}

// What request bodies may ask for at one level of the policy, as it was read:
// every rule (`all`: the defaults, where one not given means any) or only
// those this level gives (an override).
std::string body_rules_text(const BodyLimits& b, bool all) {
    std::string out;
    auto add = [&out](const std::string& item) { out += (out.empty() ? "" : ", ") + item; };
    if (b.models || all) add("models " + list_text(b.models.value_or(std::vector<std::string>{})));
    if (b.max_output_tokens || all) {
        const std::uint64_t cap = b.max_output_tokens.value_or(0);
        add("max_output_tokens " + (cap != 0 ? std::to_string(cap) : std::string("-")));
    }
    if (b.service_tiers || all)
        add("service_tiers " + list_text(b.service_tiers.value_or(std::vector<std::string>{})));
    if (b.response_ownership)
        add(std::string("response_ownership ") + (*b.response_ownership ? "on" : "off"));
    return out;
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
        "groups, %zu user and %zu group overrides, %zu metrics users, %zu metrics groups, %zu "
        "prices, budget zone %s)\n",
        o.check_policy.c_str(), p.allow_users.size(), p.allow_groups.size(), p.deny_users.size(),
        p.deny_groups.size(), p.users.size(), p.groups.size(), p.metrics_users.size(),
        p.metrics_groups.size(), p.prices.size(), p.budget_zone().name().c_str());
    // The body rules as the proxy reads them: the defaults (flags, then the
    // file's [defaults]) and each override that says something of its own.
    std::printf("body rules, defaults: %s\n", body_rules_text(p.defaults.body, true).c_str());
    for (const auto& [uid, limits] : p.users)
        if (limits.body != BodyLimits{})
            std::printf("body rules, uid %u: %s\n", static_cast<unsigned>(uid),
                        body_rules_text(limits.body, false).c_str());
    for (const auto& [gid, limits] : p.groups)
        if (limits.body != BodyLimits{})
            std::printf("body rules, gid %u: %s\n", static_cast<unsigned>(gid),
                        body_rules_text(limits.body, false).c_str());
    // The price table as the proxy reads it, in USD per million tokens.
    for (const auto& [pattern, entry] : p.prices.entries()) {
        std::printf("price %s: input %s, cached_input %s, output %s\n", pattern.c_str(),
                    dollars_text(entry.price.input).c_str(),
                    dollars_text(entry.price.cached_input).c_str(),
                    dollars_text(entry.price.output).c_str());
    }
    return exit_code::ok;
}

int usage_command(const Options& o) {
    const std::string path = o.state_file.empty() ? kDefaultStateFile : o.state_file;
    auto state = load_usage_state(path);
    if (!state) return startup_failure(exit_code::config_failed, state.error());
    // The limits shown are what the same flags and --policy would apply.
    auto policy = load_user_policy(o, o.policy_file, PolicyFileRead::AsGiven);
    if (!policy) return startup_failure(exit_code::config_failed, policy.error());
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const TimeZone& zone = policy->budget_zone();
    std::printf("usage per period (%s), from %s\n", zone.name().c_str(), path.c_str());
    // One row per user and period. ESTIMATED: how many of TOKENS are
    // estimates (streams that ended before the upstream reported usage).
    // A period marked "*" is over: nothing was used in the current one yet.
    std::printf("%-10s %-16s %-6s %-11s %9s %8s %12s %12s %12s %12s %10s %12s %12s\n", "UID",
                "USER", "PERIOD", "KEY", "REQUESTS", "REFUSED", "TOKENS_IN", "TOKENS_OUT", "TOKENS",
                "TOKEN_LIMIT", "ESTIMATED", "DOLLARS", "DOLLAR_LIMIT");
    for (const auto& [uid, periods] : state->users) {
        const bool unknown = uid == kUnknownUid;
        UserInfo info;
        if (!unknown) info = UserDirectory::fetch(uid);
        Caller caller{!unknown, uid, info.groups};
        const EffectiveLimits lim = limits_for(*policy, caller);
        for (const BudgetPeriod p : kBudgetPeriods) {
            const PeriodUsage& u = periods[p];
            if (u.key.empty()) continue;
            const UsageCounters& c = u.counters;
            const bool over = u.key != period_at(zone, p, now).key;
            const MicroDollars dollar_limit = dollar_budgets(lim)[p];
            std::printf(
                "%-10s %-16s %-6s %-11s %9llu %8llu %12llu %12llu %12llu %12s %10llu %12s %12s\n",
                unknown ? "?" : std::to_string(uid).c_str(),
                unknown             ? "(unidentified)"
                : info.name.empty() ? "?"
                                    : info.name.c_str(),
                std::string(period_name(p)).c_str(), (u.key + (over ? "*" : "")).c_str(),
                static_cast<unsigned long long>(c.requests),
                static_cast<unsigned long long>(c.refused),
                static_cast<unsigned long long>(c.tokens_in),
                static_cast<unsigned long long>(c.tokens_out),
                static_cast<unsigned long long>(c.tokens()),
                limit_text(token_budgets(lim)[p]).c_str(),
                static_cast<unsigned long long>(c.tokens_estimated),
                dollars_text(c.dollars).c_str(),
                dollar_limit == 0 ? "-" : dollars_text(dollar_limit).c_str());
        }
    }
    return exit_code::ok;
}

}  // namespace proxy
