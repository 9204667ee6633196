#include "common/http_types.hpp"

namespace proxy {

static char lower_ascii(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
    }
    return true;
}

const Header* find_header(const HeaderList& headers, std::string_view name) {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return &h;
    }
    return nullptr;
}

}  // namespace proxy
