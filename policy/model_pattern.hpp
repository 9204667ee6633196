// Model names in the policy: an exact name ("o4-mini") or a prefix ending in
// one "*" ("gpt-5*", or "*" alone for every model). Used by the price table
// (policy/pricing.hpp) and by the models a user may call.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace proxy {

// A model name as OpenAI spells them is short, printable ASCII without
// spaces; a pattern may end in one "*" and has none elsewhere.
// The same rule for the prices' patterns and the models a user may call.
inline constexpr std::size_t kMaxModelPatternBytes = 128;
// Why `pattern` is not one, or empty when it is.
std::string model_pattern_error(std::string_view pattern);
bool valid_model_pattern(std::string_view pattern);

constexpr bool is_prefix_pattern(std::string_view pattern) {
    return !pattern.empty() && pattern.back() == '*';
}

// Exact names match only themselves; "gpt-5*" matches "gpt-5",
// "gpt-5-mini" and "gpt-5-2025-08-07". Case matters, as it does upstream.
bool model_matches(std::string_view pattern, std::string_view model);

}  // namespace proxy
