#include "parent/server_info.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/json.hpp"
#include "parent/filesystem.hpp"

namespace proxy {

bool write_server_info(const std::string& path, unsigned port, long pid, std::string& error) {
    if (!make_parent_directories(path)) {
        error = "cannot create the directory of " + path + ": " + std::strerror(errno);
        return false;
    }
    std::string tmp = path + ".tmp." + std::to_string(pid);
    std::string data = json_server_info(port, pid) + "\n";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "cannot write " + tmp + ": " + std::strerror(errno);
        return false;
    }
    bool ok = ::fchmod(fd, 0644) == 0 &&
              ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
              ::fsync(fd) == 0;
    int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot write " + path + ": " + std::strerror(ok ? errno : saved);
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

}  // namespace proxy
