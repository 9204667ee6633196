// Request head parser: no crash on any input, and every accepted head obeys
// the parser's promises and survives a round trip through a re-serialization.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_syntax.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "worker/request_head_parser.hpp"

using namespace proxy;

namespace {

constexpr HeadLimits kLimits{4096, 32};

void check_error(const HttpError& e) {
    FUZZ_CHECK(e.status == 400 || e.status == 417 || e.status == 431 || e.status == 505);
    FUZZ_CHECK(e.code != nullptr && e.code[0] != '\0');
    FUZZ_CHECK(e.message != nullptr && e.message[0] != '\0');
}

void check_accepted(const RequestHead& h) {
    FUZZ_CHECK(http::is_token(h.method));
    FUZZ_CHECK(!h.target.empty() && h.target[0] == '/');
    FUZZ_CHECK(h.target.find_first_of(" #\r\n") == std::string::npos);
    FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
    FUZZ_CHECK(h.headers.size() <= kLimits.max_headers);
    for (const auto& f : h.headers) {
        FUZZ_CHECK(http::is_token(f.name));
        FUZZ_CHECK(http::is_field_value(f.value));
        FUZZ_CHECK(http::trim_ows(f.value).size() == f.value.size());
    }
    std::size_t hosts = http::count_fields(h.headers, "Host");
    FUZZ_CHECK(hosts == 1 || (hosts == 0 && h.version_minor == 0));
    std::size_t te = http::count_fields(h.headers, "Transfer-Encoding");
    std::size_t cl = http::count_fields(h.headers, "Content-Length");
    FUZZ_CHECK(te + cl <= 1);
    switch (h.framing) {
        case BodyFraming::Chunked:
            FUZZ_CHECK(te == 1 && h.version_minor == 1);
            break;
        case BodyFraming::Length:
            FUZZ_CHECK(cl == 1);
            break;
        case BodyFraming::None:
            FUZZ_CHECK(te + cl == 0 && h.content_length == 0);
            break;
        case BodyFraming::UntilClose:
            FUZZ_CHECK(false);
            break;
    }
    if (h.expect_continue) FUZZ_CHECK(h.version_minor == 1);
}

std::string serialize(const RequestHead& h) {
    std::string out = h.method + " " + h.target + " HTTP/1." + std::to_string(h.version_minor);
    out += "\r\n";
    for (const auto& f : h.headers) out += f.name + ": " + f.value + "\r\n";
    out += "\r\n";
    return out;
}

bool same(const RequestHead& a, const RequestHead& b) {
    if (a.headers.size() != b.headers.size()) return false;
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
            return false;
        }
    }
    return a.method == b.method && a.target == b.target && a.version_minor == b.version_minor &&
           a.framing == b.framing && a.content_length == b.content_length &&
           a.keep_alive == b.keep_alive && a.expect_continue == b.expect_continue;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    RequestHead head;
    if (auto e = parse_request_head(in, kLimits, head)) check_error(*e);

    std::size_t end = find_head_end(in);
    FUZZ_CHECK(end <= in.size());
    if (end == 0) return 0;
    std::string_view block = in.substr(0, end);
    FUZZ_CHECK(find_head_end(block) == end);
    if (auto e = parse_request_head(block, kLimits, head)) {
        check_error(*e);
        return 0;
    }
    check_accepted(head);
    // Re-serialized with "name: value" the head may grow by one byte a line.
    std::string again = serialize(head);
    RequestHead reparsed;
    FUZZ_CHECK(!parse_request_head(again, {again.size(), kLimits.max_headers}, reparsed));
    FUZZ_CHECK(same(head, reparsed));
    return 0;
}
