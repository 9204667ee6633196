// What the policy file and flags say about request bodies, per level
// ([defaults], [groups.G], [users.U]), before it is resolved for one caller
// into the BodyRules that policy/request_body_policy.hpp checks. Kept apart
// from the counting limits (policy/user_policy.hpp) so that each reads in
// one place; UserLimits holds one of these per level.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace proxy {

struct BodyLimits {
    // models = [...] / --allow-model: exact names or prefixes ending in '*'.
    // nullopt: this level says nothing; empty: any model.
    std::optional<std::vector<std::string>> models;
    // max_output_tokens = N / --max-output-tokens N; 0: no cap.
    std::optional<std::uint64_t> max_output_tokens;
    // service_tiers = [...]; empty: any.
    std::optional<std::vector<std::string>> service_tiers;
    // response_ownership = true|false ([defaults] only) / --response-ownership.
    // nullopt: automatic (response_ownership_in_force()).
    std::optional<bool> response_ownership;
    bool operator==(const BodyLimits&) const = default;
};

// Whether a service tier named in the policy file is acceptable: 1 to 64
// bytes of [a-z0-9_-]. The reason it is not, or empty.
std::string service_tier_error(const std::string& tier);

}  // namespace proxy
