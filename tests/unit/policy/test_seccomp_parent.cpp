// The production parent filter (apply_parent_seccomp) in forked children:
// what would let a compromised parent reach other processes or the system
// kills; upstream I/O, files and respawning by execveat on the exe fd work.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "policy/seccomp_policy.hpp"
#include "tests/unit/policy/seccomp_child.hpp"

namespace {

using proxy::test::describe;
using proxy::test::died_of_seccomp;
using proxy::test::run_after_filter;
using proxy::test::run_in_child;

struct Call {
    const char* what;
    std::function<int()> call;
};

// A process to aim signals at, so a broken filter cannot hurt the test runner.
pid_t start_sleeper() {
    const pid_t pid = ::fork();
    if (pid == 0) {
        for (;;) ::pause();
    }
    return pid;
}

void stop_child(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

}  // namespace

TEST_CASE("parent seccomp: calls that reach other processes or the system kill") {
    const int exe_fd = ::open("/bin/true", O_PATH | O_CLOEXEC);
    const int other_fd = ::open("/bin/true", O_PATH | O_CLOEXEC);
    REQUIRE(exe_fd >= 0);
    REQUIRE(other_fd >= 0);
    const pid_t sleeper = start_sleeper();
    REQUIRE(sleeper > 0);
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(page != MAP_FAILED);
    const int file_fd = ::open("/bin/true", O_RDONLY | O_CLOEXEC);
    REQUIRE(file_fd >= 0);
    static char* const argv[] = {const_cast<char*>("true"), nullptr};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    const std::vector<Call> calls = {
        {"ptrace", [] { return int(::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0)); }},
        {"process_vm_readv",
         [&] { return int(::syscall(SYS_process_vm_readv, sleeper, nullptr, 0, nullptr, 0, 0)); }},
        {"process_vm_writev",
         [&] { return int(::syscall(SYS_process_vm_writev, sleeper, nullptr, 0, nullptr, 0, 0)); }},
        {"execve", [] { return int(::syscall(SYS_execve, "/bin/true", argv, environ)); }},
        {"execveat on another fd",
         [&] { return int(::syscall(SYS_execveat, other_fd, "", argv, environ, AT_EMPTY_PATH)); }},
        {"execveat without AT_EMPTY_PATH",
         [&] { return int(::syscall(SYS_execveat, exe_fd, "", argv, environ, 0)); }},
        {"socket(AF_INET, SOCK_RAW)",
         [] { return int(::syscall(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP)); }},
        {"socket(AF_PACKET)", [] { return int(::syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0)); }},
        {"socket(AF_INET, SOCK_STREAM, MPTCP)",
         [] { return int(::syscall(SYS_socket, AF_INET, SOCK_STREAM, 262)); }},
        {"socket(AF_NETLINK, NETLINK_ROUTE)",
         [] { return int(::syscall(SYS_socket, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)); }},
        {"bind", [&] { return int(::syscall(SYS_bind, pair[0], &addr, sizeof addr)); }},
        {"listen", [&] { return int(::syscall(SYS_listen, pair[0], 1)); }},
        {"clone(CLONE_NEWUSER)",
         [] { return int(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) < 0 ? 2 : 0); }},
        {"clone(CLONE_THREAD)",
         [] {
             return int(::syscall(SYS_clone, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND, 0, 0, 0, 0));
         }},
        {"unshare", [] { return int(::syscall(SYS_unshare, CLONE_NEWNS)); }},
        {"setns", [] { return int(::syscall(SYS_setns, -1, 0)); }},
        {"mount", [] { return int(::syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr)); }},
        {"umount2", [] { return int(::syscall(SYS_umount2, "/nonexistent", 0)); }},
        {"pivot_root",
         [] { return int(::syscall(SYS_pivot_root, "/nonexistent", "/nonexistent")); }},
        {"bpf", [] { return int(::syscall(SYS_bpf, 0, nullptr, 0)); }},
        {"perf_event_open",
         [] { return int(::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0)); }},
        {"keyctl", [] { return int(::syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }},
        {"init_module", [] { return int(::syscall(SYS_init_module, nullptr, 0, "")); }},
        {"userfaultfd", [] { return int(::syscall(SYS_userfaultfd, 0)); }},
        {"io_uring_setup", [] { return int(::syscall(SYS_io_uring_setup, 1, nullptr)); }},
        {"mmap(PROT_EXEC, anonymous)",
         [] {
             return int(::syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != -1);
         }},
        {"mmap(PROT_WRITE|PROT_EXEC, file)",
         [&] {
             return int(::syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                  MAP_PRIVATE, file_fd, 0) != -1);
         }},
        {"mmap(PROT_EXEC, shared file)",
         [&] {
             return int(
                 ::syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, file_fd, 0) != -1);
         }},
        {"mprotect(PROT_EXEC)",
         [&] { return int(::syscall(SYS_mprotect, page, 4096, PROT_READ | PROT_EXEC)); }},
        {"kill(-1)", [] { return int(::syscall(SYS_kill, -1, 0)); }},
        {"kill(SIGUSR1)", [&] { return int(::syscall(SYS_kill, sleeper, SIGUSR1)); }},
        {"prlimit64 of another process",
         [&] { return int(::syscall(SYS_prlimit64, sleeper, RLIMIT_NOFILE, nullptr, nullptr)); }},
        {"prctl(PR_SET_PTRACER)",
         [] { return int(::syscall(SYS_prctl, PR_SET_PTRACER, -1, 0, 0, 0)); }},
        {"x32 getpid", [] { return int(::syscall(0x40000000L | 39L)); }},
    };

    for (const Call& c : calls) {
        CAPTURE(std::string(c.what));
        bool reached = false;
        const int status =
            run_after_filter([&] { return proxy::apply_parent_seccomp(exe_fd); }, c.call, reached);
        CHECK_MESSAGE(reached, "filter did not load or the child died before the call");
        CHECK_MESSAGE(died_of_seccomp(status),
                      (std::string(c.what) + " ended with " + describe(status)));
    }
    stop_child(sleeper);
    ::munmap(page, 4096);
    for (int fd : {exe_fd, other_fd, file_fd, pair[0], pair[1]}) ::close(fd);
}

