#include "common/proxy_config.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>

#include "common/ascii.hpp"
#include "common/options.hpp"
#include "common/upstream_url.hpp"

namespace proxy {

namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hex_digit_value(s[i + 1]), lo = hex_digit_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

// An IPv4 or IPv6 address as 16 bytes (IPv4 in the first 4), with its family.
struct IpAddress {
    int family = 0;
    std::array<unsigned char, 16> bytes{};
};

std::optional<IpAddress> parse_ip(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    const std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return std::nullopt;
}

// "10.0.0.0/8", "fd00::/8" or a bare address (all its bits).
bool ip_entry_matches(std::string_view entry, const IpAddress& host, bool& is_ip_entry) {
    const std::size_t slash = entry.find('/');
    const auto net = parse_ip(entry.substr(0, slash));
    is_ip_entry = net.has_value();
    if (!net || net->family != host.family) return false;
    const unsigned max_bits = net->family == AF_INET ? 32 : 128;
    unsigned bits = max_bits;
    if (slash != std::string_view::npos) {
        const std::string_view b = entry.substr(slash + 1);
        auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
        if (ec != std::errc() || end != b.data() + b.size() || bits > max_bits) {
            is_ip_entry = false;
            return false;
        }
    }
    for (unsigned i = 0; i < bits; ++i) {
        const unsigned mask = 0x80u >> (i % 8);
        if ((net->bytes[i / 8] & mask) != (host.bytes[i / 8] & mask)) return false;
    }
    return true;
}

bool domain_matches(std::string_view entry, std::string_view host) {
    if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
    if (entry.empty()) return false;
    if (iequal(entry, host)) return true;
    return host.size() > entry.size() && host[host.size() - entry.size() - 1] == '.' &&
           iequal(host.substr(host.size() - entry.size()), entry);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

constexpr const char* kProxyVars[] = {"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"};
constexpr const char* kNoProxyVars[] = {"NO_PROXY", "no_proxy"};

}  // namespace

std::string ProxyUrl::display() const {
    const bool v6 = host.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool parse_proxy_url(std::string_view text, ProxyUrl& out, std::string& error) {
    // Never echo the URL: it may hold a password.
    std::string_view rest = text;
    const std::size_t scheme_end = rest.find("://");
    if (scheme_end != std::string_view::npos) {
        const std::string_view scheme = rest.substr(0, scheme_end);
        if (!iequal(scheme, "http")) {
            error = "unsupported proxy scheme '" + std::string(scheme) +
                    "://' (only http:// proxies, which are asked to CONNECT, are supported)";
            return false;
        }
        rest = rest.substr(scheme_end + 3);
    }
    ProxyUrl result;
    const std::size_t authority_end = rest.find('/');
    std::string_view authority = rest.substr(0, authority_end);
    if (authority_end != std::string_view::npos && rest.substr(authority_end) != "/") {
        error = "a proxy URL has no path";
        return false;
    }
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const std::size_t colon = userinfo.find(':');
        auto user = percent_decode(userinfo.substr(0, colon));
        auto password = percent_decode(
            colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1));
        if (!user || !password || user->empty()) {
            error = "the proxy URL's user information is malformed";
            return false;
        }
        if (user->find(':') != std::string::npos) {
            error = "a proxy user name cannot contain ':'";
            return false;
        }
        for (const std::string* s : {&*user, &*password}) {
            for (char c : *s) {
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    error = "the proxy URL's user information holds control characters";
                    return false;
                }
            }
        }
        result.has_credentials = true;
        result.user = std::move(*user);
        result.password = std::move(*password);
    }
    // Host and port as an upstream URL's, which is strict about both.
    UpstreamUrl parsed;
    std::string url_error;
    if (!parse_upstream_url("http://" + std::string(authority) + "/", parsed, url_error)) {
        error = "the proxy URL's host or port is invalid";
        return false;
    }
    result.host = parsed.host;
    result.port = parsed.port;
    out = std::move(result);
    return true;
}

ProxyEnvironment read_proxy_environment(GetEnv getenv_fn) {
    ProxyEnvironment env;
    for (const char* name : kProxyVars) {
        const char* v = getenv_fn(name);
        if (v != nullptr && *v != '\0') {
            env.proxy = v;
            env.proxy_var = name;
            break;
        }
    }
    for (const char* name : kNoProxyVars) {
        const char* v = getenv_fn(name);
        if (v != nullptr && *v != '\0') {
            env.no_proxy = v;
            env.no_proxy_var = name;
            break;
        }
    }
    return env;
}

bool is_proxy_variable(std::string_view name) {
    for (const char* n : kProxyVars) {
        if (name == n) return true;
    }
    for (const char* n : kNoProxyVars) {
        if (name == n) return true;
    }
    return false;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host) {
    const auto host_ip = parse_ip(host);
    while (!no_proxy.empty()) {
        const std::size_t comma = no_proxy.find(',');
        const std::string_view entry = trim(no_proxy.substr(0, comma));
        no_proxy =
            comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
        if (entry.empty()) continue;
        if (entry == "*") return true;
        if (host_ip) {
            bool is_ip_entry = false;
            if (ip_entry_matches(entry, *host_ip, is_ip_entry)) return true;
            if (is_ip_entry) continue;
        }
        if (!host_ip && domain_matches(entry, host)) return true;
    }
    return false;
}

}  // namespace proxy
