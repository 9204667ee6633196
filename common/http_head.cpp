#include "common/http_head.hpp"

#include <algorithm>

namespace proxy::http {

std::size_t find_head_end(std::string_view buf) {
    for (std::size_t lf = buf.find('\n'); lf != std::string_view::npos;
         lf = buf.find('\n', lf + 1)) {
        if (lf + 1 < buf.size() && buf[lf + 1] == '\n') return lf + 2;
        if (lf + 2 < buf.size() && buf[lf + 1] == '\r' && buf[lf + 2] == '\n') return lf + 3;
    }
    return 0;
}

const char* head_fault_message(HeadFault f) {
    switch (f) {
        case HeadFault::None:
            return "ok";
        case HeadFault::TooLarge:
            return "header section too large";
        case HeadFault::TooManyFields:
            return "too many header fields";
        case HeadFault::BadLineEnding:
            return "lines must end with CRLF (bare CR or LF found)";
        case HeadFault::NotOneHead:
            return "header section does not end with one empty line";
        case HeadFault::EmptyStartLine:
            return "empty line where the start line belongs";
        case HeadFault::ObsFold:
            return "obsolete line folding is not allowed";
        case HeadFault::MissingColon:
            return "header field line without a colon";
        case HeadFault::BadFieldName:
            return "header field name is not a token";
        case HeadFault::SpaceBeforeColon:
            return "whitespace between header field name and colon";
        case HeadFault::BadFieldValue:
            return "control character in header field value";
    }
    return "malformed header section";
}

HeadFault parse_field_line(std::string_view line, Header& out) {
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) return HeadFault::ObsFold;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return HeadFault::MissingColon;
    std::string_view name = line.substr(0, colon);
    if (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
        return HeadFault::SpaceBeforeColon;
    }
    if (!is_token(name)) return HeadFault::BadFieldName;
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (!is_field_value(value)) return HeadFault::BadFieldValue;
    out.name.assign(name);
    out.value.assign(value);
    return HeadFault::None;
}

namespace {

// Every CR is followed by LF and every LF preceded by CR.
bool only_crlf_line_endings(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
    }
    return true;
}

}  // namespace

HeadFault split_head(std::string_view block, const HeadLimits& limits, std::string_view& start_line,
                     HeaderList& fields) {
    if (block.size() > limits.max_head_bytes) return HeadFault::TooLarge;
    if (!only_crlf_line_endings(block)) return HeadFault::BadLineEnding;
    if (block.starts_with("\r\n")) return HeadFault::EmptyStartLine;
    // After the CRLF check, the first CRLFCRLF is the first empty line; it
    // must be the end of the block, or the caller delimited it wrongly.
    auto end = block.find("\r\n\r\n");
    if (end == std::string_view::npos || end + 4 != block.size()) return HeadFault::NotOneHead;

    auto eol = block.find("\r\n");
    start_line = block.substr(0, eol);
    std::size_t pos = eol + 2;
    const std::size_t fields_end = end + 2;  // one past the last field line's CRLF
    // One allocation for the list instead of one per doubling (4 or 5 for a
    // usual head); bounded by max_headers, so a hostile head reserves no more
    // than a legal one. Line endings are CRLF only (checked above), so each LF
    // ends one field line.
    const auto lines = static_cast<std::size_t>(
        std::count(block.begin() + static_cast<std::ptrdiff_t>(pos),
                   block.begin() + static_cast<std::ptrdiff_t>(fields_end), '\n'));
    fields.reserve(std::min(lines, limits.max_headers));
    std::size_t count = 0;
    while (pos < fields_end) {
        eol = block.find("\r\n", pos);
        if (++count > limits.max_headers) return HeadFault::TooManyFields;
        Header h;
        if (auto f = parse_field_line(block.substr(pos, eol - pos), h); f != HeadFault::None) {
            return f;
        }
        fields.push_back(std::move(h));
        pos = eol + 2;
    }
    return HeadFault::None;
}

std::optional<HttpVersion> parse_http_version(std::string_view s) {
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (s.size() != 8 || !s.starts_with("HTTP/") || !digit(s[5]) || s[6] != '.' || !digit(s[7])) {
        return std::nullopt;
    }
    return HttpVersion{s[5] - '0', s[7] - '0'};
}

ContentLengthScan scan_content_length(const HeaderList& headers) {
    ContentLengthScan scan;
    for (const auto& h : headers) {
        if (!iequals(h.name, "Content-Length")) continue;
        ++scan.lines;
        for_each_list_member(h.value, [&](std::string_view member) {
            auto v = parse_decimal(member);
            if (!v) {
                scan.all_valid = false;
            } else if (scan.members == 0) {
                scan.value = *v;
            } else if (*v != scan.value) {
                scan.all_equal = false;
            }
            ++scan.members;
        });
    }
    return scan;
}

std::size_t count_fields(const HeaderList& headers, std::string_view name) {
    std::size_t n = 0;
    for (const auto& h : headers) {
        if (iequals(h.name, name)) ++n;
    }
    return n;
}

bool wants_keep_alive(int version_minor, const HeaderList& headers) {
    if (list_contains_token(headers, "Connection", "close")) return false;
    if (version_minor == 0) return list_contains_token(headers, "Connection", "keep-alive");
    return true;
}

}  // namespace proxy::http
