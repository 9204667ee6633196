// Where a policy's text and the names in it come from: the file, read with
// a size limit, and the system's user database (NSS). The TOML reading is in
// policy/policy_file.cpp.
#include "policy/policy_file.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/unique_fd.hpp"

namespace proxy {
namespace {

// A policy is a few dozen lines; anything this big is a mistake (a log file
// given by accident), and reading it whole would only delay the error.
constexpr std::size_t kMaxPolicyFileBytes = 1024 * 1024;

// A group entry holds its member list; past this the database is broken.
constexpr std::size_t kMaxNssBuffer = 1024 * 1024;

// getpwnam_r and getgrnam_r share a shape; the buffer grows on ERANGE because
// an entry can be as large as its group's member list.
template <typename Entry, typename Lookup>
std::optional<std::uint32_t> nss_lookup(std::string_view name, Lookup lookup,
                                        std::uint32_t Entry::*id) {
    if (name.find('\0') != std::string_view::npos) return std::nullopt;
    const std::string key(name);
    std::vector<char> buf(1024);
    for (;;) {
        Entry entry{};
        Entry* found = nullptr;
        const int rc = lookup(key.c_str(), &entry, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < kMaxNssBuffer) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0 || found == nullptr) return std::nullopt;
        return found->*id;
    }
}

}  // namespace

NameResolver system_name_resolver() {
    return NameResolver{
        [](std::string_view name) { return nss_lookup<passwd>(name, getpwnam_r, &passwd::pw_uid); },
        [](std::string_view name) { return nss_lookup<group>(name, getgrnam_r, &group::gr_gid); },
    };
}

std::variant<UserPolicy, std::string> load_policy_file(const std::string& path,
                                                       const UserPolicy& base,
                                                       const NameResolver& names) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return "cannot read " + path + ": " + std::strerror(errno);
    return read_policy_file(fd.get(), path, base, names);
}

std::variant<UserPolicy, std::string> read_policy_file(int fd, const std::string& path,
                                                       const UserPolicy& base,
                                                       const NameResolver& names) {
    // Read up to one byte past the limit rather than trust st_size, which
    // is 0 for /proc files and pipes (--check-policy /dev/stdin).
    std::string text;
    char chunk[16384];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return "cannot read " + path + ": " + std::strerror(errno);
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
        if (text.size() > kMaxPolicyFileBytes)
            return path + ": larger than 1 MiB, not a policy file";
    }
    return parse_policy_text(text, path, base, names);
}

}  // namespace proxy
