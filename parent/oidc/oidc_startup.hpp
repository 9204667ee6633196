// --github-oidc at start-up, in the original's order: the upstream must be
// OpenAI's default endpoint, the request URL must be usable, the request
// token is read from stdin (or --key-file), then the first access token is
// fetched before the proxy listens. Every failure is one line and exit
// status 1, as in the original.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/options.hpp"
#include "common/secret_page.hpp"
#include "parent/key/credential.hpp"
#include "parent/oidc/oidc_messages.hpp"
#include "parent/oidc/oidc_token_source.hpp"

namespace proxy {

struct OidcStart {
    OidcSettings settings;
    std::optional<KeyPage> request_token;  // "Bearer <request token>", sealed
};

// Checks the flags and reads the request token. Returns 0 or an exit status
// (the message has been printed).
int prepare_github_oidc(const Options& o, OidcStart& out);

// Runs `base` until the first round ends. Returns 0 with `source` running
// (and `credential` holding the access token), or an exit status.
int start_github_oidc(const Options& o, OidcStart& start, event_base* base, evdns_base* dns,
                      Credential& credential, SslCtxPtr& tls,
                      std::unique_ptr<OidcTokenSource>& source);

}  // namespace proxy
