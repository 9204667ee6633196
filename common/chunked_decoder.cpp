#include "common/chunked_decoder.hpp"

#include <algorithm>

#include "common/ascii.hpp"
#include "common/http_head.hpp"
#include "common/http_syntax.hpp"

namespace proxy {

namespace {

bool is_ws(char c) {
    return c == ' ' || c == '\t';
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, starting at s[i].
bool skip_quoted_string(std::string_view s, std::size_t& i) {
    ++i;  // opening DQUOTE
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') {
            ++i;
            return true;
        }
        if (c == '\\') {
            if (++i == s.size()) return false;
            c = static_cast<unsigned char>(s[i]);
        }
        if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
        ++i;
    }
    return false;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// chunk-ext-val = token / quoted-string. Extensions carry nothing we use; the
// check only keeps garbage from hiding in them.
bool is_chunk_ext(std::string_view s) {
    std::size_t i = 0;
    auto skip_ws = [&] {
        while (i < s.size() && is_ws(s[i])) ++i;
    };
    auto skip_token = [&] {
        std::size_t start = i;
        while (i < s.size() && http::is_tchar(static_cast<unsigned char>(s[i]))) ++i;
        return i > start;
    };
    while (i < s.size()) {
        skip_ws();
        if (i == s.size() || s[i] != ';') return false;
        ++i;
        skip_ws();
        if (!skip_token()) return false;
        skip_ws();
        if (i < s.size() && s[i] == '=') {
            ++i;
            skip_ws();
            if (i < s.size() && s[i] == '"') {
                if (!skip_quoted_string(s, i)) return false;
            } else if (!skip_token()) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace

ChunkedDecoder::ChunkedDecoder(std::size_t max_trailer_bytes, std::size_t max_line_bytes)
    : max_trailer_bytes_(max_trailer_bytes), max_line_bytes_(max_line_bytes) {}

ChunkedDecoder::Status ChunkedDecoder::fail(const char* code, const char* message) {
    state_ = State::Error;
    error_ = HttpError{400, code, message};
    line_.clear();
    return Status::Error;
}

bool ChunkedDecoder::end_size_line() {
    if (!line_.empty() && !is_chunk_ext(line_)) {
        fail("bad_chunk_extension", "malformed chunk extension");
        return false;
    }
    line_.clear();
    if (chunk_size_ > kMaxBodyBytes - body_bytes_) {
        fail("chunked_body_too_large", "chunked body exceeds the size limit");
        return false;
    }
    remaining_ = chunk_size_;
    state_ = chunk_size_ == 0 ? State::TrailerStart : State::Data;
    return true;
}

ChunkedDecoder::Status ChunkedDecoder::feed(std::string_view in, std::size_t& consumed,
                                            std::string_view& data) {
    consumed = 0;
    data = {};
    if (state_ == State::Done) return Status::Done;
    if (state_ == State::Error) return Status::Error;

    std::size_t i = 0;
    auto failed = [&](const char* code, const char* message) {
        consumed = i;
        return fail(code, message);
    };
    while (i < in.size()) {
        const char c = in[i];
        switch (state_) {
            case State::SizeStart: {
                int d = hex_digit_value(c);
                if (d < 0) return failed("bad_chunk_size", "chunk size is not a hex number");
                chunk_size_ = static_cast<std::uint64_t>(d);
                line_bytes_ = 1;
                state_ = State::Size;
                break;
            }
            case State::Size: {
                if (++line_bytes_ > max_line_bytes_) {
                    return failed("chunk_line_too_long", "chunk size line too long");
                }
                int d = hex_digit_value(c);
                if (d >= 0) {
                    if (chunk_size_ > (kMaxBodyBytes - static_cast<std::uint64_t>(d)) / 16) {
                        return failed("chunk_size_too_large", "chunk size too large");
                    }
                    chunk_size_ = chunk_size_ * 16 + static_cast<std::uint64_t>(d);
                } else if (c == ';') {
                    line_.assign(1, c);
                    state_ = State::Extension;
                } else if (c == '\r') {
                    state_ = State::SizeLf;
                } else if (c == '\n') {
                    return failed("bad_line_ending", "chunk size line must end with CRLF");
                } else {
                    // Whitespace, signs, "0x" and the like: strict, so that no
                    // two parsers can disagree about the size.
                    return failed("bad_chunk_size", "chunk size is not a hex number");
                }
                break;
            }
            case State::Extension:
                if (c == '\r') {
                    state_ = State::SizeLf;
                } else if (c == '\n') {
                    return failed("bad_line_ending", "chunk size line must end with CRLF");
                } else if (++line_bytes_ > max_line_bytes_) {
                    return failed("chunk_line_too_long", "chunk size line too long");
                } else {
                    line_.push_back(c);
                }
                break;
            case State::SizeLf:
                if (c != '\n')
                    return failed("bad_line_ending", "chunk size line must end with CRLF");
                ++i;
                if (!end_size_line()) {
                    consumed = i;
                    return Status::Error;
                }
                continue;
            case State::Data: {
                auto n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
                data = in.substr(i, n);
                remaining_ -= n;
                body_bytes_ += n;
                i += n;
                if (remaining_ == 0) state_ = State::DataCr;
                consumed = i;
                return Status::Data;
            }
            case State::DataCr:
            case State::DataLf:
                if (c != (state_ == State::DataCr ? '\r' : '\n')) {
                    return failed("bad_chunk_terminator", "chunk data must be followed by CRLF");
                }
                state_ = state_ == State::DataCr ? State::DataLf : State::SizeStart;
                break;
            case State::TrailerStart:
            case State::Trailer:
                if (c == '\r') {
                    state_ = state_ == State::TrailerStart ? State::FinalLf : State::TrailerLf;
                    break;
                }
                if (c == '\n') return failed("bad_line_ending", "trailer line must end with CRLF");
                if (++trailer_bytes_ > max_trailer_bytes_) {
                    return failed("trailer_too_large", "chunked trailer section too large");
                }
                line_.push_back(c);
                state_ = State::Trailer;
                break;
            case State::TrailerLf: {
                if (c != '\n') return failed("bad_line_ending", "trailer line must end with CRLF");
                Header discarded;
                if (http::parse_field_line(line_, discarded) != http::HeadFault::None) {
                    return failed("bad_trailer", "malformed trailer field line");
                }
                line_.clear();
                // The CRLF counts too, so the limit is the section's size on the wire.
                trailer_bytes_ += 2;
                if (trailer_bytes_ > max_trailer_bytes_) {
                    return failed("trailer_too_large", "chunked trailer section too large");
                }
                state_ = State::TrailerStart;
                break;
            }
            case State::FinalLf:
                if (c != '\n') return failed("bad_line_ending", "chunked body must end with CRLF");
                state_ = State::Done;
                consumed = i + 1;
                return Status::Done;
            case State::Done:
            case State::Error:
                break;  // unreachable: handled before the loop
        }
        ++i;
    }
    consumed = i;
    return Status::NeedMore;
}

}  // namespace proxy
