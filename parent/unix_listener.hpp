// --listen-unix PATH: a unix stream socket beside the TCP listener. Its peers
// are named by SO_PEERCRED, and browsers cannot reach it at all. Created by
// the parent before it drops privileges: mode --listen-unix-mode, group
// --listen-unix-group; a stale socket left by an earlier run is replaced, any
// other file at PATH is an error. PATH's directory, and every one on the way,
// must be one that only root and the parent's own user can change, or sticky
// (parent/files/trusted_path.hpp).
#pragma once

#include <string>

#include "common/options.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

Result<UniqueFd> open_unix_listener(const Options& o);

}  // namespace proxy
