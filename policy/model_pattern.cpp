#include "policy/model_pattern.hpp"

namespace proxy {

bool valid_model_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.size() > kMaxModelPatternBytes) return false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '*') {
            if (i + 1 != pattern.size()) return false;
            continue;
        }
        // Visible ASCII only: a name with controls, spaces or quotes would
        // end up in log lines and error messages.
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
    }
    return true;
}

bool model_matches(std::string_view pattern, std::string_view model) {
    if (is_prefix_pattern(pattern)) {
        pattern.remove_suffix(1);
        return model.substr(0, pattern.size()) == pattern;
    }
    return model == pattern;
}

}  // namespace proxy