TEST_CASE("parent seccomp: respawn by execveat on the exe fd works (the loader runs under it)") {
    // /bin/true stands in for our own executable: the filter checks the fd
    // number and flags, and the exec'd program's loader and libc start-up run
    // under the inherited filter as a respawned worker's would.
    const int exe_fd = ::open("/bin/true", O_PATH | O_CLOEXEC);
    REQUIRE(exe_fd >= 0);
    static char* const argv[] = {const_cast<char*>("true"), nullptr};
    bool reached = false;
    const int status = run_after_filter(
        [&] { return proxy::apply_parent_seccomp(exe_fd); },
        [&] { return 50 + int(::syscall(SYS_execveat, exe_fd, "", argv, environ, AT_EMPTY_PATH)); },
        reached);
    CHECK(reached);
    CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), describe(status));
    ::close(exe_fd);
}

TEST_CASE("parent seccomp: upstream I/O, files and supervision keep working") {
    const int exe_fd = ::open("/bin/true", O_PATH | O_CLOEXEC);
    REQUIRE(exe_fd >= 0);
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    char dir_template[] = "/tmp/proxy-parent-seccomp-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;

    bool reached = false;
    const int status = run_after_filter(
        [&] { return proxy::apply_parent_seccomp(exe_fd); },
        [&]() -> int {
            // upstream TCP: non-blocking connect, SO_ERROR, TCP_NODELAY
            int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s < 0) return 10;
            if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
                errno != EINPROGRESS) {
                return 11;
            }
            int err = 0;
            socklen_t err_len = sizeof err;
            if (::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) return 12;
            int one = 1;
            if (::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) return 13;
            ::close(s);
            // evdns: UDP sockets (IPv6 may be absent: an errno, not a kill)
            s = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s < 0) return 14;
            if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 15;
            ::close(s);
            s = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (s >= 0) ::close(s);
            // sock_diag
            s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
            if (s < 0) return 16;
            ::close(s);
            // unix stream sockets: refused quietly (nscd probe)
            if (::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) != -1 || errno != EACCES) {
                return 17;
            }
            // a respawned worker's IPC channel
            int sv[2];
            if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return 18;
            // server-info: write a temp file, make it readable, rename, remove
            const std::string tmp = dir + "/info.json.tmp", final_path = dir + "/info.json";
            int f = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (f < 0) return 19;
            if (::write(f, "{}", 2) != 2 || ::fsync(f) != 0 || ::fchmod(f, 0644) != 0) return 20;
            ::close(f);
            if (::rename(tmp.c_str(), final_path.c_str()) != 0) return 21;
            if (::unlink(final_path.c_str()) != 0) return 22;
            // supervision: fork, signal, reap (the child blocks in read(),
            // which the filter allows; pause() is not on the list)
            int block[2];
            if (::pipe2(block, O_CLOEXEC) != 0) return 29;
            const pid_t child = ::fork();
            if (child == 0) {
                char byte;
                for (;;) (void)!::read(block[0], &byte, 1);
            }
            if (child < 0) return 23;
            if (::kill(child, SIGTERM) != 0) return 24;
            int child_status = 0;
            if (::waitpid(child, &child_status, 0) != child) return 25;
            if (!WIFSIGNALED(child_status) || WTERMSIG(child_status) != SIGTERM) {
                return WIFSIGNALED(child_status) ? 150 + WTERMSIG(child_status) : 26;
            }
            // clone3 answers ENOSYS so libc falls back to clone
            if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return 27;
            void* big = std::malloc(10 << 20);
            if (big == nullptr) return 28;
            std::free(big);
            return 0;
        },
        reached);
    CHECK(reached);
    CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), describe(status));
    ::rmdir(dir.c_str());
    ::close(listener);
    ::close(exe_fd);
}

TEST_CASE("parent seccomp: every syscall a worker may make is allowed to the parent too") {
    // A respawned worker runs under the parent's inherited filter: anything
    // missing here would kill it even though its own policy allows it.
    std::set<std::string> parent;
    for (const proxy::SyscallRule& rule : proxy::parent_seccomp_policy(100)) {
        parent.insert(rule.name);
    }
    for (const std::string& name : proxy::worker_allowed_syscalls()) {
        CHECK_MESSAGE(parent.count(name) == 1,
                      (name + " is allowed to workers but not the parent"));
    }
    for (const char* name : {"ptrace",
                             "process_vm_readv",
                             "process_vm_writev",
                             "execve",
                             "mount",
                             "umount2",
                             "pivot_root",
                             "unshare",
                             "setns",
                             "bpf",
                             "perf_event_open",
                             "init_module",
                             "finit_module",
                             "kexec_load",
                             "keyctl",
                             "add_key",
                             "userfaultfd",
                             "io_uring_setup",
                             "bind",
                             "listen",
                             "vfork"}) {
        CHECK_MESSAGE(parent.count(name) == 0,
                      (std::string(name) + " must not be allowed in the parent"));
    }
}
