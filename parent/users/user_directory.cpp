#include "parent/users/user_directory.hpp"

#include <grp.h>
#include <pwd.h>

#include <cerrno>

namespace proxy {

UserInfo UserDirectory::fetch(uid_t uid) {
    UserInfo info;
    std::vector<char> buf(4096);
    passwd pw{};
    passwd* found = nullptr;
    for (;;) {
        int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
        if (rc == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        break;
    }
    if (found == nullptr) return info;
    info.name = pw.pw_name;
    int n = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    while (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
        if (n <= static_cast<int>(groups.size()) || n > 65536) {
            n = static_cast<int>(groups.size());
            break;
        }
        groups.resize(static_cast<std::size_t>(n));
    }
    groups.resize(static_cast<std::size_t>(n));
    info.groups = std::move(groups);
    return info;
}

const UserInfo& UserDirectory::lookup(uid_t uid, Clock::time_point now) {
    auto it = cache_.find(uid);
    if (it != cache_.end() && now - it->second.fetched < kTtl) return it->second.info;
    // A bounded cache: a box has few users, but a uid is whatever the kernel
    // says, and the parent should not grow without limit.
    if (cache_.size() >= 4096) cache_.clear();
    Entry& e = cache_[uid];
    e.info = fetch(uid);
    e.fetched = now;
    return e.info;
}

}  // namespace proxy
