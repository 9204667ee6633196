#include "policy/model_pattern.hpp"

#include <string>

namespace proxy {

std::string model_pattern_error(std::string_view pattern) {
    if (pattern.empty()) return "a model pattern is empty";
    if (pattern.size() > kMaxModelPatternBytes)
        return "a model pattern is longer than " + std::to_string(kMaxModelPatternBytes) + " bytes";
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const auto c = static_cast<unsigned char>(pattern[i]);
        if (c == '*') {
            if (i + 1 != pattern.size()) return "a model pattern has '*' other than at its end";
            continue;
        }
        // Visible ASCII only: a name with controls, spaces or quotes would
        // end up in log lines and error messages.
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return "a model pattern has a space, a quote, a backslash, a control character or a "
                   "non-ASCII byte";
    }
    return {};
}

bool valid_model_pattern(std::string_view pattern) {
    return model_pattern_error(pattern).empty();
}

bool model_matches(std::string_view pattern, std::string_view model) {
    if (is_prefix_pattern(pattern)) {
        pattern.remove_suffix(1);
        return model.substr(0, pattern.size()) == pattern;
    }
    return model == pattern;
}

}  // namespace proxy
