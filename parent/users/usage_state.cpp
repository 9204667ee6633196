#include "parent/users/usage_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <span>

#include "common/unique_fd.hpp"
#include "parent/files/atomic_file.hpp"

namespace proxy {

namespace {

constexpr std::string_view kMagic = "codex-responses-api-proxy usage 2";
constexpr std::string_view kMagicV1 = "codex-responses-api-proxy usage 1";  // no tokens_estimated
constexpr std::size_t kMaxFile = 16u << 20;

std::string_view next_word(std::string_view& line) {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    std::size_t end = line.find(' ');
    std::string_view w = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    return w;
}

bool to_u64(std::string_view s, std::uint64_t& v) {
    if (s.empty() || s.front() < '0' || s.front() > '9') return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

bool valid_day(std::string_view d) {
    if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
        if (d[i] < '0' || d[i] > '9') return false;
    return true;
}

}  // namespace

std::string format_usage_state(const UsageDay& d) {
    std::string out(kMagic);
    out += "\nday ";
    out += d.day.empty() ? "none" : d.day;
    out += '\n';
    for (const auto& [uid, c] : d.users) {
        out += "uid " + std::to_string(uid) + " requests " + std::to_string(c.requests) +
               " refused " + std::to_string(c.refused) + " tokens_in " +
               std::to_string(c.tokens_in) + " tokens_out " + std::to_string(c.tokens_out) +
               " tokens_estimated " + std::to_string(c.tokens_estimated) + "\n";
    }
    return out;
}

std::variant<UsageDay, std::string> parse_usage_state(std::string_view text) {
    UsageDay d;
    unsigned lineno = 0;
    bool have_day = false;
    bool v1 = false;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        if (nl == std::string_view::npos) return std::string("last line has no newline");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        ++lineno;
        const std::string at = "line " + std::to_string(lineno) + ": ";
        if (lineno == 1) {
            v1 = line == kMagicV1;
            if (line != kMagic && !v1) return at + "not a usage state file (unknown header)";
            continue;
        }
        std::string_view kind = next_word(line);
        if (kind == "day" && !have_day) {
            std::string_view day = next_word(line);
            if (!line.empty() || (day != "none" && !valid_day(day))) return at + "bad day";
            if (day != "none") d.day.assign(day);
            have_day = true;
            continue;
        }
        if (kind != "uid" || !have_day) return at + "unexpected line";
        std::uint64_t uid = 0;
        if (!to_u64(next_word(line), uid) || uid > 0xffffffffull) return at + "bad uid";
        UsageCounters c;
        std::pair<std::string_view, std::uint64_t*> fields[] = {
            {"requests", &c.requests},
            {"refused", &c.refused},
            {"tokens_in", &c.tokens_in},
            {"tokens_out", &c.tokens_out},
            {"tokens_estimated", &c.tokens_estimated}};
        for (auto& [name, field] : std::span(fields).first(v1 ? 4 : 5)) {
            if (next_word(line) != name || !to_u64(next_word(line), *field))
                return at + "bad or missing " + std::string(name);
        }
        if (!line.empty()) return at + "trailing text";
        if (c.tokens_estimated > c.tokens_in && c.tokens_estimated - c.tokens_in > c.tokens_out)
            return at + "tokens_estimated above tokens_in + tokens_out";
        if (!d.users.emplace(static_cast<uid_t>(uid), c).second) return at + "duplicate uid";
    }
    if (lineno == 0) return std::string("empty file");
    if (!have_day) return std::string("no day line");
    return d;
}

Result<UsageDay> load_usage_state(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return UsageDay{};
        return Error{"cannot read " + path + ": " + std::strerror(errno)};
    }
    return read_usage_state(fd.get(), path);
}

Result<UsageDay> read_usage_state(int fd, const std::string& path) {
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error{"cannot read " + path + ": " + std::strerror(errno)};
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxFile) return Error{path + ": too large for a usage state file"};
    }
    auto parsed = parse_usage_state(text);
    if (auto* err = std::get_if<std::string>(&parsed)) return Error{path + ": " + *err};
    return std::get<UsageDay>(std::move(parsed));
}

Result<void> save_usage_state(const std::string& path, const UsageDay& d) {
    return replace_file(path, format_usage_state(d), 0600);
}

}  // namespace proxy
