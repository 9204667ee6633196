#include "parent/files/server_info.hpp"

#include <cerrno>
#include <cstring>

#include "common/json.hpp"
#include "parent/files/atomic_file.hpp"
#include "parent/files/filesystem.hpp"

namespace proxy {

Result<void> write_server_info(const std::string& path, unsigned port, long pid) {
    if (!make_parent_directories(path))
        return Error{"cannot create the directory of " + path + ": " + std::strerror(errno)};
    return replace_file(path, json_server_info(port, pid) + "\n", 0644);
}

}  // namespace proxy
