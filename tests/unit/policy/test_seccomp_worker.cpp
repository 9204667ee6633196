// The production worker filter (apply_worker_seccomp) in forked children:
// every forbidden call must kill the child with SIGSYS, and every call the
// worker's event loop depends on must keep working.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "common/file_pages.hpp"
#include "policy/seccomp_policy.hpp"
#include "tests/unit/policy/seccomp_child.hpp"

namespace {

using proxy::test::describe;
using proxy::test::died_of_seccomp;
using proxy::test::run_after_filter;
using proxy::test::run_in_child;

int apply_worker() {
    return proxy::apply_worker_seccomp();
}

// A 127.0.0.1 listener, non-blocking, made before the filter as in the worker.
int make_listener() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 8) != 0) {
        return -1;
    }
    return fd;
}

// Whether the kernel runs i386 / x32 syscalls at all: without the ABI the
// instruction itself faults (i386) or returns ENOSYS (x32), which would make
// a "killed" check meaningless or impossible.
bool i386_abi_available() {
    const int status = run_in_child([] {
        long ret;
        asm volatile("int $0x80" : "=a"(ret) : "a"(20L /* i386 getpid */) : "memory");
        return ret > 0 ? 0 : 1;
    });
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

long x32_getpid() {
    return ::syscall(0x40000000L | 39L /* x32 getpid */);
}

// Sanitizer builds let the runtime read /proc/self/maps (read-only open/openat).
#if defined(PROXY_SANITIZE)
constexpr int kOpenFlags = O_WRONLY | O_APPEND;
#else
constexpr int kOpenFlags = O_RDONLY;
#endif

struct Forbidden {
    const char* what;
    std::function<int()> call;
};

}  // namespace

TEST_CASE("worker seccomp: forbidden syscalls kill the process") {
    const pid_t other = ::getpid();  // the test runner: never the child itself
    void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(page != MAP_FAILED);
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    static char* const argv[] = {const_cast<char*>("true"), nullptr};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(9);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    std::vector<Forbidden> calls = {
        {"execve", [] { return int(::syscall(SYS_execve, "/bin/true", argv, environ)); }},
        {"execveat",
         [] { return int(::syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, environ, 0)); }},
        {"ptrace", [] { return int(::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0)); }},
        {"openat",
         [] { return int(::syscall(SYS_openat, AT_FDCWD, "/etc/hostname", kOpenFlags)); }},
        {"open", [] { return int(::syscall(SYS_open, "/etc/hostname", kOpenFlags)); }},
        {"socket(AF_INET)", [] { return int(::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0)); }},
        {"socket(AF_UNIX)", [] { return int(::syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0)); }},
        {"socketpair",
         [] {
             int sv[2];
             return int(::syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv));
         }},
        {"connect", [&] { return int(::syscall(SYS_connect, pair[0], &addr, sizeof addr)); }},
        {"bind", [&] { return int(::syscall(SYS_bind, pair[0], &addr, sizeof addr)); }},
        {"listen", [&] { return int(::syscall(SYS_listen, pair[0], 1)); }},
        {"sendto with an address",
         [&] { return int(::syscall(SYS_sendto, pair[0], "x", 1, 0, &addr, sizeof addr)); }},
        {"setsockopt SO_REUSEADDR",
         [&] {
             int one = 1;
             return int(
                 ::syscall(SYS_setsockopt, pair[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
         }},
        {"mprotect(PROT_EXEC)",
         [&] { return int(::syscall(SYS_mprotect, page, 4096, PROT_READ | PROT_EXEC)); }},
        {"mmap(PROT_EXEC)",
         [] {
             return int(::syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != -1);
         }},
        {"pkey_mprotect",
         [&] { return int(::syscall(SYS_pkey_mprotect, page, 4096, PROT_READ, 0)); }},
        {"kill(other pid)", [&] { return int(::syscall(SYS_kill, other, 0)); }},
        {"kill(self)", [] { return int(::syscall(SYS_kill, ::getpid(), 0)); }},
        {"tgkill(other pid)", [&] { return int(::syscall(SYS_tgkill, other, other, 0)); }},
        {"fork (clone)", [] { return int(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) < 0 ? 2 : 0); }},
        {"clone3", [] { return int(::syscall(SYS_clone3, nullptr, 0)); }},
        {"process_vm_readv",
         [&] { return int(::syscall(SYS_process_vm_readv, other, nullptr, 0, nullptr, 0, 0)); }},
        {"prctl", [] { return int(::syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0)); }},
        {"setresuid", [] { return int(::syscall(SYS_setresuid, -1, -1, -1)); }},
        {"fcntl(F_SETOWN)", [&] { return int(::syscall(SYS_fcntl, pair[0], F_SETOWN, 1)); }},
        {"ioctl(TIOCSTI)",
         [] {
             char c = 'x';
             return int(::syscall(SYS_ioctl, 0, TIOCSTI, &c));
         }},
        {"x32 getpid", [] { return int(x32_getpid() < 0 ? 2 : 0); }},
    };
    if (i386_abi_available()) {
        calls.push_back({"i386 getpid via int $0x80", [] {
                             long ret;
                             asm volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
                             return int(ret > 0 ? 0 : 2);
                         }});
    } else {
        MESSAGE("kernel has no i386 ABI (int $0x80 faults): that case is not testable here");
    }

    for (const Forbidden& f : calls) {
        CAPTURE(std::string(f.what));
        bool reached = false;
        const int status = run_after_filter(apply_worker, f.call, reached);
        CHECK_MESSAGE(reached, "filter did not load or the child died before the call");
        CHECK_MESSAGE(died_of_seccomp(status),
                      (std::string(f.what) + " ended with " + describe(status)));
    }
    ::munmap(page, 4096);
    ::close(pair[0]);
    ::close(pair[1]);
}

