#include "worker/sandbox.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(PROXY_SANITIZE)
#include <sanitizer/common_interface_defs.h>
#endif

#include "common/c_ptr.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "policy/capabilities.hpp"
#include "policy/seccomp_policy.hpp"

namespace proxy {

namespace {

[[noreturn]] void fatal(const char* step, const std::string& detail) {
    LOG_ERROR("worker sandbox: %s: %s", step, detail.c_str());
    ::_exit(exit_code::sandbox_failed);
}

[[noreturn]] void fatal_errno(const char* step) {
    fatal(step, std::strerror(errno));
}

std::vector<int> open_fds() {
    std::vector<int> fds;
    if (const DirPtr dir{::opendir("/proc/self/fd")}) {
        const int own = ::dirfd(dir.get());
        while (const dirent* entry = ::readdir(dir.get())) {
            char* end = nullptr;
            long fd = std::strtol(entry->d_name, &end, 10);
            if (end == entry->d_name || *end != '\0' || fd == own) continue;
            fds.push_back(static_cast<int>(fd));
        }
        return fds;
    }
    // No /proc: probe every descriptor number the limit allows.
    rlimit rl{};
    rlim_t limit = 1 << 16;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        limit = std::min<rlim_t>(rl.rlim_cur, rlim_t{1} << 20);
    }
    for (int fd = 0; static_cast<rlim_t>(fd) < limit; ++fd) {
        if (::fcntl(fd, F_GETFD) != -1) fds.push_back(fd);
    }
    return fds;
}

// Step 1.
void close_inherited_fds(const std::vector<int>& keep) {
    for (int fd : keep) {
        if (::fcntl(fd, F_GETFD) == -1)
            fatal("kept fd", "fd " + std::to_string(fd) + " is not open");
    }
    for (int fd : open_fds()) {
        if (fd <= STDERR_FILENO || std::find(keep.begin(), keep.end(), fd) != keep.end()) continue;
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags == -1 || (flags & FD_CLOEXEC) != 0) continue;  // gone, or our own
        if (::close(fd) != 0 && errno != EINTR) fatal_errno("close inherited fd");
    }
}

struct WorkerIds {
    uid_t uid;
    gid_t gid;
};

// Step 2: before the chroot, where /etc/passwd is out of reach.
WorkerIds resolve_user(const std::string& user) {
    errno = 0;
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        fatal("worker user",
              errno != 0 ? std::string(std::strerror(errno)) : "no such user \"" + user + "\"");
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        fatal("worker user", "\"" + user + "\" is root; pick an unprivileged user");
    }
    if (pw->pw_uid == ::geteuid()) {
        fatal("worker user", "\"" + user + "\" is the user we were started as (the parent's)");
    }
    return {pw->pw_uid, pw->pw_gid};
}

// Step 3.
void enter_chroot(const std::string& dir) {
#if defined(PROXY_SANITIZE)
    // Lets the sanitizer runtime cache /proc/self/maps while it can read it.
    __sanitizer_sandbox_on_notify(nullptr);
#endif
    if (::chroot(dir.c_str()) != 0) fatal("chroot", dir + ": " + std::strerror(errno));
    if (::chdir("/") != 0) fatal_errno("chdir / in the chroot");
}

// Step 5: what step 4 promised, checked with the kernel's own answers.
// `before` is the uid we were started as: root, or a non-root parent's.
void verify_user_switch(const WorkerIds& ids, uid_t before) {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0) {
        fatal_errno("getresuid");
    }
    if (ruid != ids.uid || euid != ids.uid || suid != ids.uid || rgid != ids.gid ||
        egid != ids.gid || sgid != ids.gid) {
        fatal("user switch", "ids are not the worker user's");
    }
    if (::getgroups(0, nullptr) != 0) fatal("user switch", "supplementary groups remain");
    std::string error;
    if (!verify_no_capabilities(true, error)) fatal("capabilities", error);
    if (::setresgid(0, 0, 0) != -1 || ::setresuid(0, 0, 0) != -1) {
        fatal("user switch", "root could be regained");
    }
    if (::setresuid(before, before, before) != -1) {
        fatal("user switch", "the parent's uid could be regained");
    }
}

// Step 6. RLIMIT_FSIZE 0 turns every write to a regular file into SIGXFSZ, so
// it is skipped when stderr (or stdout) is a regular file: the log would kill
// the worker. The worker cannot open files anyway (seccomp).
std::string set_rlimits() {
    auto set_zero = [](int resource, const char* name) {
        const rlimit zero{0, 0};
        if (::setrlimit(resource, &zero) != 0) fatal_errno(name);
    };
    set_zero(RLIMIT_NPROC, "setrlimit RLIMIT_NPROC");  // no fork, even if seccomp failed open
    set_zero(RLIMIT_CORE, "setrlimit RLIMIT_CORE");    // no core file with client data
    for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            return "RLIMIT_FSIZE not set: stdout/stderr is a regular file";
        }
    }
    set_zero(RLIMIT_FSIZE, "setrlimit RLIMIT_FSIZE");  // no file grows
    return {};
}

void append_note(std::string& notes, const std::string& note) {
    if (note.empty()) return;
    if (!notes.empty()) notes += "; ";
    notes += note;
}

}  // namespace

std::string harden_worker(const WorkerSandboxConfig& config) {
    std::string skipped;
    close_inherited_fds(config.keep_fds);

    // Root, or the setup capabilities a non-root parent passed on through
    // its ambient set (policy/capabilities.hpp).
    const WorkerSetupPrivilege privilege = worker_setup_privilege(true);
    if (privilege == WorkerSetupPrivilege::some) {
        fatal("capabilities", "only some of the capabilities to switch user and chroot");
    }
    if (privilege != WorkerSetupPrivilege::none) {
        const uid_t before = ::geteuid();
        const WorkerIds ids = resolve_user(config.user);
        enter_chroot(config.chroot_dir);
        std::string error;
        if (!switch_user_without_capabilities(ids.uid, ids.gid, error)) fatal("user switch", error);
        verify_user_switch(ids, before);
    } else {
        append_note(skipped,
                    "not started as root or with the capabilities to sandbox: no "
                    "chroot, no switch to user \"" +
                        config.user + "\" (running as uid " + std::to_string(::geteuid()) + ")");
        std::string error, note;
        if (!drop_all_capabilities(error, note)) fatal("capabilities", error);
        if (!verify_no_capabilities(false, error)) fatal("capabilities", error);
        append_note(skipped, note);
    }

    append_note(skipped, set_rlimits());
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fatal_errno("PR_SET_DUMPABLE");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fatal_errno("PR_SET_NO_NEW_PRIVS");
    if (int rc = apply_worker_seccomp(); rc != 0) fatal("seccomp", std::strerror(-rc));
    return skipped;
}

}  // namespace proxy
