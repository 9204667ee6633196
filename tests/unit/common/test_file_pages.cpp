// FilePages on real mappings: resident pages of a clean read-only file
// mapping are given back and come back intact on the next read, while a
// mapping that holds a written (copy-on-write) page, as RELRO does, keeps its
// data. The parser is checked on smaps text with every kind of mapping.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "common/file_pages.hpp"
#include "common/unique_fd.hpp"

using namespace proxy;

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kPages = 64;  // 256 KiB

// A temporary file of kPages pages, each page filled with its number.
struct PagedFile {
    std::string path;
    UniqueFd fd;
    PagedFile() {
        char name[] = "/tmp/file-pages-XXXXXX";
        fd.reset(::mkstemp(name));
        REQUIRE(fd);
        path = name;
        std::string page(kPage, '\0');
        for (std::size_t i = 0; i < kPages; ++i) {
            std::memset(page.data(), static_cast<int>('A' + i % 26), kPage);
            REQUIRE(::write(fd.get(), page.data(), kPage) == static_cast<ssize_t>(kPage));
        }
    }
    ~PagedFile() { ::unlink(path.c_str()); }
};

// Rss of the mapping that starts at addr, from /proc/self/smaps (KiB).
long mapping_rss_kib(const void* addr) {
    std::ifstream smaps("/proc/self/smaps");
    std::ostringstream want;
    want << std::hex << reinterpret_cast<std::uintptr_t>(addr) << '-';
    std::string line;
    bool in = false;
    while (std::getline(smaps, line)) {
        if (line.rfind(want.str(), 0) == 0)
            in = true;
        else if (in && line.rfind("Rss:", 0) == 0)
            return std::strtol(line.c_str() + 4, nullptr, 10);
    }
    return -1;
}

// Reads one byte of every page (volatile: the reads are the point).
void touch_all(const unsigned char* p) {
    const volatile unsigned char* v = p;
    for (std::size_t i = 0; i < kPages; ++i) (void)v[i * kPage];
}

