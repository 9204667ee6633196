// What the worker does with one complete request head, without I/O: refuse
// it (and how), ask the parent about GET /shutdown or GET /metrics, or forward it as this
// ReqOpen. ClientConnection acts on the answer; the differential fuzz target
// (tests/fuzz/fuzz_forward_agreement.cpp) feeds random heads through it and
// everything it would forward through the parent's check.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_error.hpp"
#include "common/http_types.hpp"
#include "common/ipc.hpp"
#include "policy/forward_policy.hpp"
#include "policy/refusal.hpp"
#include "policy/request_policy.hpp"

namespace proxy {

struct IntakeRules {
    HeadLimits limits;
    const RequestPolicy* policy;
    ForwardRules forward;
};

struct Intake {
    enum class Kind { Refuse, Shutdown, Usage, Metrics, Forward };
    Kind kind = Kind::Refuse;
    Refusal refusal{};  // Kind::Refuse
    RequestHead head;   // parsed as far as it got (method and target for the audit note)
    std::string open;   // Kind::Forward: the encoded ReqOpen payload
};

// `block` is one head including its final CRLFCRLF, at most
// limits.max_head_bytes long (the caller refuses longer ones with 431).
// `draining`: the worker serves no new requests (503).
Intake take_request_head(std::string_view block, const IntakeRules& rules, bool draining,
                         std::uint32_t conn_id);

}  // namespace proxy
