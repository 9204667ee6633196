#include "parent/users/user_policy_load.hpp"

#include <charconv>
#include <functional>
#include <optional>
#include <variant>

#include "parent/files/trusted_config.hpp"
#include "policy/policy_file.hpp"

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
