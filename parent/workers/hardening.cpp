#include "parent/workers/hardening.hpp"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "common/exit_codes.hpp"
#include "common/process_start.hpp"
#include "parent/workers/chroot_dir.hpp"
#include "policy/capabilities.hpp"
#include "policy/seccomp_policy.hpp"

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

int prepare_worker_setup(const std::string& worker_user, const std::string& chroot_dir,
                         std::string& error) {
    const WorkerSetupPrivilege privilege = worker_setup_privilege(false);
    if (privilege == WorkerSetupPrivilege::none) return exit_code::ok;
    if (privilege == WorkerSetupPrivilege::some) {
        std::string names;
        for (const CapabilityGrant& g : parent_capabilities()) names += " " + std::string(g.name);
        error = "not root and holding only some of" + names +
                ": workers cannot be sandboxed (grant all of them, or none)";
        return exit_code::config_failed;
    }
    errno = 0;
    const passwd* pw = ::getpwnam(worker_user.c_str());
    if (pw == nullptr) {
        error = "--worker-user " + worker_user + ": no such user";
        return exit_code::config_failed;
    }
    if (pw->pw_uid == ::geteuid()) {
        error = "--worker-user " + worker_user +
                " is the user the proxy runs as; workers need a user of their own";
        return exit_code::config_failed;
    }
    if (!prepare_chroot_dir(chroot_dir, error, ::geteuid())) {
        error = "--chroot-dir: " + error;
        return exit_code::config_failed;
    }
    if (privilege == WorkerSetupPrivilege::capabilities &&
        !pass_setup_capabilities_to_workers(error)) {
        error = "capabilities for the workers: " + error;
        return exit_code::sandbox_failed;
    }
    return exit_code::ok;
}

std::string drop_parent_privileges() {
    std::string error;
    const WorkerSetupPrivilege privilege = worker_setup_privilege(false);
    if (privilege == WorkerSetupPrivilege::root ||
        privilege == WorkerSetupPrivilege::capabilities) {
        if (!apply_parent_capabilities(privilege == WorkerSetupPrivilege::capabilities, error))
            hardening_fatal("capabilities", error);
        return {};
    }
    std::string note;
    if (!drop_all_capabilities(error, note)) hardening_fatal("capabilities", error);
    std::string result =
        "not started as root or with the capabilities to sandbox workers: workers run as this "
        "user, without chroot or user switch";
    if (!note.empty()) result += "; " + note;
    return result;
}

void apply_parent_sandbox(int exe_fd) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        hardening_fatal("PR_SET_NO_NEW_PRIVS", std::strerror(errno));
    }
    if (int rc = apply_parent_seccomp(exe_fd); rc != 0)
        hardening_fatal("seccomp", std::strerror(-rc));
}

}  // namespace proxy
