#include "policy/body_rules.hpp"

#include <algorithm>

namespace proxy {
namespace {

void join(std::optional<std::vector<std::string>>& acc,
          const std::optional<std::vector<std::string>>& group) {
    if (!group) return;
    if (!acc) {
        acc = group;
        return;
    }
    // An empty list is "any": it beats every list.
    if (acc->empty() || group->empty()) {
        acc->clear();
        return;
    }
    for (const std::string& v : *group)
        if (std::find(acc->begin(), acc->end(), v) == acc->end()) acc->push_back(v);
}

// 0 is no cap, so it beats every number; otherwise the larger wins.
void fold_cap(std::optional<std::uint64_t>& acc, const std::optional<std::uint64_t>& group) {
    if (!group) return;
    acc = (!acc) ? *group : (*acc == 0 || *group == 0) ? 0 : std::max(*acc, *group);
}

void apply(BodyLimits& out, const BodyLimits& level) {
    if (level.models) out.models = level.models;
    if (level.max_output_tokens) out.max_output_tokens = level.max_output_tokens;
    if (level.service_tiers) out.service_tiers = level.service_tiers;
}

}  // namespace

std::string service_tier_error(const std::string& tier) {
    if (tier.empty() || tier.size() > 64) return "a service tier must be 1 to 64 bytes";
    for (char c : tier) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return "a service tier may hold only a-z, 0-9, '_' and '-'";
    }
    return {};
}

bool response_ownership_in_force(const UserPolicy& policy) {
    if (policy.defaults.body.response_ownership) return *policy.defaults.body.response_ownership;
    const bool one_user = policy.allow_users.size() == 1 && policy.allow_groups.empty();
    return policy.names_users() && !one_user;
}

BodyRules body_rules_for(const UserPolicy& policy, const Caller& caller,
                         const EffectiveLimits& limits) {
    BodyLimits resolved = policy.defaults.body;
    if (caller.known) {
        BodyLimits from_groups;
        for (gid_t g : caller.groups) {
            const auto it = policy.groups.find(g);
            if (it == policy.groups.end()) continue;
            join(from_groups.models, it->second.body.models);
            join(from_groups.service_tiers, it->second.body.service_tiers);
            fold_cap(from_groups.max_output_tokens, it->second.body.max_output_tokens);
        }
        apply(resolved, from_groups);
        if (const auto it = policy.users.find(caller.uid); it != policy.users.end())
            apply(resolved, it->second.body);
    }
    BodyRules r;
    if (resolved.models) r.models = *resolved.models;
    if (resolved.max_output_tokens.value_or(0) != 0)
        r.max_output_tokens = resolved.max_output_tokens;
    if (resolved.service_tiers) r.service_tiers = *resolved.service_tiers;
    r.budget_in_force = limits.has_token_budget() || limits.has_dollar_budget() ||
                        limits.tokens_per_minute != 0;
    if (limits.has_dollar_budget()) {
        r.must_be_priced = true;
        for (const auto& [pattern, entry] : policy.prices.entries()) r.priced_models.push_back(pattern);
    }
    r.response_ownership = response_ownership_in_force(policy);
    return r;
}

}  // namespace proxy
