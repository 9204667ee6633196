#include "common/oidc_flags.hpp"

#include <utility>

namespace proxy {

bool check_github_oidc_flags(const Options& o, std::string& error) {
    const Options defaults;
    // In the order the original lists them when some are missing.
    const std::pair<bool, const char*> flags[] = {
        {!o.oidc_audience.empty(), "--oidc-audience <AUDIENCE>"},
        {!o.identity_provider_id.empty(), "--identity-provider-id <ID>"},
        {!o.service_account_id.empty(), "--service-account-id <ID>"},
        {!o.github_oidc_request_url.empty(), "--github-oidc-request-url <URL>"},
        {o.github_oidc, "--github-oidc"},
    };
    std::string missing;
    bool any = false;
    for (const auto& [given, name] : flags) {
        any = any || given;
        if (!given) missing += std::string(missing.empty() ? "" : ", ") + name;
    }
    if (any && !missing.empty()) {
        error = "the following required arguments were not provided: " + missing;
        return false;
    }
    if (!any && o.oidc_token_url != defaults.oidc_token_url) {
        error = "--oidc-token-url is only valid with --github-oidc";
        return false;
    }
    return true;
}

}  // namespace proxy
