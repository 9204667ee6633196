// The parent's own hardening, in the order main() calls it:
//
//   early_process_hardening(envp)   first thing in main (common/process_start.hpp)
//   exe_fd = open_worker_exe(err)   the worker executable, checked and pinned
//   ... key, listeners, prepare_chroot_dir (worker/sandbox.hpp), TLS context,
//       evdns, systemd_notify_prepare(), start the workers ...
//   note = drop_parent_privileges() print `note` once if not empty
//   apply_parent_sandbox(exe_fd)    then the event loop
//
// Starting or respawning a worker: fork(); in the child dup2 the listener to 3
// and the IPC end to 4, then execveat(exe_fd, "", argv, envp, AT_EMPTY_PATH).
// Nothing else execs: the parent's seccomp policy allows execveat on exe_fd
// only (policy/seccomp_parent.cpp explains what that still permits).
#pragma once

#include <string>

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
// the same group. Returns -1 and sets `error` (one line) otherwise.
int open_worker_exe(std::string& error);

// Parent running as root: keep only the capabilities of
// policy/capabilities.hpp. Not root: drop whatever capabilities we hold.
// Returns what could not be done (empty if everything was), for one log line.
// Fatal if a step that should work fails.
std::string drop_parent_privileges();

// PR_SET_NO_NEW_PRIVS, then the parent's seccomp filter. Fatal on failure.
void apply_parent_sandbox(int exe_fd);

}  // namespace proxy
