#include "parent/users/state_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "parent/files/atomic_file.hpp"
#include "parent/files/trusted_path.hpp"

namespace proxy {

namespace {
// As parent/users/usage_state.cpp allows, plus 50,000 response lines.
constexpr std::size_t kMaxStateFile = 32u << 20;
}  // namespace

std::string format_state_file(const UsageState& usage, const ResponseOwners& owners) {
    std::string out = format_usage_state(usage);
    if (owners.size() == 0) return out;
    out += kResponsesSection;
    out += '\n';
    out += owners.format();
    return out;
}

std::variant<StateFile, std::string> parse_state_file(std::string_view text,
                                                      ResponseOwnersLimits limits,
                                                      std::int64_t now) {
    std::string section = "\n";
    section += kResponsesSection;
    section += '\n';
    const std::size_t at = text.find(section);
    const std::string_view usage_text =
        at == std::string_view::npos ? text : text.substr(0, at + 1);
    const std::string_view owner_text =
        at == std::string_view::npos ? std::string_view() : text.substr(at + section.size());
    auto usage = parse_usage_state(usage_text);
    if (auto* err = std::get_if<std::string>(&usage)) return std::move(*err);
    auto owners = parse_response_owners(owner_text, limits, now);
    if (auto* err = std::get_if<std::string>(&owners)) {
        // Its line numbers count from the section line.
        return "after \"" + std::string(kResponsesSection) + "\": " + *err;
    }
    return StateFile{std::get<UsageState>(std::move(usage)),
                     std::get<ResponseOwners>(std::move(owners))};
}

Result<StateFile> load_trusted_state_file(const std::string& path, ResponseOwnersLimits limits,
                                          std::int64_t now) {
    const auto fd = open_trusted_file(path, false);
    if (!fd) return Error{fd.error()};
    if (!*fd) return StateFile{UsageState{}, ResponseOwners(limits)};  // none yet
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd->get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error{"cannot read " + path + ": " + std::strerror(errno)};
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxStateFile) return Error{path + ": too large for a state file"};
    }
    auto parsed = parse_state_file(text, limits, now);
    if (auto* err = std::get_if<std::string>(&parsed)) return Error{path + ": " + *err};
    return std::get<StateFile>(std::move(parsed));
}

Result<void> save_state_file(const std::string& path, const UsageState& usage,
                             const ResponseOwners& owners) {
    return replace_file(path, format_state_file(usage, owners), 0600);
}

}  // namespace proxy
