#pragma once

#include "common/options.hpp"
#include "common/proxy_config.hpp"

namespace proxy {

// The privileged parent: key intake, listener, workers, upstream I/O.
// proxy_env: HTTPS_PROXY and friends as main read them before scrubbing.
// Returns the process exit status.
int run_parent(const Options& options, const ProxyEnvironment& proxy_env);

}  // namespace proxy
