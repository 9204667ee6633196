#include "parent/files/trusted_config.hpp"

#include <cerrno>
#include <cstring>
#include <variant>

#include "parent/files/trusted_path.hpp"

namespace proxy {

Result<UserPolicy> load_trusted_policy(const std::string& path, const UserPolicy& base) {
    const auto fd = open_trusted_file(path, true);
    if (!fd) return Error{fd.error()};
    if (!*fd) return Error{"cannot read " + path + ": " + std::strerror(ENOENT)};
    auto read = read_policy_file(fd->get(), path, base, system_name_resolver());
    if (auto* err = std::get_if<std::string>(&read)) return Error{std::move(*err)};
    return std::get<UserPolicy>(std::move(read));
}

Result<UsageState> load_trusted_usage_state(const std::string& path) {
    const auto fd = open_trusted_file(path, false);
    if (!fd) return Error{fd.error()};
    if (!*fd) return UsageState{};  // none yet
    return read_usage_state(fd->get(), path);
}

}  // namespace proxy
