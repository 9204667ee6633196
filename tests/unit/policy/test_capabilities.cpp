// The capability sets as data, and what the kernel makes of the parent's set:
// the parent itself keeps only CAP_KILL effective, and a worker it execs under
// no_new_privs receives exactly the kept set (what its setup needs), no more.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "policy/capabilities.hpp"
#include "tests/unit/policy/seccomp_child.hpp"

namespace {

std::uint64_t mask_of(bool effective_only) {
    std::uint64_t mask = 0;
    for (const proxy::CapabilityGrant& g : proxy::parent_capabilities()) {
        if (!effective_only || g.effective) mask |= std::uint64_t{1} << g.capability;
    }
    return mask;
}

// Parses "CapEff:\t0000000000000020" lines of a /proc/<pid>/status text.
std::map<std::string, std::uint64_t> capability_lines(const std::string& status) {
    std::map<std::string, std::uint64_t> caps;
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Cap", 0) != 0) continue;
        const auto colon = line.find(':');
        caps[line.substr(0, colon)] = std::stoull(line.substr(colon + 1), nullptr, 16);
    }
    return caps;
}

// Runs `setup` in a child, then execs /bin/cat /proc/self/status (under
// no_new_privs) and returns what it printed: the capabilities an exec'd
// process gets.
template <class Setup>
std::string status_after_exec(Setup setup, int& wait_status) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    wait_status = proxy::test::run_in_child([&]() -> int {
        ::close(out[0]);
        if (!setup()) return 40;
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 41;
        if (::dup2(out[1], STDOUT_FILENO) != STDOUT_FILENO) return 42;
        ::execl("/bin/cat", "cat", "/proc/self/status", static_cast<char*>(nullptr));
        return 43;
    });
    ::close(out[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, std::size_t(n));
    ::close(out[0]);
    return text;
}

}  // namespace

TEST_CASE("capability sets: the worker keeps none, the parent a short list with reasons") {
    CHECK(proxy::worker_capabilities().empty());
    std::map<int, bool> parent;
    for (const proxy::CapabilityGrant& g : proxy::parent_capabilities()) {
        parent[g.capability] = g.effective;
        CHECK_MESSAGE(std::string(g.reason).size() > 10, (std::string(g.name) + " needs a reason"));
    }
    CHECK(parent.size() == 5);
    CHECK(parent.at(CAP_KILL) == true);
    for (int cap : {CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_SETPCAP}) {
        CHECK_MESSAGE(parent.at(cap) == false, "only respawned workers use capability ", cap);
    }
    for (int cap : {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                    CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_MODULE, CAP_FOWNER, CAP_CHOWN}) {
        CHECK(parent.count(cap) == 0);
    }
}

TEST_CASE("parent capabilities: applied as data; an exec'd worker gets exactly the kept set") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root");
        return;
    }
    // In the parent itself.
    int status = 0;
    const std::string own = status_after_exec(
        [] {
            std::string error;
            if (!proxy::apply_parent_capabilities(false, error)) return false;
            // The parent's own sets, checked here: a mismatch fails the child.
            __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
            __user_cap_data_struct data[2]{};
            if (::syscall(SYS_capget, &header, data) != 0) return false;
            const std::uint64_t eff = data[0].effective | std::uint64_t{data[1].effective} << 32;
            const std::uint64_t prm = data[0].permitted | std::uint64_t{data[1].permitted} << 32;
            return eff == mask_of(true) && prm == mask_of(false);
        },
        status);
    REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), proxy::test::describe(status));
    const auto caps = capability_lines(own);
    REQUIRE(caps.count("CapPrm") == 1);
    CHECK(caps.at("CapPrm") == mask_of(false));
    CHECK(caps.at("CapEff") == mask_of(false));  // root exec: effective = permitted
    CHECK(caps.at("CapBnd") == mask_of(false));
    CHECK(caps.at("CapInh") == 0);
    CHECK(caps.at("CapAmb") == 0);
}

TEST_CASE("parent capabilities, not root: the workers' setup set passed on as ambient") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root (to become another user with capabilities)");
        return;
    }
    int status = 0;
    const std::string own = status_after_exec(
        [] {
            // As a unit with User= and AmbientCapabilities= starts the parent:
            // a non-root uid holding the parent's capabilities.
            if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return false;
            if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
                return false;
            // The uid change emptied the effective set; an exec with the
            // ambient set would have filled it.
            __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
            __user_cap_data_struct data[2]{};
            if (::syscall(SYS_capget, &header, data) != 0) return false;
            for (auto& d : data) d.effective = d.permitted;
            if (::syscall(SYS_capset, &header, data) != 0) return false;
            if (proxy::worker_setup_privilege(false) != proxy::WorkerSetupPrivilege::capabilities)
                return false;
            std::string error;
            return proxy::pass_setup_capabilities_to_workers(error) &&
                   proxy::apply_parent_capabilities(true, error);
        },
        status);
    REQUIRE_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), proxy::test::describe(status));
    // A non-root exec keeps the ambient set only: the worker's setup set,
    // without CAP_KILL, effective so that the worker can use it at once.
    const std::uint64_t setup = mask_of(false) & ~mask_of(true);
    const auto caps = capability_lines(own);
    REQUIRE(caps.count("CapAmb") == 1);
    CHECK(caps.at("CapAmb") == setup);
    CHECK(caps.at("CapPrm") == setup);
    CHECK(caps.at("CapEff") == setup);
    CHECK(caps.at("CapInh") == setup);
    CHECK(caps.at("CapBnd") == mask_of(false));
}
