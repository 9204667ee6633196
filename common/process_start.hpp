// What both executables (parent and worker) do first thing in main(),
// before they parse their command line.
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

// Logs "sandbox: <step>: <detail>" and exits with exit_code::sandbox_failed.
[[noreturn]] void hardening_fatal(const char* step, const std::string& detail);

// Buffers of 64-256 KiB come and go with every response. By default glibc
// hands a freed heap top back to the kernel and asks for it again (two brk
// calls per response): a fixed 1 MiB mmap threshold, and up to 4 MiB of
// freed heap kept.
void tune_malloc();

// All of the above, first thing in either main() (right after policy/'s
// install_seccomp_trap_reporter()): early_process_hardening(envp),
// tune_malloc().
void start_process(char** envp);

}  // namespace proxy
