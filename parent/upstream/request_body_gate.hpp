// The parent's decision on a request body (policy/request_body_policy.hpp),
// made on the bytes it sends upstream as they pass: it scans them, adds the
// caller's output cap where the body has none (common/json_member_appender.hpp),
// and holds back the top-level closing brace until the body has ended and
// passed. The exchange sends such a body with chunked framing, so a refused
// body never reaches the upstream whole: no closing brace, no last chunk.
//
// The worker does not read bodies (docs/design.md, "Request bodies"): every
// verdict needs the body's end (a model after 100 KB, a field given twice),
// the parent sees every byte anyway, and its refusal reaches the client
// through the worker as fast as a worker's own would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/json_member_appender.hpp"
#include "common/json_object_scanner.hpp"
#include "policy/request_body_policy.hpp"

namespace proxy {

class RequestBodyGate {
  public:
    RequestBodyGate(BodyRules rules, BodyCheckContext context);
    RequestBodyGate(const RequestBodyGate&) = delete;
    RequestBodyGate& operator=(const RequestBodyGate&) = delete;

    // The next piece of the body: what may go upstream now (a prefix of
    // `piece`). Once the body is known not to be one JSON object, refused()
    // says why and nothing more goes.
    std::string_view feed(std::string_view piece);
    // Set as soon as the body is known to be invalid (a verdict that needs
    // no more bytes), so the exchange can stop at once.
    const std::optional<DetailedRefusal>& refused() const { return refused_; }
    // The body has ended: the bytes to send last, or the refusal.
    std::variant<std::string, DetailedRefusal> finish();

    // After finish(): the upstream will store the response, and the rule
    // that makes its owner worth remembering is on.
    bool remembers_response() const;

  private:
    BodyRules rules_;
    BodyCheckContext context_;
    JsonObjectScanner scanner_;
    std::optional<JsonMemberAppender> appender_;  // with a cap to add
    std::optional<DetailedRefusal> refused_;
};

}  // namespace proxy
