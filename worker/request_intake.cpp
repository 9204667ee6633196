#include "worker/request_intake.hpp"

#include "worker/request_head_parser.hpp"

namespace proxy {

namespace {

Intake refuse(Intake in, const Refusal& r) {
    in.kind = Intake::Kind::Refuse;
    in.refusal = r;
    return in;
}

}  // namespace

Intake take_request_head(std::string_view block, const IntakeRules& rules, bool draining,
                         std::uint32_t conn_id) {
    Intake in;
    if (auto err = parse_request_head(block, rules.limits, in.head)) {
        const char* type = err->status >= 500 ? refusal::kServer : refusal::kClient;
        return refuse(std::move(in), Refusal{static_cast<std::uint16_t>(err->status), type,
                                             err->code, err->message});
    }
    Decision d = decide(in.head, *rules.policy);
    if (d.refusal) return refuse(std::move(in), *d.refusal);
    if (d.route == Route::Shutdown) {
        // Who may stop the proxy is the parent's call (it knows the caller).
        in.kind = Intake::Kind::Shutdown;
        return in;
    }
    if (d.route == Route::Usage) {
        // Whose figures these are is the parent's call, as for shutdown.
        in.kind = Intake::Kind::Usage;
        return in;
    }
    if (d.route == Route::Metrics) {
        in.kind = Intake::Kind::Metrics;
        return in;
    }
    if (draining) return refuse(std::move(in), refusal::kShuttingDown);
    ipc::ReqOpen open;
    open.conn = conn_id;
    open.framing = in.head.framing;
    open.content_length = in.head.content_length;
    open.headers = filter_request_headers(in.head.headers, rules.forward.headers);
    // The parent's own check of what we forward, first: whatever it would
    // take for a broken worker is refused here, with the client's status.
    if (auto fault = check_forwarded_request(open, rules.forward))
        return refuse(std::move(in), *fault->refusal);
    in.open = ipc::encode_req_open(open);
    if (in.open.empty() || in.open.size() > ipc::kMaxPayload)
        return refuse(std::move(in), refusal::kHeaderTooLarge);
    in.kind = Intake::Kind::Forward;
    return in;
}

}  // namespace proxy
