#include "policy/seccomp_sets.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>

namespace proxy::seccomp_sets {

void add_memory(SeccompPolicy& p) {
    // W^X: no rule anywhere in the worker lets memory become executable, so
    // injected bytes can never run; code reuse is all an attacker has left.
    p.push_back(allow_if("mmap", "malloc's large blocks and arenas; never executable",
                         {arg_lacks(2, PROT_EXEC)}));
    p.push_back(allow_if("mprotect", "malloc's arena growth and guard pages; never executable",
                         {arg_lacks(2, PROT_EXEC)}));
    p.push_back(allow("brk", "malloc grows the main heap"));
    p.push_back(allow("munmap", "malloc returns large blocks"));
    p.push_back(allow("mremap", "realloc of large blocks; cannot add PROT_EXEC"));
    // madvise: only the advice malloc (and the key page) give; the others reach
    // rarely used kernel paths (page poisoning, KSM, fork semantics).
    for (int advice : {MADV_DONTNEED, MADV_FREE, MADV_DONTDUMP, MADV_HUGEPAGE, MADV_NOHUGEPAGE}) {
        p.push_back(allow_if("madvise", "malloc trims and tunes free memory",
                             {arg_equals(2, static_cast<std::uint64_t>(advice))}));
    }
}

void add_futex(SeccompPolicy& p) {
    // The operation is compared with the private and clock flags masked out;
    // requeue and PI operations (a history of kernel bugs) stay refused.
    constexpr std::uint64_t op_mask = ignoring_bits(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    for (int op : {FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET}) {
        p.push_back(allow_if("futex", "glibc locks (stdio, malloc) and condition variables",
                             {arg_masked_equals(1, op_mask, static_cast<std::uint64_t>(op))}));
    }
}

void add_process_basics(SeccompPolicy& p) {
    p.push_back(allow("exit_group", "normal exit"));
    p.push_back(allow("exit", "exit of a thread (a library's, if any)"));
    p.push_back(allow("getpid", "log lines carry the pid; raise() for abort()"));
    p.push_back(allow("gettid", "raise() for abort()"));
    p.push_back(allow("getrandom", "hash seeds, malloc, OpenSSL and libevent randomness"));
    p.push_back(allow("clock_gettime", "libevent timers (vDSO fallback)"));
    p.push_back(allow("gettimeofday", "libevent's cached time (vDSO fallback)"));
    p.push_back(allow("restart_syscall", "the kernel restarts a call interrupted by a signal"));
}

void add_signal_handling(SeccompPolicy& p) {
    p.push_back(allow("rt_sigaction", "libevent installs and restores its signal handlers"));
    p.push_back(allow("rt_sigprocmask", "libevent and glibc block signals around handlers"));
    p.push_back(allow("rt_sigreturn", "return from a signal handler (SIGTERM/SIGHUP events)"));
}

void add_event_loop(SeccompPolicy& p) {
    p.push_back(allow("epoll_create1", "an event base made after the sandbox: an empty set"));
    p.push_back(allow("epoll_ctl", "libevent adds and removes watched descriptors"));
    p.push_back(allow("epoll_wait", "libevent's loop waits here"));
    p.push_back(allow("epoll_pwait", "libevent's loop waits here (some libc wrappers)"));
}

void add_descriptor_io(SeccompPolicy& p) {
    p.push_back(allow("read", "client sockets, libevent's signal pipe"));
    p.push_back(allow("write", "client sockets, stderr log lines, libevent's signal pipe"));
    p.push_back(allow("readv", "evbuffer reads into several chains at once"));
    p.push_back(allow("writev", "evbuffer writes several chains at once"));
    p.push_back(allow("close", "closing client connections"));
    for (int cmd : {F_GETFL, F_SETFL, F_GETFD, F_SETFD}) {
        p.push_back(allow_if("fcntl", "evutil_make_socket_nonblocking / _closeonexec",
                             {arg_equals(1, static_cast<std::uint64_t>(cmd))}));
    }
    p.push_back(allow_if("ioctl", "evbuffer_read asks how many bytes are readable",
                         {arg_equals(1, FIONREAD)}));
    p.push_back(fail_with(ENOTTY, "ioctl", "isatty() probes from stdio: answer \"not a tty\"",
                          {arg_equals(1, TCGETS)}));
}

void add_connected_socket_io(SeccompPolicy& p) {
    p.push_back(allow("sendmsg", "IPC messages (and SCM_RIGHTS) on the SOCK_SEQPACKET channel"));
    p.push_back(allow("recvmsg", "IPC messages on the SOCK_SEQPACKET channel"));
    p.push_back(allow("sendmmsg", "the IPC messages of one loop turn leave in one call"));
    p.push_back(allow("recvmmsg", "several IPC messages read in one call"));
    p.push_back(allow("recvfrom", "recv() on sockets and libevent's signal socketpair"));
    p.push_back(allow("shutdown", "half-close a client connection after the response"));
    p.push_back(allow("getsockname", "which local address a client connected to (Host check)"));
    p.push_back(allow("getpeername", "client address for log lines"));
}

void add_sanitizer_runtime(SeccompPolicy& p) {
#if defined(PROXY_SANITIZE)
    // Test builds only. ASan/UBSan report from inside the process: they switch
    // to an alternate stack, read /proc/self/maps (worker: fails quietly in the
    // chroot, the report just has fewer module names), and spin on internal
    // locks. LeakSanitizer's exit-time check (clone + ptrace) is not allowed:
    // run sanitizer builds with ASAN_OPTIONS=detect_leaks=0 for workers, or
    // leave workers with _exit().
    p.push_back(allow("sigaltstack", "sanitizer: error reports run on an alternate stack"));
    p.push_back(allow("sched_yield", "sanitizer: spin locks in the runtime"));
    p.push_back(allow("sched_getaffinity",
                      "sanitizer: the runtime sizes per-thread caches (a thread of the parent)"));
    p.push_back(allow("readlink", "sanitizer: /proc/self/exe for the report's module name"));
    p.push_back(allow("newfstatat", "sanitizer: stat of mapped modules"));
    p.push_back(allow("fstat", "sanitizer: stat of mapped modules"));
    p.push_back(allow_if("openat", "sanitizer: /proc/self/maps, read-only",
                         {arg_masked_equals(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)}));
    p.push_back(allow_if("open",
                         "sanitizer: its internal_open uses the legacy syscall (startup of a "
                         "respawned worker, reports)",
                         {arg_masked_equals(1, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)}));
    p.push_back(
        allow("pipe2", "sanitizer: IsAccessibleMemoryRange probes memory by writing it to a pipe"));
    p.push_back(allow("lseek", "sanitizer: reading /proc/self/maps"));
    p.push_back(allow("mincore", "sanitizer: checks whether a page is mapped"));
    p.push_back(
        allow_if("prctl", "sanitizer: reads the dumpable flag", {arg_equals(0, PR_GET_DUMPABLE)}));
    p.push_back(allow("madvise", "sanitizer: shadow memory advice beyond malloc's"));
#else
    (void)p;
#endif
}

}  // namespace proxy::seccomp_sets
