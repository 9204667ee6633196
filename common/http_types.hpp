// Plain HTTP data types shared by worker (client side), parent (upstream side)
// and policy/. No I/O here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proxy {

struct Header {
    std::string name;   // as received (case preserved)
    std::string value;  // leading/trailing OWS stripped
};
using HeaderList = std::vector<Header>;

// How a message body is delimited on the wire.
enum class BodyFraming : std::uint8_t {
    None,        // no body
    Length,      // Content-Length: n
    Chunked,     // Transfer-Encoding: chunked
    UntilClose,  // responses only: read until the connection closes
};

struct RequestHead {
    std::string method;
    std::string target;     // request-target exactly as received
    int version_minor = 1;  // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
    HeaderList headers;
    BodyFraming framing = BodyFraming::None;
    std::uint64_t content_length = 0;  // valid when framing == Length
    bool keep_alive = true;            // after this exchange, per version + Connection
    bool expect_continue = false;      // "Expect: 100-continue"
};

struct ResponseHead {
    int status = 0;
    std::string reason;
    int version_minor = 1;
    HeaderList headers;
    BodyFraming framing = BodyFraming::None;
    std::uint64_t content_length = 0;
    bool keep_alive = true;  // may the upstream connection be reused afterwards
};

// Case-insensitive ASCII comparison for header names.
bool iequals(std::string_view a, std::string_view b);

// First header with this name (case-insensitive), or nullptr.
const Header* find_header(const HeaderList& headers, std::string_view name);

}  // namespace proxy
