// Test support: a fresh directory or file under /tmp, removed at the end of
// the scope. Shared so that the unit tests, built as one unity build in CI,
// do not each define their own.
#pragma once

#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace proxy::test {

struct TempDir {
    std::string path;
    explicit TempDir(std::string_view prefix = "proxy-test") {
        std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // The names in the directory, without "." and "..".
    std::set<std::string> names() const {
        std::set<std::string> out;
        DIR* dir = ::opendir(path.c_str());
        REQUIRE(dir != nullptr);
        while (const dirent* e = ::readdir(dir)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") out.insert(n);
        }
        ::closedir(dir);
        return out;
    }
    // An empty file `name` with `mode`; its path.
    std::string file(const std::string& name, mode_t mode = 0644) const {
        const std::string p = path + "/" + name;
        const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        ::close(fd);
        REQUIRE(::chmod(p.c_str(), mode) == 0);
        return p;
    }
};

// A file holding `content` under $TMPDIR (or /tmp), unlinked at the end.
struct TempFile {
    std::string path;
    explicit TempFile(std::string_view content, std::string_view prefix = "proxy-test") {
        const char* dir = std::getenv("TMPDIR");
        path = std::string(dir != nullptr ? dir : "/tmp") + "/" + std::string(prefix) + "-XXXXXX";
        const int fd = ::mkstemp(path.data());
        REQUIRE(fd >= 0);
        const bool written =
            ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
        ::close(fd);
        REQUIRE(written);
    }
    ~TempFile() { ::unlink(path.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
};

}  // namespace proxy::test
