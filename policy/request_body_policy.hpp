// What a request body may ask for: which models, how many output tokens,
// which service tiers, background or not, and whose stored responses it may
// continue. Data plus one decision function over what the streaming scanner
// (common/json_object_scanner.hpp) read from the body's top level.
//
// Who runs it: the worker, as the body arrives, for fast and clear refusals
// (it also adds the output cap where the body has none:
// common/json_member_appender.hpp); and the parent, on the bytes it sends
// upstream, whose answer is the decision, since a compromised worker may lie.
// Only the parent knows who created which response, so only it checks
// ownership.
//
// The order of the checks, which is also their precedence (the first that
// fails is the answer):
//   1. the body is exactly one valid JSON object      400 invalid_json
//   2. no checked field is given twice                400 duplicate_field
//   3. each checked field has its type and length     400 invalid_type,
//      (and "model" is there when models are limited)     string_above_max_length,
//                                                         missing_required_parameter
//   4. the rules, field by field: model               403 model_not_allowed
//      max_output_tokens                              403 max_output_tokens_over_limit
//      service_tier                                   403 service_tier_not_allowed
//      background                                     403 background_not_allowed
//      previous_response_id                           403 previous_response_not_yours
//      conversation                                   403 conversation_not_yours
// Within 2 and 3, fields go in that same order. A field is checked only while
// a rule about it is in force; with no rule at all, the body is not read.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_object_scanner.hpp"
#include "policy/model_pattern.hpp"
#include "policy/refusal.hpp"

namespace proxy {

// The top-level fields the policy reads, in the order of kBodyFields.
enum class BodyField : std::size_t {
    Model,
    MaxOutputTokens,
    ServiceTier,
    Background,
    PreviousResponseId,
    Conversation,
    Store,  // not a rule: whether the response will be stored (see stores_response)
};
inline constexpr std::array<std::string_view, 7> kBodyFields = {
    "model",      "max_output_tokens",    "service_tier",
    "background", "previous_response_id", "conversation",
    "store",
};

// A scanner asked about kBodyFields: feed it the body, finish() it, then
// check_request_body(). With a cap to add, wrap it in a JsonMemberAppender
// with key index body_field_index(BodyField::MaxOutputTokens).
JsonObjectScanner make_body_scanner();
constexpr std::size_t body_field_index(BodyField f) {
    return static_cast<std::size_t>(f);
}
inline const JsonMember& body_field(const JsonObjectScanner& scan, BodyField f) {
    return scan.member(body_field_index(f));
}

// The rules for one caller, as the policy file and flags resolve them.
struct BodyRules {
    // Exact model names, or prefixes ending in '*' ("gpt-5*"; "*" is any
    // model). Empty: any model.
    std::vector<std::string> models;
    // The output cap. A request asking for more is refused; one without the
    // field gets it added. nullopt: no cap.
    std::optional<std::uint64_t> max_output_tokens;
    // The service_tier values a request may name ("default", "flex", ...).
    // A request that names none is fine. Empty: any.
    std::vector<std::string> service_tiers;
    // A token or dollar budget applies to this caller: "background": true is
    // refused, since such a response is generated and billed after the
    // stream ends, out of the proxy's sight.
    bool budget_in_force = false;
    // A dollar budget applies to this caller: a model that no price pattern
    // matches is refused (model_not_priced), since its answers could not be
    // charged. The price table's patterns (policy/pricing.hpp).
    bool must_be_priced = false;
    std::vector<std::string> priced_models;
    // previous_response_id and conversation must name what this caller
    // created through the proxy (policy/response_owners.hpp). On by default;
    // off where the operator says so (one user, or users who trust each other).
    bool response_ownership = true;

    // Whether any rule needs the body read at all.
    bool reads_body() const {
        return !models.empty() || max_output_tokens.has_value() || !service_tiers.empty() ||
               budget_in_force || must_be_priced || response_ownership;
    }
};

// model_matches and model_pattern_error (whether a pattern from the policy
// file or --allow-model is acceptable): policy/model_pattern.hpp, shared with
// the price table.

// Who created a stored response or conversation (policy/response_owners.hpp);
// nullopt when nobody the proxy remembers did.
using OwnerLookup = std::function<std::optional<uid_t>(std::string_view id)>;

struct BodyCheckContext {
    // The caller's uid; nullopt when the kernel could not vouch for it (an
    // unidentified caller owns no response).
    std::optional<uid_t> caller;
    // Set in the parent; empty in the worker, which cannot know owners and
    // leaves the ownership rule to the parent.
    OwnerLookup owner_of;
    // The parent checks the bytes that go upstream, to which the worker must
    // have added the cap: there, a body without max_output_tokens is refused.
    bool cap_must_be_present = false;
};

// The first rule the finished scan breaks, with a message naming the field
// and what the request asked; nullopt when the body may go upstream.
std::optional<DetailedRefusal> check_request_body(const JsonObjectScanner& scan,
                                                  const BodyRules& rules,
                                                  const BodyCheckContext& context);

// Whether the upstream will store the response (the API's default, unless
// "store": false), so that the parent need remember its owner.
bool stores_response(const JsonObjectScanner& scan);

}  // namespace proxy
