// What the parent prepares for its workers' sandbox before it starts them, in
// the order start-up calls it (parent/parent_startup.cpp, "prepare the
// workers' sandbox"):
//
//   exe = open_worker_exe()                  the executable, checked and pinned
//   privilege = prepare_worker_setup(...)    their user and chroot directory
//   hand_setup_capabilities_to_workers(...)  what a non-root parent passes on
//
// Starting or respawning a worker (parent/workers/supervisor.cpp): fork(); in
// the child dup2 the listener to 3 and the IPC end to 4 (common/worker_fds.hpp),
// close everything else but exe_fd, then execveat(exe_fd, "", argv, envp,
// AT_EMPTY_PATH). Nothing else execs: the parent's seccomp policy allows
// execveat on exe_fd only (policy/seccomp_parent.cpp explains what that still
// permits). The worker then sandboxes itself (worker/sandbox.hpp). The
// parent's own drop is parent/parent_sandbox.hpp.
#pragma once

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "policy/capabilities.hpp"

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
// root (WorkerSetupPrivilege::root), and as a non-root parent holding every
// capability of policy/capabilities.hpp in its permitted set (::capabilities:
// the packaged unit's User= and AmbientCapabilities=). If so, checks that
// `worker_user` exists and is not the user we run as (a worker of our own uid
// could signal us and read what we own), and prepares `chroot_dir`
// (parent/workers/chroot_dir.hpp). A parent holding only some of those
// capabilities is refused: it would run its workers unconfined. An error is
// an unusable configuration (exit_code::config_failed), one line.
Result<WorkerSetupPrivilege> prepare_worker_setup(const std::string& worker_user,
                                                  const std::string& chroot_dir);

// A non-root parent that sandboxes its workers (`privilege` ::capabilities)
// passes the workers' setup capabilities on through its ambient set, before
// the first worker starts; otherwise nothing to do. An error is a failed
// hardening step (exit_code::sandbox_failed), one line.
Result<void> hand_setup_capabilities_to_workers(WorkerSetupPrivilege privilege);

}  // namespace proxy
