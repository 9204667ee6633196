// harden_worker() in forked children, checked from outside through
// /proc/<pid>/ while the sandboxed child waits on a pipe (inside the chroot it
// cannot see /proc itself); a respawned worker sandboxing itself under the
// parent's inherited filter; prepare_chroot_dir().
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "common/process_start.hpp"
#include "parent/parent_sandbox.hpp"
#include "parent/workers/chroot_dir.hpp"
#include "policy/seccomp_policy.hpp"
#include "tests/unit/policy/seccomp_child.hpp"
#include "tests/unit/support/temp_files.hpp"
#include "worker/sandbox.hpp"

namespace {

using proxy::test::describe;
using proxy::test::run_in_child;

constexpr const char* kRespawnVariable = "PROXY_TEST_RESPAWNED_WORKER";
constexpr int kReportFd = 3;

// The unit test binary exec'd by a stand-in parent (see the respawn test)
// plays a respawned worker: this runs before main(), under the parent's
// inherited filter, and does what worker mode does before its loop.
int play_respawned_worker(const char* chroot_dir) {
    proxy::early_process_hardening(environ);
    proxy::install_seccomp_trap_reporter();
    event_base* base = event_base_new();
    if (base == nullptr) return 60;
    event* sigterm = evsignal_new(
        base, SIGTERM, [](evutil_socket_t, short, void*) {}, nullptr);
    if (sigterm == nullptr || event_add(sigterm, nullptr) != 0) return 61;
    const std::string skipped = proxy::harden_worker({"nobody", chroot_dir, {kReportFd}});
    if (event_base_loop(base, EVLOOP_NONBLOCK) < 0) return 62;
    if (::write(kReportFd, "ok", 2) != 2) return 63;
    return 0;
}

[[maybe_unused]] const bool g_respawned = [] {
    if (const char* dir = std::getenv(kRespawnVariable)) ::_exit(play_respawned_worker(dir));
    return false;
}();

std::map<std::string, std::string> proc_status(pid_t pid) {
    std::map<std::string, std::string> fields;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        fields[line.substr(0, colon)] = value;
    }
    return fields;
}

// "Max processes   0   0   processes" -> "0 0"
std::string proc_limit(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name, 0) == 0) {
            std::istringstream rest(line.substr(name.size()));
            std::string soft, hard;
            rest >> soft >> hard;
            return soft + " " + hard;
        }
    }
    return "?";
}

