// What a worker may forward to the parent as one request (ReqOpen): one
// definition that both sides apply. The worker checks what it is about to
// forward and refuses the client with the fault's status instead; the parent
// checks what it received, and a worker whose ReqOpen fails here has broken
// the protocol (parent/workers/worker_link.cpp kills it). So nothing an honest client
// sends can get a worker killed: whatever would fail the parent's check
// fails the worker's first (tests/fuzz/fuzz_forward_agreement.cpp).
#pragma once

#include <cstdint>
#include <optional>

#include "common/ipc.hpp"
#include "common/options.hpp"
#include "policy/header_policy.hpp"

namespace proxy {

struct ForwardRules {
    HeaderRules headers;
    ForwardLimits limits;
    std::uint64_t max_body_bytes;  // --max-body-size
};

ForwardRules make_forward_rules(const Options& opts);

// nullopt: forward it. The worker's own parser never produces UntilClose
// framing, a Content-Length over --max-body-size or a header list the filter
// could not have made; a fault on those is the parent's evidence.
std::optional<HeaderFault> check_forwarded_request(const ipc::ReqOpen& open,
                                                   const ForwardRules& rules);

}  // namespace proxy
