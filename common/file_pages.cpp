#include "common/file_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace proxy {

namespace {

std::string_view next_token(std::string_view& s) {
    std::size_t start = s.find_first_not_of(" \t");
    if (start == std::string_view::npos) start = s.size();
    s.remove_prefix(start);
    std::size_t end = s.find_first_of(" \t");
    if (end == std::string_view::npos) end = s.size();
    std::string_view token = s.substr(0, end);
    s.remove_prefix(end);
    return token;
}

bool parse_hex(std::string_view s, std::uintptr_t& out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

// "Anonymous:    12 kB" -> 12; false when the line is not that field.
bool field_kib(std::string_view line, std::string_view name, unsigned long& kib) {
    if (line.substr(0, name.size()) != name) return false;
    line.remove_prefix(name.size());
    std::string_view number = next_token(line);
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), kib);
    return ec == std::errc() && ptr == number.data() + number.size();
}

struct Mapping {
    PageRange range;
    bool candidate = false;  // file-backed, private, read-only
    unsigned long rss_kib = 0;
    unsigned long anonymous_kib = 1;  // unknown until read: assume written
};

// "begin-end perms offset dev inode [path]"; false for any other line.
bool parse_header(std::string_view line, Mapping& m) {
    std::string_view range = next_token(line);
    const std::size_t dash = range.find('-');
    if (dash == std::string_view::npos) return false;
    if (!parse_hex(range.substr(0, dash), m.range.begin) ||
        !parse_hex(range.substr(dash + 1), m.range.end) || m.range.end <= m.range.begin) {
        return false;
    }
    std::string_view perms = next_token(line);
    if (perms.size() != 4) return false;
    next_token(line);  // offset
    next_token(line);  // device
    next_token(line);  // inode
    std::string_view path = next_token(line);
    m.candidate = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' && !path.empty() &&
                  path.front() == '/';
    return true;
}

std::string read_all(int fd) {
    std::string text;
    std::size_t used = 0;
    for (;;) {
        if (text.size() - used < 16384) text.resize(used + 65536);
        const ssize_t n =
            ::pread(fd, text.data() + used, text.size() - used, static_cast<off_t>(used));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += static_cast<std::size_t>(n);
    }
    text.resize(used);
    return text;
}

}  // namespace

std::vector<PageRange> releasable_file_ranges(std::string_view smaps) {
    std::vector<PageRange> out;
    Mapping current;
    bool have = false;
    auto finish = [&] {
        if (have && current.candidate && current.anonymous_kib == 0 && current.rss_kib > 0) {
            out.push_back(current.range);
        }
    };
    while (!smaps.empty()) {
        const std::size_t eol = smaps.find('\n');
        std::string_view line = smaps.substr(0, eol);
        smaps.remove_prefix(eol == std::string_view::npos ? smaps.size() : eol + 1);
        Mapping next;
        if (parse_header(line, next)) {
            finish();
            current = next;
            have = true;
        } else if (have) {
            field_kib(line, "Rss:", current.rss_kib) ||
                field_kib(line, "Anonymous:", current.anonymous_kib);
        }
    }
    finish();
    return out;
}

FilePages::FilePages() : smaps_(::open("/proc/self/smaps", O_RDONLY | O_CLOEXEC)) {}

std::size_t FilePages::release() {
    if (!smaps_) return 0;
    std::size_t advised = 0;
    for (const PageRange& r : releasable_file_ranges(read_all(smaps_.get()))) {
        if (::madvise(reinterpret_cast<void*>(r.begin), r.end - r.begin, MADV_DONTNEED) == 0) {
            advised += r.end - r.begin;
        }
    }
    return advised;
}

}  // namespace proxy
