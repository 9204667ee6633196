// Documented exit statuses (README "Exit status", man page EXIT STATUS).
#pragma once

namespace proxy::exit_code {

inline constexpr int ok = 0;             // clean exit: /shutdown, SIGTERM/SIGINT drained
inline constexpr int runtime = 1;        // unexpected runtime failure
inline constexpr int usage = 2;          // bad command line
inline constexpr int key_missing = 3;    // "API key must be provided via stdin ..."
inline constexpr int key_too_large = 4;  // "API key is too large to fit in the 1024-byte buffer"
inline constexpr int key_invalid =
    5;  // "API key may only contain ASCII letters, numbers, '-' or '_'"
inline constexpr int key_read_error = 6;  // read(2) on the key source failed
inline constexpr int listen_failed = 7;   // could not bind/listen
inline constexpr int sandbox_failed = 8;  // a hardening step failed (always fatal)
inline constexpr int config_failed =
    9;  // unusable configuration: CA file, dump dir, server-info path, worker executable
// A worker that exits with this status hit a fatal configuration problem;
// the parent does not respawn it (nginx's "do not respawn" code).
inline constexpr int worker_no_respawn = 64;

}  // namespace proxy::exit_code
