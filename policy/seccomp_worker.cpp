// The worker's seccomp policy: what a process that parses hostile HTTP may do
// once its sandbox is up. Everything it needs from the outside world was set
// up before (listener fd 3, IPC fd 4, event base, signal events), so it needs
// no way to create a new kernel object that reaches outside the process.
//
// Refused here by omission, each worth naming:
//   socket, socketpair, connect, bind, listen   no new endpoints
//   open, openat, execve, execveat               no files, no programs
//   clone, clone3, fork, vfork                   no new processes
//   kill, tkill, tgkill to another process       no signals out
//   ptrace, process_vm_readv/writev              no other address spaces
//   mmap/mprotect with PROT_EXEC, pkey_mprotect  no new executable memory
//   prctl, seccomp, setuid family, capset        no changes to the sandbox
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "policy/seccomp_policy.hpp"
#include "policy/seccomp_sets.hpp"

namespace proxy {

using namespace seccomp_sets;

SeccompPolicy worker_seccomp_policy(int self_pid) {
    SeccompPolicy p;
    add_memory(p);
    add_futex(p);
    add_process_basics(p);
    add_signal_handling(p);
    add_event_loop(p);
    add_descriptor_io(p);
    add_connected_socket_io(p);

    p.push_back(allow("pread64",
                      "re-reads /proc/self/smaps, opened before the sandbox, at idle "
                      "(common/file_pages.hpp); no other file is open"));
    p.push_back(allow("accept4", "libevent's listener accepts clients on fd 3"));
    p.push_back(
        allow_if("sendto", "send() on client sockets: no destination address", {arg_equals(4, 0)}));
    p.push_back(allow_if("fcntl",
                         "F_DUPFD_CLOEXEC: a new client's socket waits in the IPC queue "
                         "as a copy of its own when the channel is full",
                         {arg_equals(1, F_DUPFD_CLOEXEC)}));
    p.push_back(allow_if("setsockopt", "TCP_NODELAY: SSE chunks leave at once",
                         {arg_equals(1, IPPROTO_TCP), arg_equals(2, TCP_NODELAY)}));
    p.push_back(allow_if("setsockopt", "SO_KEEPALIVE: notice vanished clients",
                         {arg_equals(1, SOL_SOCKET), arg_equals(2, SO_KEEPALIVE)}));
    // abort() (a failed assertion, _FORTIFY_SOURCE, the stack protector) ends
    // in tgkill(getpid(), gettid(), SIGABRT); the worker is single-threaded, so
    // tid == pid. Without it a crash would look like a seccomp violation.
    const auto self = static_cast<std::uint64_t>(self_pid);
    p.push_back(allow_if("tgkill", "abort() signals the worker itself, nobody else",
                         {arg_equals(0, self), arg_equals(1, self), arg_equals(2, SIGABRT)}));

    add_sanitizer_runtime(p);
    return p;
}

std::vector<std::string> worker_allowed_syscalls() {
    std::vector<std::string> names;
    for (const SyscallRule& rule : worker_seccomp_policy(static_cast<int>(::getpid()))) {
        if (rule.fail_errno == 0) names.emplace_back(rule.name);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

int apply_worker_seccomp() {
    return apply_seccomp_policy(worker_seccomp_policy(static_cast<int>(::getpid())));
}

}  // namespace proxy