bool stderr_is_regular_file() {
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

using proxy::test::TempDir;

// A child that runs `setup` then harden_worker, reports `skipped` on a pipe and
// waits until the test has looked at it.
struct SandboxedChild {
    pid_t pid = -1;
    std::string skipped;
    int go_w = -1;
    bool ready = false;

    template <class Setup>
    SandboxedChild(Setup setup, const std::string& chroot_dir, int leaked_fd) {
        int ready_pipe[2], go_pipe[2];
        REQUIRE(::pipe2(ready_pipe, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(go_pipe, O_CLOEXEC) == 0);
        pid = ::fork();
        if (pid == 0) {
            for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
            ::close(ready_pipe[0]);
            ::close(go_pipe[1]);
            if (!setup()) ::_exit(70);
            const std::string note =
                proxy::harden_worker({"nobody", chroot_dir, {ready_pipe[1], go_pipe[0]}});
            const std::string msg = "R" + note;
            if (::write(ready_pipe[1], msg.data(), msg.size()) < 0) ::_exit(71);
            char byte;
            if (::read(go_pipe[0], &byte, 1) != 1) ::_exit(72);
            ::_exit(0);
        }
        ::close(ready_pipe[1]);
        ::close(go_pipe[0]);
        if (leaked_fd >= 0) ::close(leaked_fd);
        go_w = go_pipe[1];
        char buf[512];
        const ssize_t n = ::read(ready_pipe[0], buf, sizeof buf);
        ::close(ready_pipe[0]);
        ready = n >= 1 && buf[0] == 'R';
        if (ready) skipped.assign(buf + 1, static_cast<std::size_t>(n - 1));
    }

    int finish() {
        (void)!::write(go_w, "g", 1);
        ::close(go_w);
        int status = 0;
        ::waitpid(pid, &status, 0);
        return status;
    }
};

}  // namespace

TEST_CASE("harden_worker as root: chroot, nobody, no capabilities, seccomp") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root (chroot and user switch)");
        return;
    }
    const passwd* nobody = ::getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    const std::string uid = std::to_string(nobody->pw_uid);
    TempDir dir("proxy-sandbox");
    REQUIRE(!dir.path.empty());
    std::string error;
    REQUIRE_MESSAGE(proxy::prepare_chroot_dir(dir.path, error), error);

    const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: "inherited"
    REQUIRE(leaked >= 0);
    SandboxedChild child([] { return true; }, dir.path, leaked);
    REQUIRE_MESSAGE(child.ready, "the child did not get through harden_worker");
    CHECK(child.skipped.find("not started as root") == std::string::npos);

    const auto status = proc_status(child.pid);
    CHECK(status.at("Uid") == uid + "\t" + uid + "\t" + uid + "\t" + uid);
    CHECK(status.at("Gid").rfind(std::to_string(nobody->pw_gid) + "\t", 0) == 0);
    CHECK(status.at("Groups").empty());
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
        CHECK_MESSAGE(status.at(set) == "0000000000000000", set);
    }
    CHECK(status.at("NoNewPrivs") == "1");
    CHECK(status.at("Seccomp") == "2");

    const std::string proc = "/proc/" + std::to_string(child.pid);
    char root[4096] = {};
    REQUIRE(::readlink((proc + "/root").c_str(), root, sizeof root - 1) > 0);
    CHECK(std::string(root) == dir.path);
    struct stat st {};
    CHECK(::access((proc + "/fd/" + std::to_string(leaked)).c_str(), F_OK) != 0);
    // Not dumpable: the kernel makes /proc/<pid>/ files root's, not nobody's.
    REQUIRE(::stat((proc + "/status").c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK(proc_limit(child.pid, "Max processes") == "0 0");
    CHECK(proc_limit(child.pid, "Max core file size") == "0 0");
    if (stderr_is_regular_file()) {
        CHECK(child.skipped.find("RLIMIT_FSIZE") != std::string::npos);
    } else {
        CHECK(proc_limit(child.pid, "Max file size") == "0 0");
    }

    const int end = child.finish();
    CHECK_MESSAGE((WIFEXITED(end) && WEXITSTATUS(end) == 0), describe(end));
}

TEST_CASE("harden_worker not as root: says what it skipped, still seccomp and no_new_privs") {
    const passwd* nobody = ::getpwnam("nobody");
    REQUIRE(nobody != nullptr);
    const uid_t uid = nobody->pw_uid;
    const gid_t gid = nobody->pw_gid;
    auto become_unprivileged = [uid, gid] {
        if (::geteuid() != 0) return true;
        return ::setgroups(0, nullptr) == 0 && ::setresgid(gid, gid, gid) == 0 &&
               ::setresuid(uid, uid, uid) == 0;
    };
    SandboxedChild child(become_unprivileged, "/nonexistent", -1);
    REQUIRE_MESSAGE(child.ready, "the child did not get through harden_worker");
    CHECK(child.skipped.find("not started as root") != std::string::npos);
    const auto status = proc_status(child.pid);
    CHECK(status.at("CapEff") == "0000000000000000");
    CHECK(status.at("CapPrm") == "0000000000000000");
    CHECK(status.at("NoNewPrivs") == "1");
    CHECK(status.at("Seccomp") == "2");
    const int end = child.finish();
    CHECK_MESSAGE((WIFEXITED(end) && WEXITSTATUS(end) == 0), describe(end));
}

TEST_CASE("a respawned worker sandboxes itself under the parent's inherited filter") {
    // Stand-in parent: drop to the parent's capabilities, apply the parent
    // sandbox, then respawn "a worker" (this test binary, which plays one
    // before main) by fork + execveat(exe_fd, "", ..., AT_EMPTY_PATH).
    TempDir dir("proxy-sandbox");
    REQUIRE(!dir.path.empty());
    if (::geteuid() == 0) {
        std::string error;
        REQUIRE_MESSAGE(proxy::prepare_chroot_dir(dir.path, error), error);
    }
    int report[2];
    REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    const std::string variable = std::string(kRespawnVariable) + "=" + dir.path;

    const int status = run_in_child([&]() -> int {
        ::close(report[0]);
        // This test binary plays the worker executable.
        const int exe_fd =
            ::fcntl(::open("/proc/self/exe", O_PATH | O_CLOEXEC), F_DUPFD_CLOEXEC, 100);
        if (exe_fd < 0) return 94;
        (void)proxy::drop_parent_privileges();
        proxy::apply_parent_sandbox(exe_fd);
        const pid_t worker = ::fork();
        if (worker == 0) {
            if (report[1] == kReportFd) {
                if (::fcntl(kReportFd, F_SETFD, 0) != 0) ::_exit(90);
            } else if (::dup2(report[1], kReportFd) != kReportFd) {
                ::_exit(91);
            }
            char* argv[] = {const_cast<char*>("unit_tests"), nullptr};
            char* envp[] = {const_cast<char*>(variable.c_str()), nullptr};
            ::syscall(SYS_execveat, exe_fd, "", argv, envp, AT_EMPTY_PATH);
            ::_exit(92);
        }
        int worker_status = 0;
        if (::waitpid(worker, &worker_status, 0) != worker) return 93;
        if (WIFSIGNALED(worker_status)) return 100 + WTERMSIG(worker_status);
        return WEXITSTATUS(worker_status);
    });
    ::close(report[1]);
    char buf[8] = {};
    const ssize_t n = ::read(report[0], buf, sizeof buf);
    ::close(report[0]);
    INFO("worker status: exit code, or 100 + signal (", 100 + SIGSYS, " is SIGSYS)");
    CHECK_MESSAGE((WIFEXITED(status) && WEXITSTATUS(status) == 0), describe(status));
    CHECK(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) == "ok");
}

