// The workers' chroot directory, prepared by the parent.
#pragma once

#include <string>

namespace proxy {

// For the parent, while root, before starting workers: create `dir` (mkdir -p,
// mode 0755, root-owned), and check that it is a directory (not a symlink),
// owned by root, not writable by group or others, and empty, and that every
// ancestor is root-owned and not writable by others (or sticky, like /tmp),
// so nobody can swap the directory for one of their own.
bool prepare_chroot_dir(const std::string& dir, std::string& error);

}  // namespace proxy
