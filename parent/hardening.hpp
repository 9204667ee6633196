// The parent's own hardening, in the order main() calls it:
//
//   early_process_hardening(envp)   first thing in main
//   exe_fd = open_self_exe()        before anything can replace the binary
//   ... key, listeners, prepare_chroot_dir (worker/sandbox.hpp), TLS context,
//       evdns, systemd_notify_prepare(), start the workers ...
//   note = drop_parent_privileges() print `note` once if not empty
//   apply_parent_sandbox(exe_fd)    then the event loop
//
// Respawning a worker later: fork(); in the child dup2 the listener to 3 and
// the IPC end to 4, then execveat(exe_fd, "", argv, envp, AT_EMPTY_PATH).
// Nothing else execs: the parent's seccomp policy allows execveat on exe_fd
// only (policy/seccomp_parent.cpp explains what that still permits).
#pragma once

#include <string>

namespace proxy {

// PR_SET_DUMPABLE 0 (no core, no ptrace by same-uid processes, /proc/self
// root-owned), RLIMIT_CORE 0, umask 077, SIGPIPE ignored, and variables that
// make the loader, libc, or OpenSSL load code or read other files removed
// from the environment (and so from every worker's): LD_*, MALLOC_*,
// GLIBC_TUNABLES, glibc's other "unsecure" variables, OPENSSL_CONF and friends,
// SSL_CERT_FILE/SSL_CERT_DIR (trust comes from the system store or
// --upstream-ca-file, visible on the command line). `envp` is main's third
// argument; it is compacted in place if it is not `environ` itself.
// Exits with exit_code::sandbox_failed if a step fails.
void early_process_hardening(char** envp);

// Opens our own executable (/proc/self/exe, O_PATH | O_CLOEXEC) and moves the
// descriptor to a number >= 100, well above the fixed worker fds (3, 4) and
// the systemd listen fds, so a forked child's dup2 cannot clobber it. The fd
// pins the running version: an upgrade of the file on disk does not change
// what respawned workers run. Fatal on failure.
int open_self_exe();

// Parent running as root: keep only the capabilities of
// policy/capabilities.hpp. Not root: drop whatever capabilities we hold.
// Returns what could not be done (empty if everything was), for one log line.
// Fatal if a step that should work fails.
std::string drop_parent_privileges();

// PR_SET_NO_NEW_PRIVS, then the parent's seccomp filter. Fatal on failure.
void apply_parent_sandbox(int exe_fd);

}  // namespace proxy
