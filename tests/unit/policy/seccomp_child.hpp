// Test support: run code in a forked child and tell how it ended. Children
// leave with _exit() so nothing of doctest runs in them.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/exit_codes.hpp"
#include "policy/seccomp_policy.hpp"

namespace proxy::test {

// Runs body() in a child; returns the raw wait status.
template <class Body>
int run_in_child(Body body) {
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        // doctest's crash handlers must not run in the child.
        for (int sig = 1; sig < NSIG; ++sig) {
            if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
        }
        ::_exit(body());
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
    }
    return status;
}

// How a seccomp violation ends: killed by SIGSYS, or in the trap build the
// reporter's exit status.
inline bool died_of_seccomp(int status) {
    if (seccomp_violations_trap()) {
        return WIFEXITED(status) && WEXITSTATUS(status) == exit_code::sandbox_failed;
    }
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

inline std::string describe(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// Runs `call` in a child after `apply` (a filter loader returning 0 or
// -errno). The child writes one byte to a pipe right before `call`, so a
// child that died earlier (filter failed to load, or killed by setup) is not
// mistaken for one killed by the call under test. Returns the wait status;
// `reached` says whether the call was reached.
template <class Apply, class Call>
int run_after_filter(Apply apply, Call call, bool& reached) {
    int marker[2];
    if (::pipe(marker) != 0) return -1;
    const int status = run_in_child([&] {
        ::close(marker[0]);
        if (apply() != 0) return 100;
        if (::write(marker[1], "x", 1) != 1) return 101;
        return call();
    });
    ::close(marker[1]);
    char byte = 0;
    reached = ::read(marker[0], &byte, 1) == 1;
    ::close(marker[0]);
    return status;
}

}  // namespace proxy::test
