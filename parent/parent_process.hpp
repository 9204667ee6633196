#pragma once

#include "common/options.hpp"

namespace proxy {

// The privileged parent: key intake, listener, workers, upstream I/O.
// Returns the process exit status.
int run_parent(const Options& options);

}  // namespace proxy
