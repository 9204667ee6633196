#include "parent/files/filesystem.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/unique_fd.hpp"

namespace proxy {

namespace {

// mkdir(2) applies the umask; the mode is set again on the directory just
// made, through a descriptor that cannot be a symbolic link planted in its
// place.
bool make_directory(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0) return errno == EEXIST;
    const UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    return dir && ::fchmod(dir.get(), mode) == 0;
}

}  // namespace

bool make_directories(const std::string& dir, mode_t mode) {
    for (std::size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
        std::string part = dir.substr(0, pos);
        if (!part.empty() && !make_directory(part, mode)) return false;
        if (pos == std::string::npos) return true;
    }
}

bool make_parent_directories(const std::string& file) {
    auto slash = file.rfind('/');
    if (slash == std::string::npos || slash == 0) return true;
    return make_directories(file.substr(0, slash), 0755);
}

}  // namespace proxy
