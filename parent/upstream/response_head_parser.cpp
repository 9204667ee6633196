#include "parent/upstream/response_head_parser.hpp"

#include "common/http_syntax.hpp"

namespace proxy {

namespace {

HttpError upstream_error(const char* message) {
    return {502, "upstream_protocol_error", message};
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]; the second
// SP is often missing in the wild ("HTTP/1.1 200"), so it is optional here.
std::optional<HttpError> parse_status_line(std::string_view line, ResponseHead& out) {
    auto version = http::parse_http_version(line.substr(0, 8));
    if (!version) return upstream_error("malformed status line");
    if (version->major != 1 || version->minor > 1) {
        return upstream_error("upstream HTTP version is not 1.0 or 1.1");
    }
    line.remove_prefix(8);
    if (line.size() < 4 || line[0] != ' ' || !is_digit(line[1]) || !is_digit(line[2]) ||
        !is_digit(line[3])) {
        return upstream_error("malformed status line");
    }
    int status = (line[1] - '0') * 100 + (line[2] - '0') * 10 + (line[3] - '0');
    if (status < 100 || status > 599) return upstream_error("status code out of range");
    line.remove_prefix(4);
    if (!line.empty()) {
        if (line[0] != ' ') return upstream_error("malformed status line");
        line.remove_prefix(1);
    }
    // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
    if (!http::is_field_value(line)) return upstream_error("control character in reason phrase");
    out.version_minor = version->minor;
    out.status = status;
    out.reason.assign(line);
    return std::nullopt;
}

struct TransferCodingScan {
    std::size_t lines = 0;
    bool all_valid = true;
    std::size_t chunked = 0;  // members that are exactly "chunked"
    bool final_is_chunked = false;
};

TransferCodingScan scan_transfer_coding(const HeaderList& headers) {
    TransferCodingScan scan;
    for (const auto& h : headers) {
        if (!iequals(h.name, "Transfer-Encoding")) continue;
        ++scan.lines;
        http::for_each_list_member(h.value, [&](std::string_view member) {
            // transfer-coding = token *( OWS ";" OWS transfer-parameter ); the
            // parameters do not matter for framing, the name must be a token.
            if (!http::is_token(http::trim_ows(member.substr(0, member.find(';'))))) {
                scan.all_valid = false;
            }
            scan.final_is_chunked = iequals(member, "chunked");
            if (scan.final_is_chunked) ++scan.chunked;
        });
    }
    return scan;
}

// RFC 9112 6.3, in its order.
std::optional<HttpError> decide_framing(ResponseHead& head) {
    if (head.status < 200 || head.status == 204 || head.status == 304) {
        head.framing = BodyFraming::None;
        return std::nullopt;
    }
    auto te = scan_transfer_coding(head.headers);
    auto cl = http::scan_content_length(head.headers);
    if (te.lines > 0) {
        // 6.3 item 3 calls HTTP/1.0 + Transfer-Encoding faulty framing.
        if (head.version_minor == 0) return upstream_error("Transfer-Encoding in HTTP/1.0");
        if (!te.all_valid) return upstream_error("invalid Transfer-Encoding");
        if (te.chunked > 1) return upstream_error("chunked applied more than once");
        // Transfer-Encoding overrides Content-Length, but such a connection's
        // framing is suspect: never reuse it.
        if (cl.lines > 0) head.keep_alive = false;
        if (te.final_is_chunked) {
            head.framing = BodyFraming::Chunked;
        } else {
            head.framing = BodyFraming::UntilClose;
            head.keep_alive = false;
        }
        return std::nullopt;
    }
    if (cl.lines > 0) {
        if (!cl.all_valid) return upstream_error("invalid Content-Length");
        if (!cl.all_equal) return upstream_error("conflicting Content-Length values");
        head.framing = BodyFraming::Length;
        head.content_length = cl.value;
        return std::nullopt;
    }
    head.framing = BodyFraming::UntilClose;
    head.keep_alive = false;
    return std::nullopt;
}

}  // namespace

std::optional<HttpError> parse_response_head(std::string_view block, const HeadLimits& limits,
                                             ResponseHead& out) {
    out = ResponseHead{};
    std::string_view status_line;
    if (auto f = http::split_head(block, limits, status_line, out.headers);
        f != http::HeadFault::None) {
        return upstream_error(http::head_fault_message(f));
    }
    if (auto e = parse_status_line(status_line, out)) return e;
    out.keep_alive = http::wants_keep_alive(out.version_minor, out.headers);
    return decide_framing(out);
}

}  // namespace proxy
