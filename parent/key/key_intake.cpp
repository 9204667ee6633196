#include "parent/key/key_intake.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/exit_codes.hpp"

namespace proxy {

namespace {

bool is_key_byte(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

KeyIntakeError fail(KeyPage& page, KeyIntakeError error) {
    page.wipe();
    return error;
}

}  // namespace

KeyIntakeError read_key(KeyPage& page, const KeyReadFn& read_fn, int* read_errno) {
    if (read_errno != nullptr) *read_errno = 0;
    std::span<char> buf = page.writable();
    if (buf.size() < kKeyBufferSize) {
        // A sealed or moved-from page: nothing can be read into it.
        if (read_errno != nullptr) *read_errno = EINVAL;
        return KeyIntakeError::ReadError;
    }
    page.wipe();  // start from a clean page so nothing stale survives next to the key
    std::memcpy(buf.data(), kBearerPrefix.data(), kBearerPrefix.size());

    const std::size_t prefix_len = kBearerPrefix.size();
    const std::size_t capacity = kKeyBufferSize - prefix_len;
    std::size_t total_read = 0;
    bool saw_newline = false;
    bool saw_eof = false;

    while (total_read < capacity) {
        char* slot = buf.data() + prefix_len + total_read;
        const std::size_t room = capacity - total_read;
        const ssize_t n = read_fn(slot, room);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (read_errno != nullptr) *read_errno = errno;
            return fail(page, KeyIntakeError::ReadError);
        }
        if (static_cast<std::size_t>(n) > room) {
            // A reader that claims more than it was given broke its contract;
            // the page tail may hold garbage, so treat it as a read failure.
            if (read_errno != nullptr) *read_errno = EIO;
            return fail(page, KeyIntakeError::ReadError);
        }
        if (n == 0) {
            saw_eof = true;
            break;
        }
        // Only the newly read bytes are searched, as in the original.
        const auto got = static_cast<std::size_t>(n);
        if (const void* nl = std::memchr(slot, '\n', got); nl != nullptr) {
            total_read += static_cast<std::size_t>(static_cast<const char*>(nl) - slot) + 1;
            saw_newline = true;
            break;
        }
        total_read += got;
    }

    if (total_read == capacity && !saw_newline && !saw_eof) {
        return fail(page, KeyIntakeError::TooLarge);
    }

    std::size_t total = prefix_len + total_read;
    while (total > prefix_len && (buf[total - 1] == '\n' || buf[total - 1] == '\r')) --total;
    // Whatever followed the key (the trimmed CR/LF, bytes after the newline
    // from the same read) must not linger in the page.
    explicit_bzero(buf.data() + total, buf.size() - total);

    if (total == prefix_len) return fail(page, KeyIntakeError::Missing);
    for (std::size_t i = prefix_len; i < total; ++i) {
        if (!is_key_byte(buf[i])) return fail(page, KeyIntakeError::Invalid);
    }
    page.set_length(total);
    return KeyIntakeError::None;
}

KeyIntakeError read_key_from_fd(KeyPage& page, int fd, int* read_errno) {
    return read_key(
        page, [fd](char* buf, std::size_t len) { return ::read(fd, buf, len); }, read_errno);
}

const char* key_intake_message(KeyIntakeError error) {
    switch (error) {
        case KeyIntakeError::None:
            return "";
        case KeyIntakeError::Missing:
            return "API key must be provided via stdin (e.g. printenv OPENAI_API_KEY | codex "
                   "responses-api-proxy)";
        case KeyIntakeError::TooLarge:
            return "API key is too large to fit in the 1024-byte buffer";
        case KeyIntakeError::Invalid:
            return "API key may only contain ASCII letters, numbers, '-' or '_'";
        case KeyIntakeError::ReadError:
            return "failed to read API key: ";
    }
    return "";
}

int key_intake_exit_code(KeyIntakeError error) {
    switch (error) {
        case KeyIntakeError::None:
            return exit_code::ok;
        case KeyIntakeError::Missing:
            return exit_code::key_missing;
        case KeyIntakeError::TooLarge:
            return exit_code::key_too_large;
        case KeyIntakeError::Invalid:
            return exit_code::key_invalid;
        case KeyIntakeError::ReadError:
            return exit_code::key_read_error;
    }
    return exit_code::runtime;
}

}  // namespace proxy
