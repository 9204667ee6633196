// The seccomp allowlists of the worker and the parent, as data.
//
// A policy is a list of rules {syscall, reason, argument conditions, action}.
// Anything not listed kills the whole process (SCMP_ACT_KILL_PROCESS); a
// syscall from a foreign ABI (i386 via int $0x80, x32 numbers with bit 30 set)
// kills too. The debug build (PROXY_SECCOMP_TRAP) traps instead and names the
// offending syscall on stderr before exiting with exit_code::sandbox_failed.
//
// Where the sets live (one concern each, an auditor reads them in order):
//   seccomp_sets.cpp     sets both processes share (memory, signals, ...)
//   seccomp_worker.cpp   the worker's composed policy
//   seccomp_parent.cpp   the parent's composed policy, incl. what a respawned
//                        worker needs before its own filter is in place
//   seccomp_filter.cpp   turning a policy into a loaded libseccomp filter
//   seccomp_trap.cpp     the debug build's SIGSYS reporter
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace proxy {

// One condition on a syscall argument, compared as a 64-bit value.
// libseccomp allows at most one condition per argument in one rule; express
// "A or B" as two rules.
struct ArgCondition {
    enum class Op { Equal, MaskedEqual };
    unsigned index = 0;  // argument 0..5
    Op op = Op::Equal;
    std::uint64_t mask = 0;  // MaskedEqual: (arg & mask) == value
    std::uint64_t value = 0;
};

inline ArgCondition arg_equals(unsigned index, std::uint64_t value) {
    return {index, ArgCondition::Op::Equal, 0, value};
}
inline ArgCondition arg_masked_equals(unsigned index, std::uint64_t mask, std::uint64_t value) {
    return {index, ArgCondition::Op::MaskedEqual, mask, value};
}
// None of `bits` is set in the argument.
inline ArgCondition arg_lacks(unsigned index, std::uint64_t bits) {
    return arg_masked_equals(index, bits, 0);
}

struct SyscallRule {
    const char* name = "";                 // libseccomp's name for it on the native arch
    const char* reason = "";               // one line: why this process needs it
    std::vector<ArgCondition> conditions;  // all must hold; empty: any arguments
    int fail_errno = 0;  // 0: allow; otherwise fail with this errno (a probe we expect)
};

using SeccompPolicy = std::vector<SyscallRule>;

// The policies as data, for inspection and tests. `self_pid` is the pid the
// worker may signal (itself, for abort()); `exe_fd` is the only fd the parent
// may execveat (the worker executable, see parent/workers/worker_setup.hpp).
SeccompPolicy worker_seccomp_policy(int self_pid);
SeccompPolicy parent_seccomp_policy(int exe_fd);

// Names of the syscalls the worker policy permits in some form (allowed,
// possibly with argument conditions). Sorted, without duplicates.
std::vector<std::string> worker_allowed_syscalls();

// Build and load a policy into the calling process. Returns 0 or -errno.
// Loading sets PR_SET_NO_NEW_PRIVS (a precondition the kernel imposes on
// unprivileged filters).
int apply_seccomp_policy(const SeccompPolicy& policy);

int apply_worker_seccomp();            // worker_seccomp_policy(getpid())
int apply_parent_seccomp(int exe_fd);  // parent_seccomp_policy(exe_fd)

// PROXY_SECCOMP_TRAP builds: install the SIGSYS handler that prints
// "seccomp violation: syscall <name> (<nr>)" and _exit()s with
// exit_code::sandbox_failed. The apply_* functions call it; call it earlier,
// first thing in main, so a respawned worker running under the parent's
// inherited filter is reported too. A no-op in normal builds.
void install_seccomp_trap_reporter();

// Whether violations trap (debug build) rather than kill. Tests use it to know
// how a violating child ends.
constexpr bool seccomp_violations_trap() {
#if defined(PROXY_SECCOMP_TRAP)
    return true;
#else
    return false;
#endif
}

}  // namespace proxy
