// Descriptors: every client connection costs its worker one and the parent
// two (the client's socket, which the parent keeps to see the client leave,
// and an upstream connection).
#pragma once

#include "common/options.hpp"

namespace proxy {

// Raises RLIMIT_NOFILE's soft limit to the hard one (workers inherit it);
// where that is still too few for --max-connections on every worker, lowers
// o.max_connections to what fits, with one line that says so.
void fit_connections_to_descriptors(Options& o);

}  // namespace proxy