bool pages_hold_file_content(const unsigned char* p) {
    for (std::size_t i = 0; i < kPages; ++i) {
        const unsigned char want = static_cast<unsigned char>('A' + i % 26);
        if (p[i * kPage] != want || p[i * kPage + kPage - 1] != want) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("file pages: smaps text picks clean, private, read-only file mappings only") {
    const char* smaps =
        "1000-3000 r--p 00000000 fe:01 11 /usr/lib/libx.so\n"  // eligible
        "Size:                  8 kB\nRss:                   8 kB\nAnonymous:             0 kB\n"
        "VmFlags: rd mr mw me sd\n"
        "3000-5000 r-xp 00002000 fe:01 11 /usr/lib/libx.so\n"  // code: eligible
        "Rss:                   4 kB\nAnonymous:             0 kB\n"
        "5000-6000 r--p 00004000 fe:01 11 /usr/lib/libx.so\n"  // RELRO: written
        "Rss:                   4 kB\nAnonymous:             4 kB\n"
        "6000-7000 rw-p 00005000 fe:01 11 /usr/lib/libx.so\n"  // .data: writable
        "Rss:                   4 kB\nAnonymous:             0 kB\n"
        "7000-8000 r--s 00000000 fe:01 12 /dev/shm/x\n"  // shared
        "Rss:                   4 kB\nAnonymous:             0 kB\n"
        "8000-9000 r--p 00000000 00:00 0 \n"  // anonymous
        "Rss:                   4 kB\nAnonymous:             4 kB\n"
        "9000-a000 r--p 00000000 00:00 0 [vvar]\n"  // kernel's
        "Rss:                   4 kB\nAnonymous:             0 kB\n"
        "a000-b000 r--p 00000000 fe:01 13 /usr/lib/liby.so\n"  // nothing resident
        "Rss:                   0 kB\nAnonymous:             0 kB\n"
        "b000-c000 r--p 00000000 fe:01 14 /usr/lib/libz.so\n"  // no Anonymous line: unknown
        "Rss:                   4 kB\n"
        "c000-e000 r-xp 00000000 fe:01 15 /usr/bin/with space (deleted)\n"  // last, no newline
        "Rss:                   8 kB\nAnonymous:             0 kB";
    const auto ranges = releasable_file_ranges(smaps);
    REQUIRE(ranges.size() == 3);
    CHECK(ranges[0].begin == 0x1000);
    CHECK(ranges[0].end == 0x3000);
    CHECK(ranges[1].begin == 0x3000);
    CHECK(ranges[1].end == 0x5000);
    CHECK(ranges[2].begin == 0xc000);
    CHECK(ranges[2].end == 0xe000);
}

TEST_CASE("file pages: malformed smaps text yields nothing, never a wrong range") {
    CHECK(releasable_file_ranges("").empty());
    CHECK(releasable_file_ranges("garbage\nRss: 4 kB\nAnonymous: 0 kB\n").empty());
    // end before begin, short perms, non-hex address
    CHECK(releasable_file_ranges("3000-1000 r--p 0 fe:01 1 /a\nRss: 4 kB\nAnonymous: 0 kB\n")
              .empty());
    CHECK(
        releasable_file_ranges("1000-3000 r-p 0 fe:01 1 /a\nRss: 4 kB\nAnonymous: 0 kB\n").empty());
    CHECK(releasable_file_ranges("10g0-3000 r--p 0 fe:01 1 /a\nRss: 4 kB\nAnonymous: 0 kB\n")
              .empty());
    // an unreadable Anonymous figure counts as written
    CHECK(releasable_file_ranges("1000-3000 r--p 0 fe:01 1 /a\nRss: 4 kB\nAnonymous: x kB\n")
              .empty());
}

TEST_CASE("file pages: a clean read-only mapping is given back and reads the same after") {
    PagedFile file;
    void* map = ::mmap(nullptr, kPages * kPage, PROT_READ, MAP_PRIVATE, file.fd.get(), 0);
    REQUIRE(map != MAP_FAILED);
    const auto* p = static_cast<const unsigned char*>(map);
    touch_all(p);
    const long before = mapping_rss_kib(map);
    REQUIRE(before >= static_cast<long>(kPages * kPage / 1024));

    FilePages pages;
    CHECK(pages.release() >= kPages * kPage);
    const long after = mapping_rss_kib(map);
    INFO("mapping resident before " << before << " KiB, after " << after << " KiB");
    CHECK(after == 0);
    CHECK(pages_hold_file_content(p));  // refaulted from the page cache
    CHECK(mapping_rss_kib(map) >= static_cast<long>(kPages * kPage / 1024));
    ::munmap(map, kPages * kPage);
}

TEST_CASE("file pages: a written private mapping made read-only keeps what was written") {
    // What the loader does to RELRO: written after mapping, then read-only.
    PagedFile file;
    void* map =
        ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd.get(), 0);
    REQUIRE(map != MAP_FAILED);
    auto* p = static_cast<unsigned char*>(map);
    touch_all(p);
    p[5 * kPage] = 'w';  // one copy-on-write page
    REQUIRE(::mprotect(map, kPages * kPage, PROT_READ) == 0);

    FilePages pages;
    pages.release();
    CHECK(p[5 * kPage] == 'w');
    CHECK(mapping_rss_kib(map) >= static_cast<long>(kPages * kPage / 1024));  // untouched
    ::munmap(map, kPages * kPage);
}

TEST_CASE("file pages: writable and anonymous memory is never touched") {
    PagedFile file;
    void* data =
        ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd.get(), 0);
    void* anon =
        ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(data != MAP_FAILED);
    REQUIRE(anon != MAP_FAILED);
    touch_all(static_cast<unsigned char*>(data));  // read only: still clean
    std::memset(anon, 0x5a, kPages * kPage);

    FilePages pages;
    pages.release();
    CHECK(mapping_rss_kib(data) >= static_cast<long>(kPages * kPage / 1024));
    CHECK(static_cast<unsigned char*>(anon)[kPages * kPage - 1] == 0x5a);
    ::munmap(data, kPages * kPage);
    ::munmap(anon, kPages * kPage);
}
