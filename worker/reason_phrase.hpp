#pragma once

namespace proxy {
// Reason phrase for a status line; the client ignores it, humans read it.
const char* reason_phrase(int status);
}  // namespace proxy
