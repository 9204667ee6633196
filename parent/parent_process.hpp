#pragma once

#include "common/options.hpp"
#include "common/proxy_config.hpp"

namespace proxy {

// The privileged parent: key intake, listener, workers, upstream I/O.
// proxy_env: HTTPS_PROXY and friends as main read them before scrubbing.
// Returns the process exit status.
// Takes its own copy of the options: it may lower --max-connections to what
// the descriptor limit allows.
int run_parent(Options options, const ProxyEnvironment& proxy_env);

}  // namespace proxy
