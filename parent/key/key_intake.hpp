// Reads the API key into the locked KeyPage, with the semantics of the
// original proxy's read_auth_header_with(): a 1024-byte buffer that starts
// with "Bearer ", short reads are fine, a newline or EOF ends the key, CR/LF
// is trimmed, only [A-Za-z0-9_-] is accepted. Nothing is staged elsewhere.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string_view>

#include "common/secret_page.hpp"

namespace proxy {

enum class KeyIntakeError { None, Missing, TooLarge, Invalid, ReadError };

// The original's buffer: "Bearer " + at most 1017 bytes of input. Because the
// buffer must not fill up, the longest key accepted is 1016 bytes.
inline constexpr std::size_t kKeyBufferSize = 1024;
// What a page holds before the key or token: the header value's scheme.
inline constexpr std::string_view kBearerPrefix = "Bearer ";

// Like read(2): bytes read, 0 at EOF, or -1 with errno set.
using KeyReadFn = std::function<ssize_t(char* buf, std::size_t len)>;

// On success the page holds "Bearer <key>" (set_length done) and every other
// byte of the page is zero. On any error the whole page is wiped. EINTR is
// retried; another read error stores its errno in *read_errno.
KeyIntakeError read_key(KeyPage& page, const KeyReadFn& read_fn, int* read_errno = nullptr);
// The same, from a file descriptor with raw read(2) (no stdio buffering,
// which would keep a copy of the key).
KeyIntakeError read_key_from_fd(KeyPage& page, int fd, int* read_errno = nullptr);

// The original's messages; for ReadError the caller appends strerror(errno).
const char* key_intake_message(KeyIntakeError error);
// Exit status from common/exit_codes.hpp.
int key_intake_exit_code(KeyIntakeError error);

}  // namespace proxy
