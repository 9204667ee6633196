// Syntax shared by the request head parser (worker) and the response head
// parser (parent): finding the end of a head, splitting it into a start line
// and field lines, the HTTP-version token, Content-Length and keep-alive.
// Pure functions; each parser maps a HeadFault to its own HttpError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/http_error.hpp"
#include "common/http_syntax.hpp"
#include "common/http_types.hpp"

namespace proxy::http {

// Length of the head at the start of `buf` up to and including the empty line
// that ends it (normally CRLFCRLF), or 0 while no empty line has arrived. An
// empty line written with a bare LF also ends the head, so that a peer using
// bare LFs gets a prompt 400 from the strict parser instead of a wait for the
// size limit or a timeout.
std::size_t find_head_end(std::string_view buf);

enum class HeadFault : std::uint8_t {
    None,
    TooLarge,          // block longer than HeadLimits::max_head_bytes
    TooManyFields,     // more field lines than HeadLimits::max_headers
    BadLineEnding,     // a bare CR or a bare LF
    NotOneHead,        // the block does not end at its first empty line
    EmptyStartLine,    // the block starts with an empty line
    ObsFold,           // a field line starting with SP or HTAB
    MissingColon,      // a field line without ':'
    BadFieldName,      // empty or not a token
    SpaceBeforeColon,  // "Name :" (RFC 9112 5.1 requires 400)
    BadFieldValue,     // a control character (NUL, DEL, ...) in a value
};

// A sentence describing the fault, for HttpError::message.
const char* head_fault_message(HeadFault f);

// One field line without its CRLF: name ":" OWS value OWS. On success `out`
// holds the name as received and the value with OWS trimmed.
HeadFault parse_field_line(std::string_view line, Header& out);

// Splits a complete head, as delimited by find_head_end, into its start line
// (without CRLF) and its field lines, appended to `fields`.
HeadFault split_head(std::string_view block, const HeadLimits& limits, std::string_view& start_line,
                     HeaderList& fields);

struct HttpVersion {
    int major = 0;
    int minor = 0;
};
// "HTTP/" DIGIT "." DIGIT exactly (HTTP-name is case-sensitive); nullopt when
// malformed.
std::optional<HttpVersion> parse_http_version(std::string_view s);

// Calls f(member) for each comma-separated member of a list value, OWS
// trimmed; empty members are passed too, so callers can refuse them.
template <typename F>
void for_each_list_member(std::string_view value, F&& f) {
    for (;;) {
        auto comma = value.find(',');
        f(trim_ows(value.substr(0, comma)));
        if (comma == std::string_view::npos) return;
        value.remove_prefix(comma + 1);
    }
}

// Every Content-Length field line and list member of a head.
struct ContentLengthScan {
    std::size_t lines = 0;    // field lines named Content-Length
    std::size_t members = 0;  // comma-separated values over all those lines
    bool all_valid = true;    // every member is 1*DIGIT within parse_decimal's range
    bool all_equal = true;    // every member has the same value
    std::uint64_t value = 0;  // the first member's value when all_valid
};
ContentLengthScan scan_content_length(const HeaderList& headers);

// Number of field lines named `name` (case-insensitive).
std::size_t count_fields(const HeaderList& headers, std::string_view name);

// May the connection carry another message after this one? HTTP/1.1: yes
// unless "Connection: close"; HTTP/1.0: only with "Connection: keep-alive".
bool wants_keep_alive(int version_minor, const HeaderList& headers);

}  // namespace proxy::http
