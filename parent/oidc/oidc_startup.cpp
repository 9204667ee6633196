#include "parent/oidc/oidc_startup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/exit_codes.hpp"
#include "common/startup_failure.hpp"
#include "common/unique_fd.hpp"
#include "parent/oidc/oidc_intake.hpp"
#include "parent/upstream/tls_context.hpp"

namespace proxy {

int prepare_github_oidc(const Options& o, OidcStart& out) {
    const Options defaults;
    // The access token is OpenAI's: it goes to OpenAI's endpoint only, unless
    // the operator also moved the token endpoint (--oidc-token-url, ours:
    // staging and tests), which pairs the two deliberately.
    if (o.upstream_url != defaults.upstream_url && o.oidc_token_url == defaults.oidc_token_url)
        return startup_failure(exit_code::runtime,
                               "workload identity requires the default OpenAI Responses endpoint");
    std::string error;
    auto settings =
        make_oidc_settings(o.github_oidc_request_url, o.oidc_audience, o.identity_provider_id,
                           o.service_account_id, o.oidc_token_url, error);
    if (!settings) return startup_failure(exit_code::runtime, error);
    out.settings = std::move(*settings);

    // "Bearer " + token + CR LF + one byte to tell "too large".
    auto page = KeyPage::create(error, kOidcRequestTokenMax + 16);
    if (!page)
        return startup_failure(exit_code::runtime,
                               "cannot set up the request token page: " + error);
    UniqueFd file;
    int fd = STDIN_FILENO;
    if (!o.key_file.empty()) {
        file.reset(::open(o.key_file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!file)
            return startup_failure(exit_code::runtime, "cannot open --key-file " + o.key_file +
                                                           ": " + std::strerror(errno));
        fd = file.get();
    }
    int read_errno = 0;
    const OidcIntakeError e = read_oidc_request_token(
        *page, [fd](char* buf, std::size_t len) { return ::read(fd, buf, len); }, &read_errno);
    if (e != OidcIntakeError::None) {
        std::string msg = oidc_intake_message(e);
        if (e == OidcIntakeError::ReadError) msg += std::string(": ") + std::strerror(read_errno);
        return startup_failure(exit_code::runtime, msg);
    }
    if (!page->seal())
        return startup_failure(exit_code::runtime, "cannot make the request token page read-only");
    out.request_token = std::move(page);
    return exit_code::ok;
}

int start_github_oidc(const Options& o, OidcStart& start, event_base* base, evdns_base* dns,
                      Credential& credential, SslCtxPtr& tls,
                      std::unique_ptr<OidcTokenSource>& source) {
    // Its own context: the upstream pool keeps sessions of its context for
    // resumption with the upstream, and these are other hosts.
    auto context = make_upstream_tls_context(o.upstream_ca_file);
    if (!context) return startup_failure(exit_code::runtime, context.error());
    tls = std::move(*context);
    source = std::make_unique<OidcTokenSource>(base, dns, tls.get(), credential,
                                               std::move(*start.request_token),
                                               std::move(start.settings));
    start.request_token.reset();
    std::string first_error;
    bool done = false;
    source->start([&](const std::string& err) {
        first_error = err;
        done = true;
        event_base_loopbreak(base);
    });
    while (!done) {
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            return startup_failure(exit_code::runtime, "event loop failed");
    }
    if (!first_error.empty()) {
        source.reset();
        return startup_failure(exit_code::runtime, first_error);
    }
    return exit_code::ok;
}

}  // namespace proxy
