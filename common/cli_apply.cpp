// The flag table's checks for values with a shape: see common/cli_apply.hpp.
#include "common/cli_apply.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <cstdio>

#include "common/cli_values.hpp"
#include "common/proxy_config.hpp"
#include "common/zone_name.hpp"

namespace proxy::cli::values {

// Paths and names end up in log lines and syscalls: no controls there.
bool is_plain_text(std::string_view v) {
    if (v.empty()) return false;
    for (char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return false;
    }
    return true;
}

bool apply_zone_name(Options& o, std::string_view v, std::string& expected) {
    if (!valid_zone_name(v)) {
        expected = "a tz database name (Europe/Berlin, UTC)";
        return false;
    }
    o.budget_timezone = std::string(v);
    return true;
}

bool apply_port(Options& o, std::string_view v, std::string& expected) {
    auto n = parse_digits(v);
    if (!n || *n > 65535) {
        expected = "0-65535";
        return false;
    }
    o.port = static_cast<std::uint16_t>(*n);
    return true;
}

std::string show_port(const Options& o) {
    return o.port ? std::to_string(*o.port) : "";
}

bool apply_chroot_dir(Options& o, std::string_view v, std::string& expected) {
    if (!is_plain_text(v) || v.front() != '/') {
        expected = "an absolute path";
        return false;
    }
    o.chroot_dir = std::string(v);
    return true;
}

// A name the proxy answers to in Host: a DNS name, IPv4 or [IPv6], no port.
// NAME, IPv4 or [IPv6], optionally with :PORT. With a port the entry matches
// only that port: what a client sends when it reaches the proxy through a
// forwarded one (ssh -L 9000:127.0.0.1:PORT sends Host: localhost:9000).
bool apply_allow_host(Options& o, std::string_view v, std::string& expected) {
    std::string_view host = v;
    std::string_view port;
    bool has_port = false;
    const std::size_t colon = v.rfind(':');
    const std::size_t bracket = v.rfind(']');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        host = v.substr(0, colon);
        port = v.substr(colon + 1);
        has_port = true;
    }
    bool ok = !host.empty();
    if (ok && host.front() == '[') {
        const std::string literal(host.substr(1, host.size() - 1 - (host.back() == ']' ? 1 : 0)));
        in6_addr addr{};
        ok = host.size() > 2 && host.back() == ']' &&
             inet_pton(AF_INET6, literal.c_str(), &addr) == 1;
    } else {
        for (char c : host) {
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.');
        }
    }
    if (ok && has_port) {
        const auto n = parse_digits(port);
        ok = n && *n >= 1 && *n <= 65535 && port.front() != '0';
    }
    if (!ok) {
        expected = "a host name, IPv4 address or [IPv6] address, optionally with :PORT (1-65535)";
        return false;
    }
    o.allowed_hosts.emplace_back(v);
    return true;
}

bool apply_unix_mode(Options& o, std::string_view v, std::string& expected) {
    unsigned mode = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), mode, 8);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || mode > 0777) {
        expected = "an octal mode, 0000-0777";
        return false;
    }
    o.listen_unix_mode = mode;
    return true;
}

std::string show_unix_mode(const Options& o) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", o.listen_unix_mode);
    return buf;
}

bool apply_unix_path(Options& o, std::string_view v, std::string& expected) {
    // sun_path holds 108 bytes with the NUL.
    if (!is_plain_text(v) || v.front() != '/' || v.size() > 107) {
        expected = "an absolute path of at most 107 bytes";
        return false;
    }
    o.listen_unix = std::string(v);
    return true;
}

// The URL may carry a password: the error never repeats it.
bool apply_upstream_proxy(Options& o, std::string_view v, std::string& expected) {
    ProxyUrl url;
    std::string error;
    if (v != "none" && !parse_proxy_url(v, url, error)) {
        expected = "http://[USER:PASSWORD@]HOST[:PORT] or none (" + error + ")";
        return false;
    }
    o.upstream_proxy = std::string(v);
    return true;
}

// The shape policy/model_pattern.hpp's model_pattern_error checks again, with
// the policy file's patterns and the prices' (common/ cannot call it): at most
// 128 bytes of visible ASCII, no quote or backslash, '*' only at the end.
bool apply_allow_model(Options& o, std::string_view v, std::string& expected) {
    bool ok = !v.empty() && v.size() <= 128;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const auto c = static_cast<unsigned char>(v[i]);
        ok = ok && c > 0x20 && c < 0x7f && c != '"' && c != '\\' && (c != '*' || i + 1 == v.size());
    }
    if (!ok) {
        expected =
            "a model name, or a prefix ending in '*' (at most 128 bytes of printable ASCII, "
            "no spaces, quotes or backslashes)";
        return false;
    }
    o.allow_models.emplace_back(v);
    return true;
}

bool apply_response_ownership(Options& o, std::string_view v, std::string& expected) {
    if (v != "auto" && v != "on" && v != "off") {
        expected = "auto, on or off";
        return false;
    }
    o.response_ownership = std::string(v);
    return true;
}

}  // namespace proxy::cli::values
