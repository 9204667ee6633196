// The parent's own drop, once its workers are up, in the order start-up
// calls it (parent/parent_startup.cpp, "sandbox the parent"):
//
//   note = drop_parent_privileges() print `note` once if not empty
//   ... start the upstream and dump threads (held at a gate) ...
//   apply_parent_sandbox(exe_fd)    then open the gate and run the loop
//
// Before main's real work it already did the steps both executables share
// (common/process_start.hpp); what it prepares for its workers is in
// parent/workers/worker_setup.hpp.
#pragma once

#include <string>

namespace proxy {

// Parent that sandboxes its workers (root, or holding the capabilities):
// keep only the capabilities of policy/capabilities.hpp, the workers' setup
// ones also ambient when not root. Otherwise: drop whatever capabilities we
// hold.
// Returns what could not be done (empty if everything was), for one log line.
// Fatal if a step that should work fails.
std::string drop_parent_privileges();

// PR_SET_NO_NEW_PRIVS, then the parent's seccomp filter, which allows
// execveat on `exe_fd` (the worker executable) and nothing else that execs.
// Fatal on failure.
void apply_parent_sandbox(int exe_fd);

}  // namespace proxy
