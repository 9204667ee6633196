// The worker's sandbox, applied in one function in a fixed order, each step
// fatal (OpenSSH's privsep child, relayd's proc setup): see harden_worker().
#pragma once

#include <string>
#include <vector>

namespace proxy {

struct WorkerSandboxConfig {
    std::string user;        // --worker-user: switched to when privileged (below)
    std::string chroot_dir;  // --chroot-dir: empty, root-owned (parent/workers/chroot_dir.hpp)
    // Listener(s) and IPC socket; 0, 1, 2 are always kept. Defaults to the
    // fixed worker fds (common/worker_fds.hpp: kWorkerListenFd 3, kWorkerIpcFd 4).
    std::vector<int> keep_fds{3, 4};
};

// Call after the event base, the signal events and the IPC channel exist and
// before the first event is dispatched. In order:
//   1. close every inherited fd except 0, 1, 2 and keep_fds. "Inherited"
//      means not close-on-exec: whatever survived execve from the parent has
//      FD_CLOEXEC clear, while the worker's own pre-sandbox fds (libevent's
//      epoll fd and signal pipe) are created with it, and must stay open.
// "Privileged" below: root, or holding CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT
// and CAP_SETPCAP, which a non-root parent passes on through its ambient set
// (policy/capabilities.hpp); holding only some of them is fatal.
//   2. when privileged: getpwnam(user) (needs /etc, so before the chroot);
//      neither root nor the uid we were started as
//   3. when privileged: chroot(chroot_dir), chdir("/")
//   4. when privileged: ambient set cleared, setgroups(0), setresgid,
//      setresuid to that user, all capabilities and the bounding set cleared
//      (capng_change_id); otherwise: clear whatever capabilities we hold
//   5. verify: no capabilities left (ambient included), ids are the user's,
//      neither root nor the starting uid can be regained
//   6. rlimits: NPROC 0, FSIZE 0, CORE 0 (NOFILE stays)
//   7. PR_SET_DUMPABLE 0
//   8. PR_SET_NO_NEW_PRIVS 1
//   9. the worker's seccomp filter (policy/seccomp_policy.hpp)
// A failing step prints one line and exits with exit_code::sandbox_failed.
// Returns what was skipped because we are not privileged (empty when nothing was),
// for the caller to log once.
[[nodiscard]] std::string harden_worker(const WorkerSandboxConfig& config);

}  // namespace proxy
