#include "common/startup_failure.hpp"

#include <cstdio>
#include <string>

namespace proxy {

int startup_failure(int status, std::string_view line, std::string_view program) {
    std::string text;
    text.reserve(program.size() + line.size() + 3);
    text.append(program).append(": ").append(line).push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stderr);
    return status;
}

}  // namespace proxy
