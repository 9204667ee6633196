#include "parent/workers/worker_setup.hpp"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "parent/workers/chroot_dir.hpp"

namespace proxy {

namespace {

// Why `worker` (fstat of the candidate) may not be executed in place of our
// own `self`, or "" if it may.
std::string unsafe_because(const struct stat& worker, const struct stat& self) {
    if (!S_ISREG(worker.st_mode)) return "not a regular file";
    if (worker.st_uid != 0 && worker.st_uid != self.st_uid)
        return "owned by uid " + std::to_string(worker.st_uid) +
               ", neither root nor the owner of our own executable";
    if ((worker.st_mode & S_IWOTH) != 0) return "writable by others";
    if ((worker.st_mode & S_IWGRP) != 0 &&
        ((self.st_mode & S_IWGRP) == 0 || self.st_gid != worker.st_gid))
        return "group-writable, and our own executable is not";
    return {};
}

std::string own_directory() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    const std::string self(buf, static_cast<std::size_t>(n));
    const std::size_t slash = self.rfind('/');
    return slash == std::string::npos ? std::string() : self.substr(0, slash);
}

}  // namespace

Result<UniqueFd> open_worker_exe() {
    struct stat self {};
    if (::stat("/proc/self/exe", &self) != 0)
        return Error{std::string("cannot stat our own executable: ") + std::strerror(errno)};
    std::string path;
    UniqueFd fd;
    if (const std::string dir = own_directory(); !dir.empty()) {
        path = dir + "/" PROXY_WORKER_NAME;
        fd.reset(::open(path.c_str(), O_PATH | O_CLOEXEC));
    }
    if (!fd) {
        path = PROXY_WORKER_PATH;
        fd.reset(::open(path.c_str(), O_PATH | O_CLOEXEC));
    }
    if (!fd) return Error{"worker executable " + path + ": " + std::strerror(errno)};
    struct stat st {};
    std::string why = ::fstat(fd.get(), &st) != 0 ? std::strerror(errno) : unsafe_because(st, self);
    if (why.empty() && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) why = "not executable";
    UniqueFd high(why.empty() ? ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 100) : -1);
    if (why.empty() && !high) why = std::string("move its descriptor: ") + std::strerror(errno);
    if (!why.empty()) return Error{"worker executable " + path + ": " + why};
    return high;
}

Result<WorkerSetupPrivilege> prepare_worker_setup(const std::string& worker_user,
                                                  const std::string& chroot_dir) {
    const WorkerSetupPrivilege privilege = worker_setup_privilege(false);
    if (privilege == WorkerSetupPrivilege::none) return privilege;
    if (privilege == WorkerSetupPrivilege::some) {
        std::string names;
        for (const CapabilityGrant& g : parent_capabilities()) names += " " + std::string(g.name);
        return Error{"not root and holding only some of" + names +
                     ": workers cannot be sandboxed (grant all of them, or none)"};
    }
    errno = 0;
    const passwd* pw = ::getpwnam(worker_user.c_str());
    if (pw == nullptr) return Error{"--worker-user " + worker_user + ": no such user"};
    if (pw->pw_uid == ::geteuid()) {
        return Error{"--worker-user " + worker_user +
                     " is the user the proxy runs as; workers need a user of their own"};
    }
    std::string error;
    if (!prepare_chroot_dir(chroot_dir, error, ::geteuid())) return Error{"--chroot-dir: " + error};
    return privilege;
}

Result<void> hand_setup_capabilities_to_workers(WorkerSetupPrivilege privilege) {
    if (privilege != WorkerSetupPrivilege::capabilities) return {};
    std::string error;
    if (!pass_setup_capabilities_to_workers(error))
        return Error{"capabilities for the workers: " + error};
    return {};
}

}  // namespace proxy