TEST_CASE("prepare_chroot_dir creates a safe empty directory and refuses unsafe ones") {
    if (::geteuid() != 0) {
        MESSAGE("skipped: needs root (the directory must be root-owned)");
        return;
    }
    TempDir base("proxy-sandbox");
    REQUIRE(!base.path.empty());
    std::string error;

    const std::string nested = base.path + "/run/proxy/empty";
    REQUIRE_MESSAGE(proxy::prepare_chroot_dir(nested, error), error);
    struct stat st {};
    REQUIRE(::stat(nested.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    CHECK(st.st_uid == 0);
    CHECK(proxy::prepare_chroot_dir(nested, error));  // idempotent

    CHECK_FALSE(proxy::prepare_chroot_dir("relative/dir", error));
    CHECK_FALSE(proxy::prepare_chroot_dir("/", error));

    const std::string full = base.path + "/full";
    REQUIRE(::mkdir(full.c_str(), 0755) == 0);
    std::ofstream(full + "/file") << "x";
    CHECK_FALSE(proxy::prepare_chroot_dir(full, error));
    CHECK(error.find("empty") != std::string::npos);

    const std::string writable = base.path + "/writable";
    REQUIRE(::mkdir(writable.c_str(), 0755) == 0);
    REQUIRE(::chmod(writable.c_str(), 0775) == 0);
    CHECK_FALSE(proxy::prepare_chroot_dir(writable, error));

    const std::string foreign = base.path + "/foreign";
    REQUIRE(::mkdir(foreign.c_str(), 0755) == 0);
    REQUIRE(::chown(foreign.c_str(), 65534, 65534) == 0);
    CHECK_FALSE(proxy::prepare_chroot_dir(foreign, error));

    const std::string link = base.path + "/link";
    REQUIRE(::symlink(nested.c_str(), link.c_str()) == 0);
    CHECK_FALSE(proxy::prepare_chroot_dir(link, error));

    const std::string open_parent = base.path + "/open";
    REQUIRE(::mkdir(open_parent.c_str(), 0755) == 0);
    REQUIRE(::chmod(open_parent.c_str(), 0777) == 0);
    CHECK_FALSE(proxy::prepare_chroot_dir(open_parent + "/empty", error));
    CHECK(error.find("bad ownership") != std::string::npos);
}
