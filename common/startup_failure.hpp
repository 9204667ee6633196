// A start-up that cannot go on, in either executable: one clear line on
// stderr, "<program>: <line>", and the documented exit status to return from
// main (common/exit_codes.hpp). Once the event loop runs, the log says what
// goes wrong instead (common/log.hpp); a failed hardening step has its own
// fatal path (hardening_fatal, common/process_start.hpp).
#pragma once

#include <string_view>

namespace proxy {

inline constexpr std::string_view kParentProgram = "codex-responses-api-proxy";
inline constexpr std::string_view kWorkerProgram = "codex-responses-api-proxy-worker";

// Prints the line and returns `status`: `return startup_failure(exit_code::usage, why);`.
int startup_failure(int status, std::string_view line, std::string_view program = kParentProgram);

}  // namespace proxy
