#pragma once

#include <sys/types.h>

#include <string>

namespace proxy {

// mkdir -p: every missing component of `dir` is created with `mode` (the
// original proxy creates --server-info and --dump-dir parents the same way).
bool make_directories(const std::string& dir, mode_t mode);
// mkdir -p of the directory that holds `file`, mode 0755.
bool make_parent_directories(const std::string& file);

}  // namespace proxy
