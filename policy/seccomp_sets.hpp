// Syscall sets shared by the worker's and the parent's seccomp policies
// (Chromium's syscall_sets.cc idea): each function appends one family of
// rules, each rule with a one-line reason. The composed policies are in
// seccomp_worker.cpp and seccomp_parent.cpp.
#pragma once

#include <utility>

#include "policy/seccomp_policy.hpp"

namespace proxy::seccomp_sets {

// Heap and anonymous mappings, never executable.
void add_memory(SeccompPolicy& p);
// The futex operations glibc's locks and condition variables use.
void add_futex(SeccompPolicy& p);
// Exiting, own ids, clocks, randomness: what any C++ program needs.
void add_process_basics(SeccompPolicy& p);
// libevent's signal events (installed before the sandbox, delivered after).
void add_signal_handling(SeccompPolicy& p);
// libevent's epoll backend.
void add_event_loop(SeccompPolicy& p);
// I/O on descriptors the process already holds, plus the fcntl/ioctl
// commands libevent and stdio use.
void add_descriptor_io(SeccompPolicy& p);
// Socket calls on already connected or listening sockets.
void add_connected_socket_io(SeccompPolicy& p);
// PROXY_SANITIZE builds only (does nothing otherwise): what the ASan/UBSan
// runtimes need to report an error from inside the sandbox.
void add_sanitizer_runtime(SeccompPolicy& p);

// A rule with no argument conditions.
inline SyscallRule allow(const char* name, const char* reason) {
    return {name, reason, {}, 0};
}
inline SyscallRule allow_if(const char* name, const char* reason,
                            std::vector<ArgCondition> conditions) {
    return {name, reason, std::move(conditions), 0};
}
// A probe that must fail quietly instead of killing: the library copes.
inline SyscallRule fail_with(int err, const char* name, const char* reason,
                             std::vector<ArgCondition> conditions = {}) {
    return {name, reason, std::move(conditions), err};
}

// Masks for "an int argument equals X once these flag bits are ignored".
// The upper 32 bits are part of the mask, so they must be zero.
constexpr std::uint64_t ignoring_bits(std::uint64_t bits) {
    return ~bits;
}

}  // namespace proxy::seccomp_sets
