// Which requests the proxy serves: the request line, Host, browser markers and
// upgrades. Header rewriting is in header_policy; size limits and timeouts are
// Options enforced by the worker's parser.
//
// In one sentence: POST exactly /v1/responses (and, with --http-shutdown,
// GET exactly /shutdown; and GET exactly /metrics, which the parent answers
// only to the users the operator names), addressed to this proxy by name, not from a browser,
// not an upgrade. Everything else gets a Refusal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_types.hpp"
#include "common/options.hpp"
#include "policy/refusal.hpp"

namespace proxy {

struct RequestPolicy {
    std::uint16_t port;                      // the port we are bound to (never 0)
    std::vector<std::string> allowed_hosts;  // --allow-host: extra names, "name" or "name:PORT"
    bool http_shutdown;                      // --http-shutdown: serve GET /shutdown
    // The --listen-unix listener: any Host name is fine. DNS rebinding needs
    // a browser, and no browser can connect to a unix socket.
    bool any_host = false;
};

RequestPolicy make_request_policy(const Options& opts, std::uint16_t bound_port);

// Usage: GET /usage, the caller's own standing (parent/users/usage_view.hpp).
// Metrics: GET /metrics, the Prometheus text (parent/metrics/).
enum class Route { Forward, Shutdown, Usage, Metrics };

// When refusal is set, route means nothing: answer with the refusal.
struct Decision {
    Route route;
    std::optional<Refusal> refusal;
};

// Checks, in order: Host, browser markers, Upgrade, method + target.
Decision decide(const RequestHead& head, const RequestPolicy& policy);

// Does this Host value name this proxy? Exposed for tests and for the parent's
// re-check; decide() is the one entry point for whole requests.
bool host_names_proxy(std::string_view host, const RequestPolicy& policy);

}  // namespace proxy
