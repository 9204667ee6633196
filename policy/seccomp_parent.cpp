// The parent's seccomp policy, applied once the workers are up.
//
// The parent holds the key and talks to the upstream, so it needs the network
// and some files; what it must not get is a way to reach other processes
// (ptrace, process_vm_*), to change the system (mount, modules, bpf, keyrings,
// namespaces) or to run another program.
//
// Respawn. The parent restarts dead workers with fork + execveat(exe_fd, "",
// argv, envp, AT_EMPTY_PATH), where exe_fd is the worker executable opened
// and checked at start (parent/workers/worker_setup.hpp). A seccomp filter is inherited by children
// and survives execve, so a respawned worker runs the dynamic loader and its whole pre-sandbox
// setup (getpwnam, chroot, setresuid, capabilities, rlimits, prctl, seccomp) under THIS filter; its
// own filter is then stacked on top and the stricter action wins. Hence the add_worker_bootstrap()
// set below: each of those calls is here because a respawned worker needs it, not the parent.
//
// Residual risk, stated plainly (an attacker who already runs code in the
// parent keeps these):
//   - execveat is checked on (dirfd == exe_fd, flags == AT_EMPTY_PATH), but
//     the path string cannot be checked by seccomp: an absolute path ignores
//     dirfd, so execveat(exe_fd, "/bin/sh", ..., AT_EMPTY_PATH) runs a shell.
//     That shell inherits this filter, no_new_privs and the parent's few
//     capabilities, so it gains convenience, not privilege.
//   - the loader needs file-backed PROT_READ|PROT_EXEC mappings, so the
//     parent may map any file it can write as code. Anonymous or writable
//     executable memory stays refused.
//   - chroot, setresuid/setresgid and setgroups are allowed (with CAP_SYS_CHROOT,
//     CAP_SETUID, CAP_SETGID kept for the same reason; policy/capabilities.hpp).
//   - the parent still runs as uid 0: files owned by root with an owner write
//     bit stay writable even without capabilities. openat cannot be limited to
//     the dump directory by seccomp.
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "policy/seccomp_policy.hpp"
#include "policy/seccomp_sets.hpp"

