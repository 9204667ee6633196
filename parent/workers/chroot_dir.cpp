#include "parent/workers/chroot_dir.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/c_ptr.hpp"

namespace proxy {

bool prepare_chroot_dir(const std::string& dir, std::string& error, uid_t owner) {
    if (dir.size() < 2 || dir[0] != '/') {
        error = "chroot directory must be an absolute path other than /: \"" + dir + "\"";
        return false;
    }
    // mkdir -p; the umask (077) would make new levels 0700, so chmod them.
    for (std::size_t pos = 1; pos != std::string::npos;) {
        const std::size_t next = dir.find('/', pos);
        const std::string prefix = dir.substr(0, next);
        pos = next == std::string::npos ? next : next + 1;
        if (prefix.back() == '/') continue;  // "//" in the path
        if (::mkdir(prefix.c_str(), 0755) == 0) {
            if (::chmod(prefix.c_str(), 0755) != 0) {
                error = "chmod " + prefix + ": " + std::strerror(errno);
                return false;
            }
        } else if (errno != EEXIST) {
            error = "mkdir " + prefix + ": " + std::strerror(errno);
            return false;
        }
    }
    const auto trusted = [owner](uid_t uid) { return uid == 0 || uid == owner; };
    const std::string owners =
        owner == 0 ? std::string("root") : "root or uid " + std::to_string(owner);
    // Every ancestor: ours and not writable by others, or sticky.
    std::vector<std::string> ancestors{"/"};
    for (std::size_t slash = dir.find('/', 1); slash != std::string::npos;
         slash = dir.find('/', slash + 1)) {
        ancestors.push_back(dir.substr(0, slash));
    }
    for (const std::string& ancestor : ancestors) {
        struct stat st {};
        if (::stat(ancestor.c_str(), &st) != 0) {
            error = "stat " + ancestor + ": " + std::strerror(errno);
            return false;
        }
        if (!trusted(st.st_uid) || ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)) {
            error = "bad ownership or mode of " + ancestor + " (must be owned by " + owners +
                    ", not writable by group or others unless sticky)";
            return false;
        }
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        error = "lstat " + dir + ": " + std::strerror(errno);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        error = dir + " is not a directory";
        return false;
    }
    if (!trusted(st.st_uid) || (st.st_mode & 022) != 0) {
        error = dir + " must be owned by " + owners + " and not writable by group or others";
        return false;
    }
    const DirPtr d(::opendir(dir.c_str()));
    if (!d) {
        error = "opendir " + dir + ": " + std::strerror(errno);
        return false;
    }
    bool empty = true;
    while (const dirent* entry = ::readdir(d.get())) {
        if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
            empty = false;
        }
    }
    if (!empty) {
        error = dir + " must be empty: a worker chrooted there must find nothing";
        return false;
    }
    return true;
}

}  // namespace proxy
