// Who may change the files the parent trusts (--policy, --state-file, the
// --listen-unix directory): the rules, and the walk over a real path.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "parent/files/trusted_path.hpp"
#include "tests/unit/support/temp_files.hpp"

using namespace proxy;

namespace {

struct stat make_stat(mode_t mode, uid_t uid) {
    struct stat st {};
    st.st_mode = mode;
    st.st_uid = uid;
    return st;
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

using proxy::test::TempDir;

// Why the file was refused; "" when it was opened or is missing.
std::string open_error(const std::string& path, bool follow = true) {
    const auto fd = open_trusted_file(path, follow);
    return fd ? "" : fd.error();
}

}  // namespace

TEST_CASE("trusted path: a file must be regular, ours or root's, and writable by no one else") {
    CHECK(file_trust_problem(make_stat(S_IFREG | 0644, 0), 0) == "");
    CHECK(file_trust_problem(make_stat(S_IFREG | 0600, 998), 998) == "");
    CHECK(file_trust_problem(make_stat(S_IFREG | 0644, 0), 998) == "");  // root's: fine
    CHECK(file_trust_problem(make_stat(S_IFREG | 0644, 1001), 998) == "owned by uid 1001");
    CHECK(file_trust_problem(make_stat(S_IFREG | 0644, 1001), 0) == "owned by uid 1001");
    CHECK(file_trust_problem(make_stat(S_IFREG | 0664, 0), 0) ==
          "writable by its group (mode 0664)");
    CHECK(file_trust_problem(make_stat(S_IFREG | 0646, 0), 0) ==
          "writable by everyone (mode 0646)");
    CHECK(file_trust_problem(make_stat(S_IFIFO | 0600, 0), 0) == "not a regular file");
    CHECK(file_trust_problem(make_stat(S_IFDIR | 0755, 0), 0) == "not a regular file");
}

TEST_CASE("trusted path: a directory may be written by others only when sticky") {
    CHECK(directory_trust_problem(make_stat(S_IFDIR | 0755, 0), 0) == "");
    CHECK(directory_trust_problem(make_stat(S_IFDIR | 01777, 0), 998) == "");  // /tmp
    CHECK(directory_trust_problem(make_stat(S_IFDIR | 0700, 998), 998) == "");
    CHECK(directory_trust_problem(make_stat(S_IFDIR | 0777, 0), 0) ==
          "a directory writable by everyone, not sticky (mode 0777)");
    CHECK(directory_trust_problem(make_stat(S_IFDIR | 0775, 0), 0) ==
          "a directory writable by its group, not sticky (mode 0775)");
    CHECK(directory_trust_problem(make_stat(S_IFDIR | 01777, 1001), 0) ==
          "a directory owned by uid 1001");
    CHECK(directory_trust_problem(make_stat(S_IFREG | 0755, 0), 0) == "not a directory");
    CHECK(symlink_trust_problem(make_stat(S_IFLNK | 0777, 0), 998) == "");
    CHECK(symlink_trust_problem(make_stat(S_IFLNK | 0777, 1001), 998) ==
          "a symbolic link owned by uid 1001");
}

TEST_CASE("trusted path: the walk over a real path") {
    TempDir d("trusted-path");
    const std::string f = d.file("policy.toml");
    {
        const auto fd = open_trusted_file(f, true);
        REQUIRE(fd);
        CHECK(fd->get() >= 0);
    }
    SUBCASE("group or world writable file") {
        REQUIRE(::chmod(f.c_str(), 0664) == 0);
        const std::string e = open_error(f);
        CHECK(e.rfind(f + ": writable by its group (mode 0664); only ", 0) == 0);
        REQUIRE(::chmod(f.c_str(), 0666) == 0);
        CHECK(contains(open_error(f), "writable by everyone"));
    }
    SUBCASE("a directory on the way that others can write, unless sticky") {
        REQUIRE(::chmod(d.path.c_str(), 0777) == 0);
        CHECK(open_error(f) == f + ": " + d.path +
                                   " on its path is a directory writable by everyone, not "
                                   "sticky (mode 0777); only root may be able to change it or "
                                   "where it leads");
        REQUIRE(::chmod(d.path.c_str(), 01777) == 0);
        CHECK(open_error(f) == "");
        REQUIRE(::chmod(d.path.c_str(), 0770) == 0);
        CHECK(contains(open_error(f), "writable by its group, not sticky"));
    }
    SUBCASE("missing: no fd, no error; a missing directory: an error") {
        const auto missing = open_trusted_file(d.path + "/nope.toml", true);
        REQUIRE(missing);
        CHECK_FALSE(*missing);
        CHECK(open_error(d.path + "/nodir/nope.toml") ==
              d.path + "/nodir/nope.toml: No such file or directory");
        auto parent = open_trusted_parent(d.path + "/sock", false);
        REQUIRE(parent);
        CHECK(parent->name == "sock");
    }
    SUBCASE("not a regular file") {
        REQUIRE(::mkfifo((d.path + "/fifo").c_str(), 0600) == 0);
        CHECK(contains(open_error(d.path + "/fifo"), "not a regular file"));
        CHECK(contains(open_error(d.path), "not a regular file"));
    }
    SUBCASE("symbolic links: followed and checked, or refused at the end") {
        REQUIRE(::symlink(f.c_str(), (d.path + "/link.toml").c_str()) == 0);
        CHECK(open_error(d.path + "/link.toml") == "");
        CHECK(open_error(d.path + "/link.toml", false) ==
              d.path + "/link.toml: a symbolic link; name the file itself");
        REQUIRE(::mkdir((d.path + "/real").c_str(), 0755) == 0);
        d.file("real/p.toml");
        REQUIRE(::symlink("real", (d.path + "/dirlink").c_str()) == 0);
        CHECK(open_error(d.path + "/dirlink/p.toml") == "");
        CHECK(open_error(d.path + "/real/../real/./p.toml") == "");
        // A link to a file that others may change leads to a refusal.
        REQUIRE(::chmod((d.path + "/real/p.toml").c_str(), 0666) == 0);
        REQUIRE(::symlink("real/p.toml", (d.path + "/bad.toml").c_str()) == 0);
        CHECK(contains(open_error(d.path + "/bad.toml"), "writable by everyone"));
        REQUIRE(::symlink("loop", (d.path + "/loop").c_str()) == 0);
        CHECK(contains(open_error(d.path + "/loop"), "Too many levels of symbolic links"));
    }
    SUBCASE("relative paths: the working directory and every one above it") {
        char cwd[4096];
        REQUIRE(::getcwd(cwd, sizeof cwd) != nullptr);
        REQUIRE(::chdir(d.path.c_str()) == 0);
        CHECK(open_error("policy.toml") == "");
        REQUIRE(::chmod(d.path.c_str(), 0777) == 0);
        CHECK(contains(open_error("policy.toml"),
                       "policy.toml: . on its path is a directory writable by everyone"));
        REQUIRE(::chdir(cwd) == 0);
    }
    if (::geteuid() == 0) {
        SUBCASE("owned by another user: the file, a directory, a link") {
            REQUIRE(::chown(f.c_str(), 12345, 12345) == 0);
            CHECK(contains(open_error(f), f + ": owned by uid 12345; only root may"));
            REQUIRE(::chown(f.c_str(), 0, 0) == 0);
            REQUIRE(::mkdir((d.path + "/theirs").c_str(), 0755) == 0);
            d.file("theirs/p.toml");
            REQUIRE(::chown((d.path + "/theirs").c_str(), 12345, 12345) == 0);
            CHECK(contains(open_error(d.path + "/theirs/p.toml"),
                           "/theirs on its path is a directory owned by uid 12345"));
            REQUIRE(::symlink(f.c_str(), (d.path + "/their-link").c_str()) == 0);
            REQUIRE(::lchown((d.path + "/their-link").c_str(), 12345, 12345) == 0);
            CHECK(contains(open_error(d.path + "/their-link"),
                           "/their-link: a symbolic link owned by uid 12345; only root"));
        }
    }
}

TEST_CASE("trusted path: the packaged layout, read by the service's own user") {
    if (::geteuid() != 0) return;  // switching users needs root
    constexpr uid_t kService = 12345;
    TempDir d("trusted-path");
    // /etc/codex-responses-api-proxy: root's, searchable by the service's
    // group; policy.toml root's. /var/lib/codex-responses-api-proxy: the
    // service's, mode 0700, and its usage.state.
    REQUIRE(::chown(d.path.c_str(), 0, kService) == 0);
    REQUIRE(::chmod(d.path.c_str(), 0750) == 0);
    const std::string policy = d.file("policy.toml", 0644);
    REQUIRE(::mkdir((d.path + "/state").c_str(), 0700) == 0);
    const std::string state = d.file("state/usage.state", 0600);
    const std::string other = d.file("state/other.state", 0600);
    REQUIRE(::chown((d.path + "/state").c_str(), kService, kService) == 0);
    REQUIRE(::chown(state.c_str(), kService, kService) == 0);
    REQUIRE(::chown(other.c_str(), kService + 1, kService) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(kService, kService, kService) != 0 ||
            ::setresuid(kService, kService, kService) != 0)
            ::_exit(10);
        const auto policy_fd = open_trusted_file(policy, true);
        if (!policy_fd || !*policy_fd) ::_exit(1);
        const auto state_fd = open_trusted_file(state, false);
        if (!state_fd || !*state_fd) ::_exit(2);
        const auto other_fd = open_trusted_file(other, false);
        if (other_fd || other_fd.error().find(
                            "owned by uid 12346; only root or the proxy's own user (uid 12345)") ==
                            std::string::npos)
            ::_exit(3);
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 1: policy refused, 2: state refused, 3: other accepted
}
