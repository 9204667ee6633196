// The command line: one parser for the parent and its workers. One table of
// flags drives parsing, --help and the argv handed to workers, so the three
// cannot drift apart.
#pragma once

#include <string>
#include <vector>

#include "common/options.hpp"

namespace proxy {

enum class ParseStatus { Ok, Help, Version, Error };

// Parses argv[1..argc) into `out` (starting from default Options). Accepts
// `--flag VALUE` and `--flag=VALUE`; -h/--help and -V/--version stop parsing.
// On Error, `error` is one line naming the flag and what was expected, and
// `out` is left unchanged. Checks the upstream URL and refuses http:// without
// --allow-insecure-upstream.
ParseStatus parse_options(int argc, char* const argv[], Options& out, std::string& error);

// The full --help text, one line per flag with its default.
std::string usage_text();
// "codex-responses-api-proxy <PROXY_VERSION>"
const char* version_text();

// argv (without argv[0]) to start worker `worker_id`: every option that
// differs from its default as --flag=VALUE, then --worker-mode --worker-id=N
// --worker-version=PROXY_VERSION (a worker of another version refuses to run).
// --key-file is left out: a worker never needs to know where the key is.
std::vector<std::string> worker_arguments(const Options& options, unsigned worker_id);

}  // namespace proxy
