// The flag table's apply/show functions for values checked by more than a
// range: ports, paths, host names, modes, proxy URLs, model patterns, zones
// (common/cli_apply.cpp). Each stores the value in Options and returns true,
// or sets `expected` to what the flag takes and returns false.
#pragma once

#include <string>
#include <string_view>

#include "common/options.hpp"

namespace proxy::cli::values {

// Paths and names end up in log lines and syscalls: no controls there.
bool is_plain_text(std::string_view v);

bool apply_zone_name(Options& o, std::string_view v, std::string& expected);
bool apply_port(Options& o, std::string_view v, std::string& expected);
std::string show_port(const Options& o);
bool apply_chroot_dir(Options& o, std::string_view v, std::string& expected);
bool apply_allow_host(Options& o, std::string_view v, std::string& expected);
bool apply_unix_mode(Options& o, std::string_view v, std::string& expected);
std::string show_unix_mode(const Options& o);
bool apply_unix_path(Options& o, std::string_view v, std::string& expected);
bool apply_upstream_proxy(Options& o, std::string_view v, std::string& expected);
bool apply_allow_model(Options& o, std::string_view v, std::string& expected);
bool apply_response_ownership(Options& o, std::string_view v, std::string& expected);

}  // namespace proxy::cli::values
