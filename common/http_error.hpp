// What an HTTP framing parser reports when it refuses input, and the limits
// the head parsers enforce. Shared by the worker (client requests) and the
// parent (upstream responses).
#pragma once

#include <cstddef>

namespace proxy {

struct HttpError {
    int status;           // the status to answer with (4xx/5xx)
    const char* code;     // short snake_case machine code, static storage
    const char* message;  // one human sentence, static storage, never echoes input
};

struct HeadLimits {
    std::size_t max_head_bytes = 16 * 1024;  // start line + fields + final CRLFCRLF
    std::size_t max_headers = 100;           // header field lines
};

}  // namespace proxy
