// Reads the GitHub Actions OIDC request token (--github-oidc) into a locked
// page as "Bearer <token>", the way key intake reads an API key: raw read(2),
// a newline or EOF ends it, CR/LF trimmed, nothing staged elsewhere. The token
// may hold only [A-Za-z0-9-._~+/=] (RFC 6750's b64token characters, '='
// anywhere), as the original requires (measured).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/secret_page.hpp"
#include "parent/key/key_intake.hpp"

namespace proxy {

enum class OidcIntakeError { None, Invalid, TooLarge, ReadError };

// The original refuses a request token longer than this (measured).
inline constexpr std::size_t kOidcRequestTokenMax = 16 * 1024;

// `page` must be writable and hold at least "Bearer " + kOidcRequestTokenMax
// + 2 bytes. On success it holds "Bearer <token>" (set_length done) and zeros;
// on any error it is wiped.
OidcIntakeError read_oidc_request_token(KeyPage& page, const KeyReadFn& read_fn,
                                        int* read_errno = nullptr);

// Non-empty, only [A-Za-z0-9-._~+/=]: what the original accepts as a bearer
// credential, for the request token and for the access token alike.
bool is_bearer_token(std::string_view token);

// The original's messages (exit status 1 for all of them, as the original).
const char* oidc_intake_message(OidcIntakeError error);

}  // namespace proxy
