// Response head parser: no crash on any input, and every accepted head obeys
// the framing rules and survives a round trip through a re-serialization.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_syntax.hpp"
#include "parent/upstream/response_head_parser.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace proxy;

namespace {

constexpr HeadLimits kLimits{4096, 32};

void check_error(const HttpError& e) {
    FUZZ_CHECK(e.status == 502);
    FUZZ_CHECK(std::string_view(e.code) == "upstream_protocol_error");
    FUZZ_CHECK(e.message != nullptr && e.message[0] != '\0');
}

void check_accepted(const ResponseHead& h) {
    FUZZ_CHECK(h.status >= 100 && h.status <= 599);
    FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
    FUZZ_CHECK(http::is_field_value(h.reason));
    for (const auto& f : h.headers) {
        FUZZ_CHECK(http::is_token(f.name));
        FUZZ_CHECK(http::is_field_value(f.value));
    }
    bool bodiless = h.status < 200 || h.status == 204 || h.status == 304;
    FUZZ_CHECK(bodiless == (h.framing == BodyFraming::None));
    if (h.framing == BodyFraming::UntilClose) FUZZ_CHECK(!h.keep_alive);
    if (h.framing == BodyFraming::Chunked) FUZZ_CHECK(h.version_minor == 1);
    if (h.framing != BodyFraming::Length) FUZZ_CHECK(h.content_length == 0);
    if (http::list_contains_token(h.headers, "Connection", "close")) FUZZ_CHECK(!h.keep_alive);
}

std::string serialize(const ResponseHead& h) {
    std::string status = std::to_string(h.status);
    std::string out = "HTTP/1." + std::to_string(h.version_minor) + " " + status + " " + h.reason;
    out += "\r\n";
    for (const auto& f : h.headers) out += f.name + ": " + f.value + "\r\n";
    out += "\r\n";
    return out;
}

bool same(const ResponseHead& a, const ResponseHead& b) {
    if (a.headers.size() != b.headers.size()) return false;
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
            return false;
        }
    }
    return a.status == b.status && a.reason == b.reason && a.version_minor == b.version_minor &&
           a.framing == b.framing && a.content_length == b.content_length &&
           a.keep_alive == b.keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    ResponseHead head;
    if (auto e = parse_response_head(in, kLimits, head)) check_error(*e);

    std::size_t end = find_head_end(in);
    FUZZ_CHECK(end <= in.size());
    if (end == 0) return 0;
    if (auto e = parse_response_head(in.substr(0, end), kLimits, head)) {
        check_error(*e);
        return 0;
    }
    check_accepted(head);
    std::string again = serialize(head);
    ResponseHead reparsed;
    FUZZ_CHECK(!parse_response_head(again, {again.size(), kLimits.max_headers}, reparsed));
    FUZZ_CHECK(same(head, reparsed));
    return 0;
}
