#include "worker/request_head_parser.hpp"

#include "common/http_syntax.hpp"

namespace proxy {

namespace {

using http::HeadFault;

constexpr const char* kBadRequestLine = "bad_request_line";
constexpr const char* kBadHeader = "bad_header";
constexpr const char* kBadHost = "bad_host";
constexpr const char* kBadFraming = "bad_framing";

HttpError bad_request_line(const char* message) {
    return {400, kBadRequestLine, message};
}
HttpError bad_host(const char* message) {
    return {400, kBadHost, message};
}
HttpError bad_framing(const char* message) {
    return {400, kBadFraming, message};
}

HttpError from_fault(HeadFault f) {
    const char* message = http::head_fault_message(f);
    switch (f) {
        case HeadFault::TooLarge:
            return {431, "request_header_too_large", message};
        case HeadFault::TooManyFields:
            return {431, "too_many_headers", message};
        case HeadFault::BadLineEnding:
            return {400, "bad_line_ending", message};
        case HeadFault::NotOneHead:
        case HeadFault::EmptyStartLine:
            return bad_request_line(message);
        default:
            return {400, kBadHeader, message};
    }
}

// origin-form = absolute-path [ "?" query ]: visible ASCII only; '#' never
// travels in a request. Percent-encoding and path segments are policy's job.
bool is_origin_form(std::string_view target) {
    if (target.empty() || target.front() != '/') return false;
    for (unsigned char c : target) {
        if (c < 0x21 || c > 0x7e || c == '#') return false;
    }
    return true;
}

// uri-host [ ":" port ] character set. ',' is a sub-delim that no host we
// serve contains; refusing it keeps "Host: a, b" from reading as a list.
bool is_host_value(std::string_view v) {
    if (v.empty()) return false;
    for (unsigned char c : v) {
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (alnum) continue;
        switch (c) {
            case '-':
            case '.':
            case '_':
            case '~':
            case '!':
            case '$':
            case '&':
            case '\'':
            case '(':
            case ')':
            case '*':
            case '+':
            case ';':
            case '=':
            case ':':
            case '[':
            case ']':
            case '%':
                continue;
            default:
                return false;
        }
    }
    return true;
}

// request-line = method SP request-target SP HTTP-version, single spaces.
std::optional<HttpError> parse_request_line(std::string_view line, RequestHead& out) {
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return bad_request_line("request line must be: method SP target SP version");
    }
    std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto version = http::parse_http_version(line.substr(sp2 + 1));
    // The version first: an HTTP/2 preface ("PRI * HTTP/2.0") deserves 505.
    if (!version) return bad_request_line("malformed HTTP version");
    if (version->major != 1 || version->minor > 1) {
        return HttpError{505, "http_version_not_supported",
                         "only HTTP/1.0 and HTTP/1.1 are supported"};
    }
    if (!http::is_token(method)) return bad_request_line("method is not a token");
    if (!is_origin_form(target)) {
        return bad_request_line("request target must be an absolute path (origin-form)");
    }
    out.method.assign(method);
    out.target.assign(target);
    out.version_minor = version->minor;
    return std::nullopt;
}

std::optional<HttpError> check_host(const RequestHead& head) {
    std::size_t hosts = http::count_fields(head.headers, "Host");
    if (hosts > 1) return bad_host("more than one Host header field");
    if (hosts == 0) {
        if (head.version_minor == 1) return bad_host("HTTP/1.1 request without Host");
        return std::nullopt;
    }
    if (!is_host_value(find_header(head.headers, "Host")->value)) {
        return bad_host("invalid Host header field value");
    }
    return std::nullopt;
}

// Exactly one way to find the end of the body, or a refusal: anything else is
// the raw material of request smuggling.
std::optional<HttpError> decide_framing(RequestHead& head) {
    std::size_t te_lines = http::count_fields(head.headers, "Transfer-Encoding");
    auto cl = http::scan_content_length(head.headers);
    if (te_lines > 0 && cl.lines > 0) {
        return bad_framing("both Content-Length and Transfer-Encoding");
    }
    if (te_lines > 0) {
        if (head.version_minor == 0) return bad_framing("Transfer-Encoding in an HTTP/1.0 request");
        if (te_lines > 1 ||
            !iequals(find_header(head.headers, "Transfer-Encoding")->value, "chunked")) {
            return bad_framing("Transfer-Encoding must be exactly \"chunked\"");
        }
        head.framing = BodyFraming::Chunked;
        return std::nullopt;
    }
    if (cl.lines > 0) {
        if (cl.lines > 1 || cl.members > 1) return bad_framing("more than one Content-Length");
        if (!cl.all_valid) return bad_framing("invalid Content-Length");
        head.framing = BodyFraming::Length;
        head.content_length = cl.value;
        return std::nullopt;
    }
    head.framing = BodyFraming::None;
    return std::nullopt;
}

std::optional<HttpError> check_expect(RequestHead& head) {
    bool any = false;
    for (const auto& h : head.headers) {
        if (!iequals(h.name, "Expect")) continue;
        if (!iequals(h.value, "100-continue")) {
            return HttpError{417, "expectation_failed", "only Expect: 100-continue is supported"};
        }
        any = true;
    }
    // RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
    head.expect_continue = any && head.version_minor == 1;
    return std::nullopt;
}

}  // namespace

std::optional<HttpError> parse_request_head(std::string_view block, const HeadLimits& limits,
                                            RequestHead& out) {
    out = RequestHead{};
    std::string_view request_line;
    if (auto f = http::split_head(block, limits, request_line, out.headers); f != HeadFault::None) {
        return from_fault(f);
    }
    if (auto e = parse_request_line(request_line, out)) return e;
    if (auto e = check_host(out)) return e;
    if (auto e = decide_framing(out)) return e;
    if (auto e = check_expect(out)) return e;
    out.keep_alive = http::wants_keep_alive(out.version_minor, out.headers);
    return std::nullopt;
}

}  // namespace proxy
