#include "policy/request_policy.hpp"

#include <array>
#include <string_view>

#include "common/http_syntax.hpp"

namespace proxy {
namespace {

// The only two things the proxy does. Compared byte for byte: no case
// folding, no percent-decoding, no query, no fragment, no absolute-form.
// Anything a normaliser could disagree about is simply refused.
constexpr std::string_view kForwardMethod = "POST";
constexpr std::string_view kForwardTarget = "/v1/responses";
constexpr std::string_view kShutdownMethod = "GET";
constexpr std::string_view kShutdownTarget = "/shutdown";
constexpr std::string_view kUsageTarget = "/usage";
constexpr std::string_view kMetricsMethod = "GET";
constexpr std::string_view kMetricsTarget = "/metrics";

// Names by which a loopback client addresses us. Browsers send IP literals
// in this canonical form, so other spellings of loopback are not needed.
constexpr std::array<std::string_view, 3> kLoopbackNames = {"127.0.0.1", "localhost", "[::1]"};

// Sec-Fetch-Mode values that only a browser's fetch machinery sends.
constexpr std::array<std::string_view, 4> kBrowserFetchModes = {"cors", "navigate", "no-cors",
                                                                "websocket"};

struct HostPort {
    std::string_view name;  // IPv6 literals keep their brackets
    std::optional<std::string_view> port;
};

// Split "name", "name:port", "[v6]" or "[v6]:port". No validation of the
// name itself: it is only ever compared against fixed names.
HostPort split_host(std::string_view s) {
    std::size_t colon = std::string_view::npos;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == ':') {
            colon = close + 1;
        }
    } else {
        colon = s.rfind(':');
    }
    if (colon == std::string_view::npos) return {s, std::nullopt};
    return {s.substr(0, colon), s.substr(colon + 1)};
}

// Ports are compared as canonical decimal: "08080" or "+80" is not our port.
bool is_our_port(std::string_view port, std::uint16_t ours) {
    return port == std::to_string(ours);
}

bool matches_loopback(const HostPort& host, std::uint16_t ours) {
    for (auto name : kLoopbackNames) {
        if (!iequals(host.name, name)) continue;
        // A Host without port means port 80 (RFC 9110 4.2.1).
        return host.port ? is_our_port(*host.port, ours) : ours == 80;
    }
    return false;
}

// An --allow-host entry "name" accepts Host "name" and "name:<our port>": the
// operator vouched for the name, e.g. a front proxy on the default port or a
// unix socket whose clients send "localhost". "name:PORT" accepts exactly that.
bool matches_allowed(const HostPort& host, std::string_view entry, std::uint16_t ours) {
    const HostPort allowed = split_host(entry);
    if (!iequals(host.name, allowed.name)) return false;
    if (allowed.port) return host.port && *host.port == *allowed.port;
    return !host.port || is_our_port(*host.port, ours);
}

std::optional<Refusal> check_host(const RequestHead& head, const RequestPolicy& policy) {
    const Header* host = nullptr;
    for (const auto& h : head.headers) {
        if (!iequals(h.name, "Host")) continue;
        if (host != nullptr) return refusal::kBadRequest;  // RFC 9112 3.2: more than one Host
        host = &h;
    }
    if (host == nullptr) {
        // HTTP/1.0 has no Host requirement and simple clients (curl -0, scripts)
        // omit it. That cannot be DNS rebinding: rebinding works only because a
        // browser sends the attacker's name in Host, and browsers always send
        // Host. HTTP/1.1 requires Host (RFC 9112 3.2), so its absence is malformed.
        if (head.version_minor == 0) return std::nullopt;
        return refusal::kBadRequest;
    }
    if (policy.any_host || host_names_proxy(host->value, policy)) return std::nullopt;
    return refusal::kMisdirectedRequest;
}

bool is_browser_request(const HeaderList& headers) {
    // Browsers attach Origin to every cross-origin and every POST request and
    // page scripts cannot remove it; non-browser clients have no reason to send it.
    if (find_header(headers, "Origin") != nullptr) return true;
    // Sec-Fetch-* cannot be set by scripts. "none" means the user started the
    // request themselves (typed URL, bookmark), which no page can trigger.
    bool site_none = false;
    for (const auto& h : headers) {
        if (!iequals(h.name, "Sec-Fetch-Site")) continue;
        if (!iequals(h.value, "none")) return true;
        site_none = true;
    }
    if (site_none) return false;
    // Fetch mode without a "none" site: a browser request whose site header got
    // lost or stripped on the way; refuse rather than guess.
    for (const auto& h : headers) {
        if (!iequals(h.name, "Sec-Fetch-Mode")) continue;
        for (auto mode : kBrowserFetchModes) {
            if (iequals(h.value, mode)) return true;
        }
    }
    return false;
}

std::optional<Refusal> check_upgrade(const RequestHead& head) {
    if (find_header(head.headers, "Upgrade") == nullptr) return std::nullopt;
    const bool responses =
        head.target == kForwardTarget && (head.method == kForwardMethod || head.method == "GET");
    // 426 lets the Codex CLI fall back to HTTP at once instead of retrying.
    if (responses && http::list_contains_token(head.headers, "Upgrade", "websocket")) {
        return refusal::kWebsocketUpgrade;
    }
    return refusal::kUpgradeRefused;  // h2c and friends: we speak HTTP/1.1 only
}

}  // namespace

RequestPolicy make_request_policy(const Options& opts, std::uint16_t bound_port) {
    return RequestPolicy{bound_port, opts.allowed_hosts, opts.http_shutdown};
}

bool host_names_proxy(std::string_view value, const RequestPolicy& policy) {
    const HostPort host = split_host(value);
    if (host.name.empty()) return false;
    if (matches_loopback(host, policy.port)) return true;
    for (const auto& entry : policy.allowed_hosts) {
        if (matches_allowed(host, entry, policy.port)) return true;
    }
    return false;
}

Decision decide(const RequestHead& head, const RequestPolicy& policy) {
    if (auto r = check_host(head, policy)) return {Route::Forward, r};
    if (is_browser_request(head.headers)) return {Route::Forward, refusal::kBrowserRequest};
    if (auto r = check_upgrade(head)) return {Route::Forward, r};
    if (head.method == kForwardMethod && head.target == kForwardTarget) {
        return {Route::Forward, std::nullopt};
    }
    if (policy.http_shutdown && head.method == kShutdownMethod && head.target == kShutdownTarget) {
        return {Route::Shutdown, std::nullopt};
    }
    if (head.method == kShutdownMethod && head.target == kUsageTarget) {
        return {Route::Usage, std::nullopt};
    }
    // Who may read it is the parent's call, as for /shutdown.
    if (head.method == kMetricsMethod && head.target == kMetricsTarget) {
        return {Route::Metrics, std::nullopt};
    }
    return {Route::Forward, refusal::kForbidden};
}

}  // namespace proxy
