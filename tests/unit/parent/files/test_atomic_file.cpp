// Whole-file replacement (--server-info, --state-file): unpredictable
// temporaries, never one that exists, nothing left behind.
#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "parent/files/atomic_file.hpp"
#include "tests/unit/support/temp_files.hpp"

using namespace proxy;

namespace {

using proxy::test::TempDir;

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("atomic file: temporary names are random and shaped as documented") {
    const std::string a = temporary_name("usage.state");
    const std::string b = temporary_name("usage.state");
    CHECK(a != b);
    REQUIRE(a.size() == std::string("usage.state.tmp.").size() + 16);
    CHECK(a.rfind("usage.state.tmp.", 0) == 0);
    CHECK(a.find_first_not_of("0123456789abcdef", 16) == std::string::npos);
}

TEST_CASE("atomic file: replaced whole, with its mode, nothing left behind") {
    TempDir d("atomic-file");
    const std::string path = d.path + "/info.json";
    const mode_t old = ::umask(077);
    REQUIRE(replace_file(path, "one\n", 0644));
    REQUIRE(replace_file(path, "two\n", 0644));
    ::umask(old);
    CHECK(read_all(path) == "two\n");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    CHECK(d.names() == std::set<std::string>{"info.json"});
}

TEST_CASE("atomic file: a link planted at the old fixed temporary names is never written") {
    TempDir d("atomic-file");
    const std::string victim = d.path + "/victim";
    std::ofstream(victim) << "precious\n";
    const std::string path = d.path + "/usage.state";
    // The names the proxy used before: "<file>.tmp" and "<file>.tmp.<pid>".
    for (const std::string& planted :
         {path + ".tmp", path + ".tmp." + std::to_string(::getpid())}) {
        REQUIRE(::symlink(victim.c_str(), planted.c_str()) == 0);
    }
    REQUIRE(replace_file(path, "data\n", 0600));
    CHECK(read_all(victim) == "precious\n");
    CHECK(read_all(path) == "data\n");
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(d.names() == std::set<std::string>{"victim", "usage.state", "usage.state.tmp",
                                             "usage.state.tmp." + std::to_string(::getpid())});
}

TEST_CASE("atomic file: a failed replacement removes its temporary") {
    TempDir d("atomic-file");
    const std::string path = d.path + "/target";
    REQUIRE(::mkdir(path.c_str(), 0700) == 0);  // rename(2) over a directory fails
    auto failed = replace_file(path, "x\n", 0600);
    CHECK_FALSE(failed);
    CHECK(failed.error().rfind("cannot write " + path + ": ", 0) == 0);
    CHECK(d.names() == std::set<std::string>{"target"});
    failed = replace_file(d.path + "/missing-dir/file", "x\n", 0600);
    CHECK_FALSE(failed);
    CHECK(failed.error() ==
          "cannot write " + d.path + "/missing-dir/file: No such file or directory");
}
