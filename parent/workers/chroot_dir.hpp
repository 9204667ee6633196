// The workers' chroot directory, prepared by the parent.
#pragma once

#include <sys/types.h>

#include <string>

namespace proxy {

// For the parent, before starting workers it sandboxes: create `dir` (mkdir
// -p, mode 0755, owned by whoever we are), and check that it is a directory
// (not a symlink), owned by root or `owner`, not writable by group or others,
// and empty, and that every ancestor is owned by root or `owner` and not
// writable by others (or sticky, like /tmp), so nobody can swap the directory
// for one of their own. `owner` is the parent's own uid: a non-root parent
// under systemd gets its RuntimeDirectory= owned by itself, and is the only
// process of that uid (the workers are another user, see
// parent/workers/worker_setup.hpp).
bool prepare_chroot_dir(const std::string& dir, std::string& error, uid_t owner = 0);

}  // namespace proxy