TEST_CASE("worker seccomp: the calls the event loop needs keep working") {
    int listener = make_listener();
    REQUIRE(listener >= 0);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len) == 0);
    // A connected TCP pair, accepted before the filter.
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&bound), sizeof bound) == 0);
    int server = -1;
    for (int i = 0; i < 100 && server < 0; ++i) {
        server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (server < 0) ::usleep(1000);
    }
    REQUIRE(server >= 0);
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    int ipc[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ipc) == 0);

    bool reached = false;
    const int status = run_after_filter(
        apply_worker,
        [&]() -> int {
            // read/write on a pipe
            if (::write(pipe_fds[1], "abc", 3) != 3) return 10;
            char buf[16];
            if (::read(pipe_fds[0], buf, sizeof buf) != 3) return 11;
            // epoll
            int ep = ::epoll_create1(EPOLL_CLOEXEC);
            if (ep < 0) return 12;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = listener;
            if (::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) return 13;
            if (::epoll_wait(ep, &ev, 1, 0) != 0) return 14;
            ::close(ep);
            // accept4 on the idle non-blocking listener
            if (::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC) != -1 ||
                errno != EAGAIN) {
                return 15;
            }
            // the IPC channel
            char payload[] = "hello";
            iovec iov{payload, sizeof payload};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            if (::sendmsg(ipc[0], &msg, 0) != sizeof payload) return 16;
            char in[16] = {};
            iovec iov_in{in, sizeof in};
            msghdr msg_in{};
            msg_in.msg_iov = &iov_in;
            msg_in.msg_iovlen = 1;
            if (::recvmsg(ipc[1], &msg_in, 0) != sizeof payload || std::strcmp(in, "hello") != 0) {
                return 17;
            }
            // client socket: options, non-blocking, send/recv, FIONREAD, shutdown
            int one = 1;
            if (::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) return 18;
            int flags = ::fcntl(server, F_GETFL);
            if (flags < 0 || ::fcntl(server, F_SETFL, flags | O_NONBLOCK) != 0) return 19;
            if (::fcntl(server, F_SETFD, FD_CLOEXEC) != 0 || ::fcntl(server, F_GETFD) < 0)
                return 20;
            if (::send(server, "pong", 4, 0) != 4) return 21;
            iovec parts[2] = {{payload, 2}, {payload + 2, 2}};
            if (::writev(server, parts, 2) != 4) return 22;
            if (::write(client, "ping", 4) != 4) return 23;
            int readable = 0;
            for (int i = 0; i < 1000 && readable == 0; ++i) {
                if (::ioctl(server, FIONREAD, &readable) != 0) return 24;
            }
            if (::recv(server, buf, sizeof buf, 0) <= 0) return 25;
            sockaddr_storage peer{};
            socklen_t peer_len = sizeof peer;
            if (::getpeername(server, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
                return 26;
            if (::getsockname(server, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
                return 27;
            if (::shutdown(server, SHUT_WR) != 0) return 28;
            // isatty probes answer "no" instead of killing
            if (::isatty(server) != 0 || errno != ENOTTY) return 29;
            // memory: malloc of 10 MB (mmap), realloc, free
            auto* big = static_cast<char*>(std::malloc(10 << 20));
            if (big == nullptr) return 30;
            std::memset(big, 1, 10 << 20);
            big = static_cast<char*>(std::realloc(big, 20 << 20));
            if (big == nullptr) return 31;
            std::free(big);
            // clocks and randomness, as raw syscalls (the vDSO would hide them)
            timespec ts{};
            if (::syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0) return 32;
            timeval tv{};
            if (::syscall(SYS_gettimeofday, &tv, nullptr) != 0) return 33;
            unsigned char random[16];
            if (::syscall(SYS_getrandom, random, sizeof random, 0) != sizeof random) return 34;
            if (::getpid() <= 0) return 35;
            // stderr log line
            if (::write(STDERR_FILENO, "", 0) != 0) return 36;
            return 0;
        },
        reached);
    CHECK(reached);
    CHECK_MESSAGE(WIFEXITED(status), describe(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 0,
                  "failing step (see the test's return codes): ", describe(status));
    for (int fd : {listener, client, server, pipe_fds[0], pipe_fds[1], ipc[0], ipc[1]}) ::close(fd);
}

TEST_CASE("worker seccomp: idle release of file pages works under the filter") {
    // As in the worker: /proc/self/smaps opened before the sandbox, re-read
    // (pread64) and acted on (madvise MADV_DONTNEED) after it.
    proxy::FilePages pages;
    bool reached = false;
    const int status = run_after_filter(
        apply_worker, [&]() -> int { return pages.release() > 0 ? 0 : 1; }, reached);
    CHECK(reached);
    CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), describe(status));
}

TEST_CASE("worker seccomp: abort() still ends in SIGABRT, not a seccomp kill") {
    bool reached = false;
    const int status = run_after_filter(
        apply_worker, []() -> int { std::abort(); }, reached);
    CHECK(reached);
    CHECK_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT), describe(status));
}

