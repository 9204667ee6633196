#include "parent/files/atomic_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/unique_fd.hpp"

namespace proxy {

namespace {

// A name already taken means someone planted it or the random bits repeat;
// a few fresh names, then give up.
constexpr int kTries = 4;

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

std::string temporary_name(const std::string& name) {
    std::uint64_t bits = 0;
    if (::getrandom(&bits, sizeof bits, 0) != static_cast<ssize_t>(sizeof bits)) return "";
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(bits));
    return name + ".tmp." + hex;
}

Result<void> replace_file(const std::string& path, std::string_view data, mode_t mode) {
    const std::size_t slash = path.rfind('/');
    const std::string dir_path = slash == std::string::npos ? "."
                                 : slash == 0               ? "/"
                                                            : path.substr(0, slash);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..")
        return Error{"cannot write " + path + ": not a file name"};
    const UniqueFd dir(::open(dir_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return Error{"cannot write " + path + ": " + std::strerror(errno)};
    std::string tmp;
    UniqueFd fd;
    for (int i = 0; i < kTries && !fd; ++i) {
        tmp = temporary_name(name);
        if (tmp.empty()) break;
        fd.reset(::openat(dir.get(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd && errno != EEXIST) break;
    }
    if (!fd) return Error{"cannot write " + path + ": a temporary file: " + std::strerror(errno)};
    const bool written =
        write_all(fd.get(), data) && ::fchmod(fd.get(), mode) == 0 && ::fsync(fd.get()) == 0;
    const int write_errno = errno;
    fd.reset();
    if (!written || ::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0) {
        Error e{"cannot write " + path + ": " + std::strerror(written ? errno : write_errno)};
        ::unlinkat(dir.get(), tmp.c_str(), 0);
        return e;
    }
    return {};
}

}  // namespace proxy