namespace proxy {

using namespace seccomp_sets;

namespace {

constexpr std::uint64_t kSocketTypeMask = ignoring_bits(SOCK_NONBLOCK | SOCK_CLOEXEC);
constexpr std::uint64_t u64(long v) {
    return static_cast<std::uint64_t>(v);
}

// What the worker's own policy allows with narrower arguments (accept4,
// sendto, setsockopt, tgkill) must be allowed here at least as widely, or a
// respawned worker would die under the inherited filter.
void add_worker_runtime_superset(SeccompPolicy& p) {
    p.push_back(allow("accept4", "respawned workers accept clients on the inherited listener"));
    p.push_back(allow("sendto", "UDP DNS queries, sd_notify, sock_diag requests, send()"));
    for (int level : {SOL_SOCKET, static_cast<int>(IPPROTO_TCP)}) {
        p.push_back(allow_if("setsockopt", "TCP_NODELAY / keep-alive on upstream sockets",
                             {arg_equals(1, u64(level))}));
    }
    // abort() in the parent or in a worker (any pid, since both share this filter).
    p.push_back(allow_if("tgkill", "abort(): raise(SIGABRT)", {arg_equals(2, SIGABRT)}));
    for (int cmd : {F_DUPFD, F_DUPFD_CLOEXEC}) {
        p.push_back(allow_if("fcntl", "a forked child moves fds clear of the fixed worker fds",
                             {arg_equals(1, u64(cmd))}));
    }
    p.push_back(allow_if("ioctl", "OpenSSL's BIO_socket_nbio", {arg_equals(1, FIONBIO)}));
}

// Upstream I/O: TLS over TCP, evdns over UDP, peer identification.
void add_upstream_network(SeccompPolicy& p) {
    for (int family : {AF_INET, AF_INET6}) {
        for (int proto : {0, static_cast<int>(IPPROTO_TCP)}) {
            p.push_back(allow_if(
                "socket", "TCP connections to the upstream",
                {arg_equals(0, u64(family)), arg_masked_equals(1, kSocketTypeMask, SOCK_STREAM),
                 arg_equals(2, u64(proto))}));
        }
        for (int proto : {0, static_cast<int>(IPPROTO_UDP)}) {
            p.push_back(allow_if(
                "socket", "evdns queries over UDP",
                {arg_equals(0, u64(family)), arg_masked_equals(1, kSocketTypeMask, SOCK_DGRAM),
                 arg_equals(2, u64(proto))}));
        }
    }
    p.push_back(
        allow_if("socket", "NETLINK_SOCK_DIAG: which user owns a client's TCP socket",
                 {arg_equals(0, AF_NETLINK), arg_masked_equals(1, kSocketTypeMask, SOCK_RAW),
                  arg_equals(2, NETLINK_SOCK_DIAG)}));
    // glibc's getpwnam first asks nscd over a unix stream socket (and
    // libcap-ng may syslog). Refusing quietly makes it fall back to files; a
    // unix socket would otherwise reach every local daemon as uid 0.
    p.push_back(fail_with(EACCES, "socket", "nscd / syslog probes: fall back quietly",
                          {arg_equals(0, AF_UNIX)}));
    p.push_back(
        allow_if("socketpair", "the IPC channel of a respawned worker",
                 {arg_equals(0, AF_UNIX), arg_masked_equals(1, kSocketTypeMask, SOCK_SEQPACKET)}));
    p.push_back(allow("connect", "upstream TCP, evdns UDP"));
    for (int level : {SOL_SOCKET, static_cast<int>(IPPROTO_TCP)}) {
        p.push_back(allow_if("getsockopt", "SO_ERROR after connect, SO_PEERCRED of unix clients",
                             {arg_equals(1, u64(level))}));
    }
}

// --server-info and --dump-dir files, OpenSSL's CA lookups, /etc/passwd.
void add_files(SeccompPolicy& p) {
    p.push_back(allow("openat",
                      "dump files, server-info, CA certificates, /etc for getpwnam, "
                      "--key-file again on SIGHUP"));
    p.push_back(allow("newfstatat", "stdio and OpenSSL stat what they open"));
    p.push_back(allow("fstat", "stdio and OpenSSL stat what they open"));
    p.push_back(allow("statx", "std::filesystem status queries"));
    p.push_back(allow("lseek", "stdio"));
    p.push_back(allow("fsync", "server-info is durable before rename"));
    p.push_back(allow("fdatasync", "dump files"));
    p.push_back(allow("fchmod", "server-info must be readable by the users it serves"));
    for (const char* name : {"rename", "renameat", "renameat2"}) {
        p.push_back(allow(name, "server-info is replaced atomically"));
    }
    for (const char* name : {"unlink", "unlinkat"}) {
        p.push_back(allow(name, "a half-written server-info temp file is removed"));
    }
    p.push_back(allow("getdents64", "a worker lists /proc/self/fd to close inherited fds"));
    // The per-user policy resolves a caller's groups through NSS; with
    // nsswitch's "systemd" source, libnss_systemd looks for userdb records in
    // /run/userdb, /usr/lib/userdb ... and follows their symlinks.
    p.push_back(allow("readlinkat", "NSS (nss-systemd) follows symlinks of userdb directories"));
    p.push_back(allow("munlock", "the key page is wiped and unlocked at exit"));
}

// --github-oidc: each access token, and each renewal round's buffers, gets a
// new locked, never-dumped, wiped-on-fork page while the sandbox is up
// (common/secret_page.hpp). mlock is bounded by RLIMIT_MEMLOCK.
void add_secret_pages(SeccompPolicy& p) {
    p.push_back(allow("mlock", "new secret pages (OIDC access tokens) are locked"));
    p.push_back(allow_if("madvise", "new secret pages are wiped in forked children",
                         {arg_equals(2, u64(MADV_WIPEONFORK))}));
}

// Supervising and respawning workers.
void add_supervision(SeccompPolicy& p, int exe_fd) {
    p.push_back(allow("wait4", "reap dead workers"));
    p.push_back(allow("waitid", "reap dead workers"));
    // pid >= 0: a worker (or our own process group), never -1 (everyone).
    constexpr std::uint64_t negative = 0xffffffff80000000ull;
    for (int sig : {0, SIGTERM, SIGINT, SIGHUP, SIGKILL}) {
        p.push_back(allow_if("kill", "stop, drain or probe a worker (another uid: CAP_KILL)",
                             {arg_lacks(0, negative), arg_equals(1, u64(sig))}));
    }
    // fork() only: no namespaces, no shared-memory threads except vfork.
    constexpr std::uint64_t fork_flags =
        CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_VM | CLONE_VFORK | CSIGNAL;
    p.push_back(allow_if("clone", "fork() a worker to respawn it", {arg_lacks(0, ~fork_flags)}));
    p.push_back(
        fail_with(ENOSYS, "clone3",
                  "its flags sit in memory seccomp cannot read; glibc falls back to clone"));
    p.push_back(allow_if("execveat", "respawn: only the worker executable, by descriptor",
                         {arg_equals(0, u64(exe_fd)), arg_equals(4, AT_EMPTY_PATH)}));
    p.push_back(allow("dup2", "a respawned worker's listener and IPC fds get fixed numbers"));
    p.push_back(allow("dup3", "a respawned worker's listener and IPC fds get fixed numbers"));
    p.push_back(allow("close_range", "the forked child closes what the worker must not inherit"));
    p.push_back(allow("pipe2", "libevent's signal pipe in a new event base"));
    p.push_back(allow("getppid", "a forked child checks its parent is still there"));
    for (const char* name :
         {"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups"}) {
        p.push_back(allow(name, "who are we: root or not decides what can be sandboxed"));
    }
}

// What a respawned worker runs between execveat and its own filter: the
// dynamic loader, glibc start-up, early_process_hardening, harden_worker.
void add_worker_bootstrap(SeccompPolicy& p) {
    p.push_back(allow_if("mmap", "loader maps shared libraries: file-backed, private, R+X only",
                         {arg_lacks(2, PROT_WRITE), arg_lacks(3, MAP_ANONYMOUS | MAP_SHARED)}));
    p.push_back(allow("pread64", "loader reads ELF program headers"));
    p.push_back(allow("access", "loader checks /etc/ld.so.preload"));
    p.push_back(allow("arch_prctl", "glibc start-up sets the TLS base (ARCH_SET_FS)"));
    p.push_back(allow("set_tid_address", "glibc start-up"));
    p.push_back(allow("set_robust_list", "glibc start-up and fork()"));
    p.push_back(allow("rseq", "glibc start-up registers restartable sequences"));
    p.push_back(allow_if("prlimit64", "getrlimit at start-up, rlimits of harden_worker: self only",
                         {arg_equals(0, 0)}));
    p.push_back(allow("umask", "early_process_hardening"));
    p.push_back(allow("fstatfs", "libcap-ng's start-up checks /proc is procfs"));
    p.push_back(allow("chroot", "harden_worker: chroot into the empty directory"));
    p.push_back(allow("chdir", "harden_worker: chdir(\"/\") inside the chroot"));
    p.push_back(allow("setgroups", "harden_worker: drop supplementary groups"));
    p.push_back(allow("setresgid", "harden_worker: switch to the worker user's group"));
    p.push_back(allow("setresuid", "harden_worker: switch to the worker user"));
    p.push_back(allow("capget", "libcap-ng reads the current capabilities"));
    p.push_back(allow("capset", "libcap-ng drops all capabilities"));
    p.push_back(allow("seccomp", "the worker stacks its own filter (can only restrict)"));
    for (int option :
         {PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_GET_DUMPABLE,
          PR_SET_KEEPCAPS, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_SET_SECCOMP,
          PR_GET_SECCOMP, PR_GET_SECUREBITS, PR_SET_PDEATHSIG, PR_SET_NAME}) {
        p.push_back(allow_if("prctl", "harden_worker / libcap-ng / libseccomp process settings",
                             {arg_equals(0, u64(option))}));
    }
}

}  // namespace

SeccompPolicy parent_seccomp_policy(int exe_fd) {
    SeccompPolicy p;
    add_memory(p);
    add_futex(p);
    add_process_basics(p);
    add_signal_handling(p);
    add_event_loop(p);
    add_descriptor_io(p);
    add_connected_socket_io(p);
    add_worker_runtime_superset(p);
    add_upstream_network(p);
    add_files(p);
    add_secret_pages(p);
    add_supervision(p, exe_fd);
    add_worker_bootstrap(p);
    add_sanitizer_runtime(p);
    return p;
}

int apply_parent_seccomp(int exe_fd) {
    return apply_seccomp_policy(parent_seccomp_policy(exe_fd));
}

}  // namespace proxy
