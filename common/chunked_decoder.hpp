// Incremental decoder of the chunked transfer coding (RFC 9112 7.1). Pure: no
// I/O, no copies of body data. Used by the worker on client request bodies and
// by the parent on upstream response bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_error.hpp"

namespace proxy {

class ChunkedDecoder {
  public:
    enum class Status { NeedMore, Data, Done, Error };

    static constexpr std::size_t kDefaultMaxTrailerBytes = 8 * 1024;
    // A chunk-size line: the size and its extensions, without the CRLF.
    static constexpr std::size_t kDefaultMaxLineBytes = 1024;
    // No chunk and no body may exceed this (parse_decimal's bound for
    // Content-Length): far beyond any real body, far below overflow.
    static constexpr std::uint64_t kMaxBodyBytes = std::uint64_t{1} << 62;

    explicit ChunkedDecoder(std::size_t max_trailer_bytes = kDefaultMaxTrailerBytes,
                            std::size_t max_line_bytes = kDefaultMaxLineBytes);

    // Consumes a prefix of `in`, `consumed` bytes long, and returns:
    //  Data:     `data` is a non-empty slice of `in` with body bytes, ending at
    //            in[consumed]; call again with the rest of `in`.
    //  NeedMore: all of `in` was consumed; feed more input.
    //  Done:     the last chunk and the trailer section are complete; `consumed`
    //            stops right after the final CRLF, so pipelined bytes that follow
    //            stay with the caller. Later calls consume nothing.
    //  Error:    bad syntax or a limit; see error(). Later calls fail the same way.
    Status feed(std::string_view in, std::size_t& consumed, std::string_view& data);

    const HttpError& error() const { return error_; }
    // Body bytes returned so far (chunk data only).
    std::uint64_t body_bytes() const { return body_bytes_; }
    bool done() const { return state_ == State::Done; }

  private:
    enum class State {
        SizeStart,     // first hex digit of a chunk-size
        Size,          // more hex digits, ';' or CR
        Extension,     // chunk-ext bytes up to CR, kept in line_ for checking
        SizeLf,        // LF ending the chunk-size line
        Data,          // chunk-data, remaining_ bytes left
        DataCr,        // CR after chunk-data
        DataLf,        // LF after chunk-data
        TrailerStart,  // a trailer field line or the final CRLF
        Trailer,       // a trailer field line, kept in line_ for checking
        TrailerLf,     // LF ending a trailer field line
        FinalLf,       // LF of the final CRLF
        Done,
        Error,
    };

    Status fail(const char* code, const char* message);
    bool end_size_line();  // chunk-size line complete: check extensions, pick the next state

    std::size_t max_trailer_bytes_;
    std::size_t max_line_bytes_;
    State state_ = State::SizeStart;
    std::uint64_t chunk_size_ = 0;
    std::uint64_t remaining_ = 0;
    std::uint64_t body_bytes_ = 0;
    std::size_t line_bytes_ = 0;     // bytes of the current chunk-size line so far
    std::size_t trailer_bytes_ = 0;  // bytes of the trailer section so far
    std::string line_;               // chunk-ext or trailer line being checked
    HttpError error_{0, "", ""};
};

}  // namespace proxy
