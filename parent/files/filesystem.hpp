// Directories the parent creates on the way to a file it writes.
#pragma once

#include <sys/types.h>

#include <string>

namespace proxy {

// mkdir -p: every missing component of `dir` is created with exactly `mode`,
// whatever the umask (the process runs with umask 077, common/process_start.hpp);
// components that exist already are left as they are. False with errno set
// on failure. The original proxy creates --server-info and --dump-dir parents
// the same way.
bool make_directories(const std::string& dir, mode_t mode);
// mkdir -p of the directory that holds `file`, mode 0755: --server-info's
// file is mode 0644 for local users to read the port, so the directories the
// proxy creates for it must let them reach it. (--dump-dir's are 0700: dumps
// hold request bodies.)
bool make_parent_directories(const std::string& file);

}  // namespace proxy
