#include "parent/files/filesystem.hpp"

#include <sys/stat.h>

#include <cerrno>

namespace proxy {

bool make_directories(const std::string& dir, mode_t mode) {
    for (std::size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
        std::string part = dir.substr(0, pos);
        if (!part.empty() && ::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) return false;
        if (pos == std::string::npos) return true;
    }
}

bool make_parent_directories(const std::string& file) {
    auto slash = file.rfind('/');
    if (slash == std::string::npos || slash == 0) return true;
    return make_directories(file.substr(0, slash), 0755);
}

}  // namespace proxy
