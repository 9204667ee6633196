#include "common/upstream_url.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <utility>

namespace proxy {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

bool is_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// DNS names and IPv4 literals. Percent-encoding and the other RFC 3986
// sub-delims are legal in a reg-name but never name a real upstream.
bool is_host_char(char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

// RFC 3986 pchar minus pct-encoded (checked separately), plus '/' and '?':
// unreserved, sub-delims, ':' and '@'.
bool is_path_char(char c) {
    return is_alnum(c) || std::string_view("-._~!$&'()*+,;=:@/?").find(c) != std::string_view::npos;
}

bool fail(std::string& error, std::string message) {
    error = std::move(message);
    return false;
}

}  // namespace

bool parse_upstream_url(std::string_view url, UpstreamUrl& out, std::string& error) {
    const std::string quoted = "invalid upstream URL '" + std::string(url) + "': ";
    for (char c : url) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) {
            return fail(error,
                        "invalid upstream URL: spaces, control characters and non-ASCII "
                        "bytes are not allowed (percent-encode them)");
        }
    }
    if (url.find('#') != std::string_view::npos) {
        return fail(error, quoted + "fragments ('#') are not allowed");
    }

    UpstreamUrl result;
    std::string_view rest;
    if (starts_with_nocase(url, "https://")) {
        result.tls = true;
        result.port = 443;
        rest = url.substr(8);
    } else if (starts_with_nocase(url, "http://")) {
        result.tls = false;
        result.port = 80;
        rest = url.substr(7);
    } else {
        return fail(error, quoted + "the scheme must be https:// (or http:// for tests)");
    }

    const std::size_t authority_end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, authority_end);
    const std::string_view tail =
        authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return fail(error, quoted + "user information ('user@') is not allowed");
    }

    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return fail(error, quoted + "unterminated '[' in the host");
        }
        const std::string literal(authority.substr(1, close - 1));
        in6_addr addr{};
        if (literal.empty() || inet_pton(AF_INET6, literal.c_str(), &addr) != 1) {
            return fail(error, quoted + "'[" + literal + "]' is not an IPv6 address");
        }
        result.host = literal;
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return fail(error, quoted + "unexpected characters after ']' in the host");
            }
            has_port = true;
            port_text = after.substr(1);
        }
    } else {
        const std::size_t colon = authority.find(':');
        const std::string_view host = authority.substr(0, colon);
        if (host.empty()) return fail(error, quoted + "the host is empty");
        for (char c : host) {
            if (!is_host_char(c)) {
                return fail(error,
                            quoted + "invalid character '" + std::string(1, c) + "' in the host");
            }
        }
        result.host = std::string(host);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
    }

    if (has_port) {
        std::uint32_t port = 0;
        bool ok = !port_text.empty() && port_text.size() <= 5;
        for (char c : port_text) {
            if (c < '0' || c > '9') {
                ok = false;
                break;
            }
            port = port * 10 + static_cast<std::uint32_t>(c - '0');
        }
        if (!ok || port == 0 || port > 65535) {
            return fail(error, quoted + "the port must be a number from 1 to 65535");
        }
        result.port = static_cast<std::uint16_t>(port);
    }
    result.host_header = std::string(authority);

    for (std::size_t i = 0; i < tail.size(); ++i) {
        const char c = tail[i];
        if (c == '%') {
            if (i + 2 >= tail.size() || !is_hex(tail[i + 1]) || !is_hex(tail[i + 2])) {
                return fail(error, quoted + "'%' must be followed by two hex digits");
            }
            i += 2;
            continue;
        }
        if (!is_path_char(c)) {
            return fail(error, quoted + "invalid character '" + std::string(1, c) +
                                   "' in the path or query");
        }
    }
    if (tail.empty()) {
        result.path_and_query = "/";
    } else if (tail.front() == '?') {
        result.path_and_query = "/" + std::string(tail);
    } else {
        result.path_and_query = std::string(tail);
    }

    out = std::move(result);
    return true;
}

}  // namespace proxy