TEST_CASE("worker seccomp: the allowed set is small and has no dangerous members") {
    const std::vector<std::string> allowed = proxy::worker_allowed_syscalls();
    CHECK(allowed.size() < 60);
    for (const char* name : {"socket",
                             "socketpair",
                             "connect",
                             "bind",
                             "listen",
                             "open",
                             "openat",
                             "execve",
                             "execveat",
                             "clone",
                             "clone3",
                             "fork",
                             "vfork",
                             "kill",
                             "ptrace",
                             "process_vm_readv",
                             "process_vm_writev",
                             "prctl",
                             "seccomp",
                             "setuid",
                             "setresuid",
                             "capset",
                             "chroot",
                             "mount",
                             "pkey_mprotect"}) {
#if defined(PROXY_SANITIZE)
        const std::string n = name;
        if (n == "openat" || n == "open" || n == "prctl") continue;  // read-only / PR_GET_DUMPABLE
#endif
        CHECK_MESSAGE(!std::binary_search(allowed.begin(), allowed.end(), std::string(name)),
                      (std::string(name) + " must not be allowed in the worker"));
    }
    for (const char* name : {"accept4", "epoll_wait", "read", "write", "sendmsg", "recvmsg"}) {
        CHECK(std::binary_search(allowed.begin(), allowed.end(), std::string(name)));
    }
    for (const proxy::SyscallRule& rule : proxy::worker_seccomp_policy(1)) {
        CHECK_MESSAGE(std::string(rule.reason).size() > 5,
                      (std::string(rule.name) + " needs a reason"));
    }
}
