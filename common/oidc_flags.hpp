// The rules that tie --github-oidc's flags together, as the original's flag
// parser (clap) applies them: the five flags come all together or not at all.
#pragma once

#include <string>

#include "common/options.hpp"

namespace proxy {

// False, with one line in `error`, when some but not all of --github-oidc,
// --oidc-audience, --identity-provider-id, --service-account-id and
// --github-oidc-request-url were given, or --oidc-token-url without them.
bool check_github_oidc_flags(const Options& o, std::string& error);

}  // namespace proxy
