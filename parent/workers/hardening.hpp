// The parent's own hardening, in the order main() calls it:
//
//   early_process_hardening(envp)   first thing in main (common/process_start.hpp)
//   exe_fd = open_worker_exe(err)   the worker executable, checked and pinned
//   ... key, TLS context, prepare_worker_setup(), listeners, evdns,
//       systemd_notify_prepare(), start the workers ...
//   note = drop_parent_privileges() print `note` once if not empty
//   apply_parent_sandbox(exe_fd)    then the event loop
//
// Starting or respawning a worker: fork(); in the child dup2 the listener to 3
// and the IPC end to 4, then execveat(exe_fd, "", argv, envp, AT_EMPTY_PATH).
// Nothing else execs: the parent's seccomp policy allows execveat on exe_fd
// only (policy/seccomp_parent.cpp explains what that still permits).
#pragma once

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

// Opens the worker executable (O_PATH | O_CLOEXEC) and moves the descriptor
// to a number >= 100, well above the fixed worker fds (3, 4) and the systemd
// listen fds, so a forked child's dup2 cannot clobber it. The fd pins the
// version found at start: an upgrade of the file on disk does not change what
// respawned workers run.
//
// Where: PROXY_WORKER_NAME next to our own executable (a build tree), else
// PROXY_WORKER_PATH (the installed one, in libexec). The worker starts with
// our credentials, so the file must be no easier to replace than our own
// executable: a regular file, owned by root or by our executable's owner, not
// writable by others, and group-writable only if our executable is too, for
// the same group. The error is one line.
Result<UniqueFd> open_worker_exe();

// Whether the workers will be chrooted and switched to `worker_user`: yes as
// root, and as a non-root parent holding every capability of
// policy/capabilities.hpp in its permitted set (the packaged unit: User= and
// AmbientCapabilities=), which then passes the workers' setup capabilities on
// through its ambient set. If so, checks that `worker_user` exists and is not
// the user we run as (a worker of our own uid could signal us and read what
// we own), and prepares `chroot_dir` (parent/workers/chroot_dir.hpp). A parent holding
// only some of those capabilities is refused: it would run its workers
// unconfined. Returns exit_code::ok, or exit_code::config_failed and `error`
// (one line); sandbox_failed if the ambient set cannot be raised.
int prepare_worker_setup(const std::string& worker_user, const std::string& chroot_dir,
                         std::string& error);

// Parent that sandboxes its workers (root, or holding the capabilities):
// keep only the capabilities of policy/capabilities.hpp, the workers' setup
// ones also ambient when not root. Otherwise: drop whatever capabilities we
// hold.
// Returns what could not be done (empty if everything was), for one log line.
// Fatal if a step that should work fails.
std::string drop_parent_privileges();

// PR_SET_NO_NEW_PRIVS, then the parent's seccomp filter. Fatal on failure.
void apply_parent_sandbox(int exe_fd);

}  // namespace proxy
