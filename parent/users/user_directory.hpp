// A uid's name and groups, as the system reports them (NSS: getpwuid_r,
// getgrouplist), cached for a minute so a busy user costs no lookups, and
// dropped on SIGHUP. The parent's sandbox lets glibc read /etc/passwd and
// /etc/group; NSS sources that need a unix socket (nscd, sssd) are refused
// by its filter and glibc falls back to files (README, "Per-user policy").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace proxy {

struct UserInfo {
    std::string name;           // empty when the uid has no passwd entry
    std::vector<gid_t> groups;  // primary first, then supplementary; empty without an entry
};

class UserDirectory {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kTtl{60};

    const UserInfo& lookup(uid_t uid, Clock::time_point now = Clock::now());
    void clear() { cache_.clear(); }

    // Uncached, for start-up and tests.
    static UserInfo fetch(uid_t uid);

  private:
    struct Entry {
        UserInfo info;
        Clock::time_point fetched;
    };
    std::unordered_map<uid_t, Entry> cache_;
};

}  // namespace proxy
