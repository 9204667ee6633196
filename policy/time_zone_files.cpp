// Reading zones from the tz database and choosing the local one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "common/unique_fd.hpp"
#include "policy/time_zone.hpp"

namespace proxy {
namespace {

// The largest zone file is a few KiB; this only stops a mistake early.
constexpr std::size_t kMaxZoneFileBytes = 256 * 1024;

// "" on success with the bytes in `out`; else the reason.
std::string read_small_file(const std::string& path, std::string& out, int& error_number) {
    error_number = 0;
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
        error_number = errno;
        return std::strerror(errno);
    }
    if (!S_ISREG(st.st_mode)) return "not a regular file";
    char chunk[8192];
    for (;;) {
        const ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error_number = errno;
            return std::strerror(errno);
        }
        if (n == 0) return "";
        out.append(chunk, static_cast<std::size_t>(n));
        if (out.size() > kMaxZoneFileBytes) return "too large for a time zone file";
    }
}

std::variant<std::shared_ptr<const TimeZone>, std::string> zone_from_file(const std::string& name,
                                                                          const std::string& path,
                                                                          int& error_number) {
    std::string bytes;
    if (std::string why = read_small_file(path, bytes, error_number); !why.empty()) {
        return path + ": " + why;
    }
    auto parsed = TimeZone::from_tzif(name, bytes);
    if (auto* error = std::get_if<std::string>(&parsed)) return path + ": " + *error;
    return std::make_shared<const TimeZone>(std::get<TimeZone>(std::move(parsed)));
}

std::shared_ptr<const TimeZone> utc(std::string name = "UTC") {
    return std::make_shared<const TimeZone>(
        TimeZone::from_rule(std::move(name), PosixTzRule{0, std::nullopt}));
}

// The zone name /etc/localtime links to ("Europe/Berlin"), else the path.
std::string localtime_name(const std::string& path) {
    char target[PATH_MAX];
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) return path;
    const std::string_view link(target, static_cast<std::size_t>(n));
    constexpr std::string_view kMarker = "zoneinfo/";
    const std::size_t at = link.rfind(kMarker);
    if (at == std::string_view::npos) return path;
    const std::string_view name = link.substr(at + kMarker.size());
    return valid_zone_name(name) ? std::string(name) : path;
}

}  // namespace

std::variant<std::shared_ptr<const TimeZone>, std::string> load_time_zone(std::string_view name,
                                                                          std::string_view dir) {
    if (!valid_zone_name(name)) {
        return "'" + std::string(name.substr(0, 80)) +
               "' is not a time zone name (like Europe/Berlin or UTC)";
    }
    const std::string path = std::string(dir) + "/" + std::string(name);
    int error_number = 0;
    auto zone = zone_from_file(std::string(name), path, error_number);
    if (std::holds_alternative<std::string>(zone) && error_number == ENOENT) {
        if (name == "UTC" || name == "Etc/UTC") return utc(std::string(name));
        return "unknown time zone '" + std::string(name) + "' (no " + path +
               "; is the tzdata package installed?)";
    }
    if (auto* error = std::get_if<std::string>(&zone)) {
        return "time zone '" + std::string(name) + "': " + *error;
    }
    return zone;
}

LocalTimeZone load_local_time_zone(const char* tz_env, std::string_view localtime_path,
                                   std::string_view dir) {
    LocalTimeZone out;
    int error_number = 0;
    if (tz_env == nullptr) {
        const std::string path(localtime_path);
        auto zone = zone_from_file(localtime_name(path), path, error_number);
        if (auto* z = std::get_if<std::shared_ptr<const TimeZone>>(&zone)) {
            out.zone = *z;
            return out;
        }
        // As glibc: no /etc/localtime is UTC, and says nothing.
        out.zone = utc();
        if (error_number != ENOENT) out.warning = std::get<std::string>(zone) + "; using UTC";
        return out;
    }
    std::string_view tz(tz_env);
    if (tz.empty()) {
        out.zone = utc();
        return out;
    }
    const bool file_only = tz.front() == ':';
    if (file_only) tz.remove_prefix(1);
    if (!tz.empty() && tz.front() == '/') {
        auto zone = zone_from_file(std::string(tz), std::string(tz), error_number);
        if (auto* z = std::get_if<std::shared_ptr<const TimeZone>>(&zone)) {
            out.zone = *z;
            return out;
        }
        out.zone = utc();
        out.warning = "TZ: " + std::get<std::string>(zone) + "; using UTC";
        return out;
    }
    if (valid_zone_name(tz)) {
        auto zone = load_time_zone(tz, dir);
        if (auto* z = std::get_if<std::shared_ptr<const TimeZone>>(&zone)) {
            out.zone = *z;
            return out;
        }
    }
    if (!file_only) {
        if (const auto rule = parse_posix_tz(tz)) {
            out.zone =
                std::make_shared<const TimeZone>(TimeZone::from_rule(std::string(tz), *rule));
            return out;
        }
    }
    out.zone = utc();
    out.warning = "TZ='" + std::string(tz.substr(0, 80)) +
                  "' names no time zone this proxy can read; using UTC";
    return out;
}

}  // namespace proxy
