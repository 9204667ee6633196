// The hostile-worker rig's functions: what the upstream stand-in may have been
// sent (parse_upstream_stream) and the small helpers the tests share.
#include "hostile_worker_rig.hpp"

namespace hostile_worker {

namespace {

bool is_tchar(unsigned char c) {
    if (std::isalnum(c)) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

}  // namespace

// Parse one connection's bytes as a sequence of requests the parent may have
// written. `host` is the configured Host, `auth` the full header value.
ParseResult parse_upstream_stream(std::string_view in, const std::string& host,
                                  const std::string& auth) {
    ParseResult res;
    auto bad = [&](std::string why) {
        res.error = std::move(why);
        return res;
    };
    while (!in.empty()) {
        ParsedRequest req;
        auto end = in.find("\r\n\r\n");
        if (end == std::string_view::npos) {
            // A head cut short by the kill: it must still be a prefix of a
            // proper head (checked loosely: the request line if complete).
            auto first = in.find("\r\n");
            std::string_view line = in.substr(0, first);
            std::string want = std::string("POST ") + kPath + " HTTP/1.1";
            if (first != std::string_view::npos ? line != want
                                                : want.compare(0, line.size(), line) != 0) {
                return bad("partial head with a bad request line: " + std::string(line));
            }
            res.requests.push_back(req);
            return res;
        }
        std::string_view head = in.substr(0, end);
        in.remove_prefix(end + 4);
        std::vector<std::string_view> lines;
        for (std::size_t pos = 0;;) {
            auto nl = head.find("\r\n", pos);
            lines.push_back(
                head.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
            if (nl == std::string_view::npos) break;
            pos = nl + 2;
        }
        if (lines[0] != std::string("POST ") + kPath + " HTTP/1.1") {
            return bad("request line is not POST of the configured path: " + std::string(lines[0]));
        }
        for (std::size_t i = 1; i < lines.size(); ++i) {
            std::string_view l = lines[i];
            for (char c : l) {
                if (c == '\r' || c == '\n' || c == '\0')
                    return bad("CR, LF or NUL inside a header line");
            }
            auto colon = l.find(':');
            if (colon == std::string_view::npos || colon == 0)
                return bad("header line without a name");
            for (char c : l.substr(0, colon)) {
                if (!is_tchar(static_cast<unsigned char>(c)))
                    return bad("header name is not a token");
            }
            std::string_view v = l.substr(colon + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
            req.headers.emplace_back(std::string(l.substr(0, colon)), std::string(v));
        }
        auto all = [&](std::string_view name) {
            std::vector<std::string> out;
            for (auto& [k, v] : req.headers) {
                if (ieq(k, name)) out.push_back(v);
            }
            return out;
        };
        auto hosts = all("Host");
        if (hosts.size() != 1 || hosts[0] != host)
            return bad("Host is not exactly the configured one");
        auto auths = all("Authorization");
        if (auths.size() != 1 || auths[0] != auth)
            return bad("not exactly one Authorization with our key");
        auto cls = all("Content-Length");
        auto tes = all("Transfer-Encoding");
        if (cls.size() + tes.size() != 1) return bad("not exactly one framing header");
        if (cls.size() == 1) {
            const std::string& cl = cls[0];
            if (cl.empty() || cl.size() > 18 ||
                cl.find_first_not_of("0123456789") != std::string::npos) {
                return bad("bad Content-Length");
            }
            std::size_t n = std::stoull(cl);
            if (in.size() < n) {
                req.body.assign(in);
                res.requests.push_back(req);
                return res;  // cut short: must be the last bytes of the connection
            }
            req.body.assign(in.substr(0, n));
            in.remove_prefix(n);
            req.complete = true;
        } else {
            if (!ieq(tes[0], "chunked")) return bad("Transfer-Encoding other than chunked");
            for (;;) {
                auto nl = in.find("\r\n");
                if (nl == std::string_view::npos) {
                    res.requests.push_back(req);
                    return res;
                }
                std::string_view size_txt = in.substr(0, nl);
                if (size_txt.empty() || size_txt.size() > 15 ||
                    size_txt.find_first_not_of("0123456789abcdefABCDEF") !=
                        std::string_view::npos) {
                    return bad("bad chunk size line");
                }
                std::size_t n = std::stoull(std::string(size_txt), nullptr, 16);
                in.remove_prefix(nl + 2);
                if (n == 0) {
                    if (in.size() < 2) {
                        res.requests.push_back(req);
                        return res;
                    }
                    if (in.substr(0, 2) != "\r\n") return bad("trailers sent by the parent");
                    in.remove_prefix(2);
                    req.complete = true;
                    break;
                }
                if (in.size() < n + 2) {
                    req.body.append(in.substr(0, std::min(n, in.size())));
                    res.requests.push_back(req);
                    return res;
                }
                req.body.append(in.substr(0, n));
                if (in.substr(n, 2) != "\r\n") return bad("chunk not followed by CRLF");
                in.remove_prefix(n + 2);
            }
        }
        res.requests.push_back(req);
    }
    return res;
}

HeaderList codex_like_headers() {
    return {{"content-type", "application/json"},
            {"accept", "text/event-stream"},
            {"originator", "codex_cli_rs"},
            {"session-id", "0199a1b2-c3d4-7e5f-8a9b-000000000001"}};
}

std::string header_value(const ParsedRequest& r, std::string_view name) {
    for (auto& [k, v] : r.headers) {
        if (ieq(k, name)) return v;
    }
    return {};
}

// One hostile ReqOpen: the worker dies, no byte reaches the upstream.
void expect_open_refused(const HeaderList& headers, BodyFraming framing, std::uint64_t length) {
    Rig rig;
    rig.send_open(1, headers, framing, length);
    if (framing == BodyFraming::Length && length == 2) rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK_MESSAGE(rig.wait_killed(), "the worker was not killed with SIGKILL");
    rig.pump(100);
    CHECK(rig.upstream.total_bytes() == 0);
    CHECK(rig.upstream.connections() == 0);
    rig.check_upstream();
}

}  // namespace hostile_worker
