#include "policy/forward_policy.hpp"

namespace proxy {

ForwardRules make_forward_rules(const Options& opts) {
    ForwardRules r{make_header_rules(opts), {}, opts.max_body_bytes};
    r.limits = forward_limits(opts, r.headers);
    return r;
}

std::optional<HeaderFault> check_forwarded_request(const ipc::ReqOpen& open,
                                                   const ForwardRules& rules) {
    if (open.framing == BodyFraming::UntilClose)
        return HeaderFault{&refusal::kBadRequest, "request framing until close"};
    if (open.framing == BodyFraming::Length && open.content_length > rules.max_body_bytes)
        return HeaderFault{&refusal::kBodyTooLarge, "Content-Length over --max-body-size"};
    if (open.framing != BodyFraming::Length && open.content_length != 0)
        return HeaderFault{&refusal::kBadRequest, "a length without Content-Length framing"};
    return check_forwarded_headers(open.headers, rules.headers, rules.limits);
}

}  // namespace proxy
