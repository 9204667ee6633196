#include "parent/oidc/oidc_intake.hpp"

#include <cerrno>
#include <cstring>
#include <string_view>

namespace proxy {

namespace {

bool is_token_byte(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

OidcIntakeError fail(KeyPage& page, OidcIntakeError error) {
    page.wipe();
    return error;
}

}  // namespace

bool is_bearer_token(std::string_view token) {
    if (token.empty()) return false;
    for (char c : token) {
        if (!is_token_byte(c)) return false;
    }
    return true;
}

OidcIntakeError read_oidc_request_token(KeyPage& page, const KeyReadFn& read_fn, int* read_errno) {
    if (read_errno != nullptr) *read_errno = 0;
    std::span<char> buf = page.writable();
    // As the original: up to the longest token plus CR LF is read; when that
    // fills without a newline the input is "too large", while a line that
    // fits but is longer than a token (or has other bytes) is "invalid".
    const std::size_t capacity = kOidcRequestTokenMax + 2;
    if (buf.size() < kBearerPrefix.size() + capacity) {
        if (read_errno != nullptr) *read_errno = EINVAL;
        return OidcIntakeError::ReadError;
    }
    page.wipe();
    std::memcpy(buf.data(), kBearerPrefix.data(), kBearerPrefix.size());
    char* const start = buf.data() + kBearerPrefix.size();
    std::size_t total = 0;
    bool ended = false;
    while (!ended) {
        // Full without a newline: "too large", as the original (measured).
        if (total == capacity) return fail(page, OidcIntakeError::TooLarge);
        const ssize_t n = read_fn(start + total, capacity - total);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (read_errno != nullptr) *read_errno = errno;
            return fail(page, OidcIntakeError::ReadError);
        }
        if (static_cast<std::size_t>(n) > capacity - total) {
            if (read_errno != nullptr) *read_errno = EIO;
            return fail(page, OidcIntakeError::ReadError);
        }
        if (n == 0) break;
        if (const void* nl = std::memchr(start + total, '\n', static_cast<std::size_t>(n))) {
            total = static_cast<std::size_t>(static_cast<const char*>(nl) - start) + 1;
            ended = true;
        } else {
            total += static_cast<std::size_t>(n);
        }
    }
    while (total > 0 && (start[total - 1] == '\n' || start[total - 1] == '\r')) --total;
    // Whatever followed the token must not linger next to it.
    explicit_bzero(start + total, buf.size() - kBearerPrefix.size() - total);
    if (total > kOidcRequestTokenMax || !is_bearer_token({start, total}))
        return fail(page, OidcIntakeError::Invalid);
    page.set_length(kBearerPrefix.size() + total);
    return OidcIntakeError::None;
}

const char* oidc_intake_message(OidcIntakeError error) {
    switch (error) {
        case OidcIntakeError::None:
            return "";
        case OidcIntakeError::Invalid:
            return "invalid workload identity bearer credential";
        case OidcIntakeError::TooLarge:
            return "GitHub OIDC request credential too large";
        case OidcIntakeError::ReadError:
            return "could not read GitHub OIDC request credential from stdin";
    }
    return "";
}

}  // namespace proxy
