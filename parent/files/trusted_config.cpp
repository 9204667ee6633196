#include "parent/files/trusted_config.hpp"

#include <cerrno>
#include <cstring>

#include "parent/files/trusted_path.hpp"

namespace proxy {

std::variant<UserPolicy, std::string> load_trusted_policy(const std::string& path,
                                                          const UserPolicy& base) {
    std::string error;
    const UniqueFd fd = open_trusted_file(path, true, error);
    if (!fd) return error.empty() ? "cannot read " + path + ": " + std::strerror(ENOENT) : error;
    return read_policy_file(fd.get(), path, base, system_name_resolver());
}

std::variant<UsageDay, std::string> load_trusted_usage_state(const std::string& path) {
    std::string error;
    const UniqueFd fd = open_trusted_file(path, false, error);
    if (!fd) {
        if (error.empty()) return UsageDay{};
        return error;
    }
    return read_usage_state(fd.get(), path);
}

}  // namespace proxy
