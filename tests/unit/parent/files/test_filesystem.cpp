// The directories the parent creates for --server-info (0755, so local users
// reach the 0644 file and read the port) and --dump-dir (0700): exactly that
// mode under the process's umask 077, and nothing done to what exists.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "parent/files/filesystem.hpp"
#include "tests/unit/support/temp_files.hpp"

using namespace proxy;

namespace {

using proxy::test::TempDir;

// The umask the proxy runs with (common/process_start.cpp), for one case.
struct Umask077 {
    mode_t old = ::umask(077);
    ~Umask077() { ::umask(old); }
};

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("make_parent_directories: --server-info's new directories are 0755 under umask 077") {
    TempDir d("filesystem");
    Umask077 umask;
    REQUIRE(make_parent_directories(d.path + "/run/proxy/info.json"));
    CHECK(mode_of(d.path + "/run") == 0755);
    CHECK(mode_of(d.path + "/run/proxy") == 0755);
}

TEST_CASE("make_directories: the mode asked for, exactly; what exists is left alone") {
    TempDir d("filesystem");
    Umask077 umask;
    REQUIRE(make_directories(d.path + "/dumps/today", 0700));
    CHECK(mode_of(d.path + "/dumps") == 0700);
    CHECK(mode_of(d.path + "/dumps/today") == 0700);

    REQUIRE(::mkdir((d.path + "/kept").c_str(), 0711) == 0);
    REQUIRE(::chmod((d.path + "/kept").c_str(), 0711) == 0);
    REQUIRE(make_directories(d.path + "/kept/new", 0755));
    CHECK(mode_of(d.path + "/kept") == 0711);
    CHECK(mode_of(d.path + "/kept/new") == 0755);

    // A name that exists as a symbolic link is not made or changed through.
    REQUIRE(::mkdir((d.path + "/target").c_str(), 0700) == 0);
    REQUIRE(::symlink((d.path + "/target").c_str(), (d.path + "/link").c_str()) == 0);
    REQUIRE(make_directories(d.path + "/link", 0755));
    CHECK(mode_of(d.path + "/target") == 0700);
}
