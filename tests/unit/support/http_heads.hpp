// Test support: build an HTTP head from a start line and field lines, each
// given without CRLF. Shared by the request and response head parser tests.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace proxy::test {

inline std::string head(std::string_view start_line,
                        std::initializer_list<std::string_view> lines) {
    std::string out(start_line);
    out += "\r\n";
    for (auto l : lines) {
        out += l;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

}  // namespace proxy::test
