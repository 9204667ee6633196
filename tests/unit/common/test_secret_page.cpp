#include <doctest/doctest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "common/secret_page.hpp"
#include "tests/unit/support/key_pages.hpp"

using proxy::KeyPage;

namespace {

using proxy::test::make_page;

void fill(KeyPage& page, std::string_view value) {
    auto bytes = page.writable();
    REQUIRE(bytes.size() >= value.size());
    std::memcpy(bytes.data(), value.data(), value.size());
    page.set_length(value.size());
}

// The smaps block of the mapping that starts at `addr`: "Locked:" and
// "VmFlags:" (dd = MADV_DONTDUMP, wf = MADV_WIPEONFORK) of exactly our page.
struct SmapsInfo {
    bool found = false;
    long locked_kb = -1;
    std::string vm_flags;
};

SmapsInfo smaps_for(const void* addr) {
    char start[32];
    std::snprintf(start, sizeof start, "%lx-", reinterpret_cast<unsigned long>(addr));
    std::ifstream in("/proc/self/smaps");
    SmapsInfo info;
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        // Mapping headers start "lo-hi perms ..."; field lines start "Name:".
        const std::string first = line.substr(0, line.find(' '));
        const bool header = !first.empty() && first.back() != ':';
        if (header) {
            if (inside) break;
            inside = line.rfind(start, 0) == 0;
            info.found = info.found || inside;
            continue;
        }
        if (!inside) continue;
        if (line.rfind("Locked:", 0) == 0) info.locked_kb = std::stol(line.substr(7));
        if (line.rfind("VmFlags:", 0) == 0) info.vm_flags = line.substr(8);
    }
    return info;
}

bool has_flag(const std::string& flags, const char* flag) {
    return (" " + flags + " ").find(std::string(" ") + flag + " ") != std::string::npos;
}

using proxy::test::all_zero;

}  // namespace

TEST_CASE("KeyPage: one page, locked, not dumped, wiped on fork") {
    auto page = make_page();
    CHECK(page.size() == static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
    const void* addr = page.writable().data();
    REQUIRE(addr != nullptr);
    auto info = smaps_for(addr);
    REQUIRE(info.found);
    CHECK(info.locked_kb * 1024 >= static_cast<long>(page.size()));
    CHECK(has_flag(info.vm_flags, "lo"));
    CHECK(has_flag(info.vm_flags, "dd"));
    CHECK(has_flag(info.vm_flags, "wf"));
    // mincore: resident (mlock faulted it in).
    unsigned char vec = 0;
    REQUIRE(mincore(const_cast<void*>(addr), page.size(), &vec) == 0);
    CHECK((vec & 1) == 1);
}

TEST_CASE("KeyPage: header_value is the prefix written by intake") {
    auto page = make_page();
    CHECK(page.header_value().empty());
    fill(page, "Bearer sk-test-abc123");
    CHECK(page.header_value() == "Bearer sk-test-abc123");
    CHECK(page.length() == 21);
    page.set_length(page.size() + 10);  // clamped to the page
    CHECK(page.length() == page.size());
}

TEST_CASE("KeyPage: seal makes writes fault, reads still work") {
    auto page = make_page();
    fill(page, "Bearer sk-test-abc123");
    char* raw = page.writable().data();
    REQUIRE(page.seal());
    CHECK(page.sealed());
    CHECK(page.writable().empty());
    CHECK(page.header_value() == "Bearer sk-test-abc123");

    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // WIPEONFORK: the child sees zeros, not the key; the page stays read-only.
        if (raw[0] != 0) _exit(3);
        std::signal(SIGSEGV, SIG_DFL);  // doctest's crash handler would report the fault
        *reinterpret_cast<volatile char*>(raw) = 'X';
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGSEGV);
    if (WIFEXITED(status)) CHECK_MESSAGE(false, "child exited with ", WEXITSTATUS(status));
}

TEST_CASE("KeyPage: an unsealed page is wiped in a forked child") {
    auto page = make_page();
    fill(page, "Bearer sk-test-abc123");
    const char* raw = page.header_value().data();
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        for (std::size_t i = 0; i < 21; ++i) {
            if (raw[i] != 0) _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(page.header_value() == "Bearer sk-test-abc123");  // the parent keeps it
}

TEST_CASE("KeyPage: wipe zeroes the page, sealed or not") {
    auto page = make_page();
    fill(page, "Bearer sk-test-abc123");
    page.wipe();
    CHECK(page.header_value().empty());
    CHECK(all_zero(page.writable()));

    fill(page, "Bearer sk-test-abc123");
    REQUIRE(page.seal());
    page.wipe();
    CHECK(page.sealed());  // protection is kept
    CHECK(page.header_value().empty());
    const char* raw = page.header_value().data();
    CHECK(std::all_of(raw, raw + page.size(), [](char c) { return c == 0; }));
}

TEST_CASE("KeyPage: move transfers ownership; destruction unmaps") {
    void* addr = nullptr;
    std::size_t size = 0;
    {
        auto page = make_page();
        fill(page, "Bearer sk-test-abc123");
        addr = page.writable().data();
        size = page.size();
        KeyPage moved = std::move(page);
        CHECK(page.writable().empty());  // NOLINT(bugprone-use-after-move): testing it
        CHECK(page.header_value().empty());
        CHECK(moved.header_value() == "Bearer sk-test-abc123");

        auto other = make_page();
        void* other_addr = other.writable().data();
        other = std::move(moved);  // the old `other` page is released
        CHECK(other.header_value() == "Bearer sk-test-abc123");
        unsigned char vec = 0;
        CHECK(mincore(other_addr, size, &vec) == -1);
        CHECK(errno == ENOMEM);
    }
    unsigned char vec = 0;
    CHECK(mincore(addr, size, &vec) == -1);
    CHECK(errno == ENOMEM);
}
