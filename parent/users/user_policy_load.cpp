#include "parent/users/user_policy_load.hpp"

#include <charconv>
#include <cstdlib>
#include <functional>
#include <optional>
#include <variant>

#include "common/log.hpp"
#include "parent/files/trusted_config.hpp"
#include "policy/policy_file.hpp"
#include "policy/time_zone.hpp"

namespace proxy {

namespace {

template <typename Id>
bool resolve_ids(const std::vector<std::string>& names,
                 const std::function<std::optional<Id>(std::string_view)>& lookup, const char* flag,
                 const char* kind, std::vector<Id>& out, std::string& error) {
    for (const std::string& n : names) {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        if (!n.empty() && ec == std::errc() && p == n.data() + n.size() && v < 0xffffffffull) {
            out.push_back(static_cast<Id>(v));
            continue;
        }
        auto id = lookup(n);
        if (!id) {
            error = std::string(flag) + " " + n + ": no such " + kind;
            return false;
        }
        out.push_back(*id);
    }
    return true;
}

}  // namespace

Result<UserPolicy> policy_from_flags(const Options& o) {
    UserPolicy p;
    const NameResolver names = system_name_resolver();
    std::string error;
    if (!resolve_ids<uid_t>(o.allow_users, names.user, "--allow-user", "user", p.allow_users,
                            error) ||
        !resolve_ids<gid_t>(o.allow_groups, names.group, "--allow-group", "group", p.allow_groups,
                            error) ||
        !resolve_ids<uid_t>(o.metrics_allow_users, names.user, "--metrics-allow-user", "user",
                            p.metrics_users, error) ||
        !resolve_ids<gid_t>(o.metrics_allow_groups, names.group, "--metrics-allow-group", "group",
                            p.metrics_groups, error))
        return Error{std::move(error)};
    if (o.max_streams_per_user) p.defaults.max_streams = o.max_streams_per_user;
    if (o.requests_per_minute_per_user)
        p.defaults.requests_per_minute = o.requests_per_minute_per_user;
    if (o.tokens_per_day_per_user) p.defaults.tokens_per_day = o.tokens_per_day_per_user;
    if (!o.allow_models.empty()) p.defaults.body.models = o.allow_models;
    if (o.max_output_tokens) p.defaults.body.max_output_tokens = o.max_output_tokens;
    if (o.response_ownership != "auto")
        p.defaults.body.response_ownership = o.response_ownership == "on";
    if (o.tokens_per_minute_per_user) p.defaults.tokens_per_minute = o.tokens_per_minute_per_user;
    if (o.dollars_per_day_per_user) p.defaults.dollars_per_day = o.dollars_per_day_per_user;
    if (o.dollars_per_month_per_user) p.defaults.dollars_per_month = o.dollars_per_month_per_user;
    // The budget zone: the flag's, else the system's (a policy file's
    // `timezone` replaces either).
    if (!o.budget_timezone.empty()) {
        auto zone = load_time_zone(o.budget_timezone);
        if (auto* err = std::get_if<std::string>(&zone)) return Error{"--budget-timezone: " + *err};
        p.zone = std::get<std::shared_ptr<const TimeZone>>(std::move(zone));
    } else {
        // Read once, at start: the local zone does not change while the
        // proxy runs, and finding it needs readlink(2), which the parent's
        // sandbox does not allow when SIGHUP rebuilds the policy.
        static const LocalTimeZone local = [] {
            LocalTimeZone l = load_local_time_zone(std::getenv("TZ"));
            if (!l.warning.empty()) LOG_WARN("budget periods: %s", l.warning.c_str());
            return l;
        }();
        p.zone = local.zone;
    }
    return p;
}

Result<UserPolicy> load_user_policy(const Options& o, const std::string& file, PolicyFileRead how,
                                    std::string_view flag) {
    auto flags = policy_from_flags(o);
    if (!flags || file.empty()) return flags;
    const auto named = [flag](std::string text) {
        return Error{flag.empty() ? std::move(text) : std::string(flag) + ": " + text};
    };
    if (how == PolicyFileRead::Trusted) {
        auto loaded = load_trusted_policy(file, *flags);
        if (!loaded) return named(loaded.error());
        return loaded;
    }
    auto loaded = load_policy_file(file, *flags, system_name_resolver());
    if (auto* err = std::get_if<std::string>(&loaded)) return named(std::move(*err));
    return std::get<UserPolicy>(std::move(loaded));
}

}  // namespace proxy
