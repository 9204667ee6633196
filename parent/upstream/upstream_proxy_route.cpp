#include "parent/upstream/upstream_proxy_route.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.hpp"

namespace proxy {

namespace {

std::string base64(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

// USER:PASSWORD on one line (a trailing newline is fine): root-only, unlike
// a URL on the command line, which every local user can read in ps.
bool read_credentials(const std::string& path, std::string& user, std::string& password,
                      std::string& error) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        error =
            "cannot open --upstream-proxy-credentials-file " + path + ": " + std::strerror(errno);
        return false;
    }
    char buf[4097];
    std::size_t len = 0;
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = "cannot read --upstream-proxy-credentials-file " + path + ": " +
                    std::strerror(errno);
            return false;
        }
        if (n == 0) break;
        len += static_cast<std::size_t>(n);
        if (len == sizeof buf - 1) {
            error = "--upstream-proxy-credentials-file " + path + " is too large";
            return false;
        }
    }
    std::string text(buf, len);
    explicit_bzero(buf, sizeof buf);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    const std::size_t colon = text.find(':');
    bool ok = colon != std::string::npos && colon > 0;
    for (char c : text) ok = ok && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    if (!ok) {
        explicit_bzero(text.data(), text.size());
        error = "--upstream-proxy-credentials-file " + path +
                ": expected one line USER:PASSWORD without control characters";
        return false;
    }
    user = text.substr(0, colon);
    password = text.substr(colon + 1);
    explicit_bzero(text.data(), text.size());
    return true;
}

std::string authority(const UpstreamUrl& u) {
    const bool v6 = u.host.find(':') != std::string::npos;
    return (v6 ? "[" + u.host + "]" : u.host) + ":" + std::to_string(u.port);
}

}  // namespace

std::string connect_request_head(const UpstreamUrl& upstream, const std::string& user,
                                 const std::string& password, bool with_credentials) {
    const std::string target = authority(upstream);
    std::string head = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (with_credentials) {
        std::string pair = user + ":" + password;
        head += "Proxy-Authorization: Basic " + base64(pair) + "\r\n";
        explicit_bzero(pair.data(), pair.size());
    }
    return head + "\r\n";
}

Result<RouteChoice> choose_upstream_route(const Options& o, const ProxyEnvironment& env,
                                          const UpstreamUrl& upstream) {
    RouteChoice out;
    ProxyUrl url;
    std::string source;
    std::string error;
    if (o.upstream_proxy == "none") {
        out.note = "--upstream-proxy none: connecting to the upstream directly";
        return out;
    }
    if (!o.upstream_proxy.empty()) {
        source = "--upstream-proxy";
        if (!parse_proxy_url(o.upstream_proxy, url, error))
            return Error{"--upstream-proxy: " + error};
    } else if (!env.proxy.empty() && upstream.tls) {
        // reqwest uses HTTPS_PROXY (else ALL_PROXY) for https:// only; an
        // http:// upstream (tests) would need HTTP_PROXY's forwarding mode.
        source = env.proxy_var;
        if (!parse_proxy_url(env.proxy, url, error))
            return Error{env.proxy_var + ": " + error + "; --upstream-proxy none ignores it"};
        if (!env.no_proxy.empty() && no_proxy_matches(env.no_proxy, upstream.host)) {
            out.note = env.no_proxy_var + " matches " + upstream.host + ": not using " +
                       url.display() + " from " + env.proxy_var;
            return out;
        }
    } else {
        return out;  // direct, as always
    }
    std::string user = url.user, password = url.password;
    bool with_credentials = url.has_credentials;
    if (!o.upstream_proxy_credentials_file.empty()) {
        if (!read_credentials(o.upstream_proxy_credentials_file, user, password, error))
            return Error{std::move(error)};
        with_credentials = true;
    }
    UpstreamProxyRoute route;
    route.host = url.host;
    route.port = url.port;
    route.display = url.display();
    route.source = source;
    route.authenticated = with_credentials;
    route.connect_request = connect_request_head(upstream, user, password, with_credentials);
    explicit_bzero(password.data(), password.size());
    explicit_bzero(url.password.data(), url.password.size());
    out.note = "reaching " + authority(upstream) + " through the HTTP proxy " + route.display +
               " (from " + source + (with_credentials ? ", with credentials)" : ")");
    out.proxy = std::move(route);
    return out;
}

}  // namespace proxy
