// The table of command-line flags behind parse_options(), usage_text() and
// worker_arguments() (common/cli.cpp): each flag's name, help, how its value is
// parsed into Options and shown back. Internal to the CLI.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/options.hpp"

namespace proxy::cli {

// Sets a field from a flag value; on failure returns false and says what was
// expected ("0-65535"), which the caller turns into the error line.
using ApplyFn = bool (*)(Options&, std::string_view value, std::string& expected);
// Canonical text of a field, parseable by the matching ApplyFn; "" when unset.
using ShowFn = std::string (*)(const Options&);

struct FlagSpec {
    const char* name;     // "--port"
    const char* metavar;  // "N"; nullptr for switches
    const char* help;
    bool Options::*toggle;    // switches only
    ApplyFn apply;            // value flags only
    ShowFn show;              // value flags only
    const char* unset_note;   // shown as the default when show() is ""
    bool repeatable = false;  // may be given more than once
    bool to_worker = true;    // re-serialized by worker_arguments()
    bool secret = false;      // may hold a password: never echoed in an error
};

// Every flag, in the order --help lists them.
std::span<const FlagSpec> flags();
// nullptr for a name that is no flag.
const FlagSpec* find_flag(std::string_view name);

}  // namespace proxy::cli
