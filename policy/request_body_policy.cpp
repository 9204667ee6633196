#include "policy/request_body_policy.hpp"

#include <algorithm>

#include "common/json.hpp"

namespace proxy {

namespace {

using F = BodyField;

// The checked fields, in the order of their checks.
constexpr BodyField kChecked[] = {F::Model,      F::MaxOutputTokens,    F::ServiceTier,
                                  F::Background, F::PreviousResponseId, F::Conversation};

// Listing more than this many allowed values in a message helps nobody.
constexpr std::size_t kMaxListed = 20;

std::string_view name(BodyField f) {
    return kBodyFields[body_field_index(f)];
}

// As a JSON string, so a name with quotes or control characters reads
// unambiguously in the message.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    out += json_escape(s);
    out += '"';
    return out;
}

std::string listed(const std::vector<std::string>& values) {
    std::string out;
    for (std::size_t i = 0; i < values.size() && i < kMaxListed; ++i) {
        if (i > 0) out += ", ";
        out += values[i];
    }
    if (values.size() > kMaxListed) out += ", ...";
    return out;
}

DetailedRefusal refuse(const Refusal& kind, std::string message) {
    return DetailedRefusal{kind, std::move(message)};
}

bool in_force(BodyField f, const BodyRules& r) {
    switch (f) {
        case F::Model:
            return !r.models.empty() || r.must_be_priced;
        case F::MaxOutputTokens:
            return r.max_output_tokens.has_value();
        case F::ServiceTier:
            return !r.service_tiers.empty();
        case F::Background:
            return r.budget_in_force;
        case F::PreviousResponseId:
        case F::Conversation:
            return r.response_ownership;
        case F::Store:
            return false;
    }
    return false;
}

// Step 3: the field's type and length, as its rule needs them.
std::optional<DetailedRefusal> check_form(BodyField f, const JsonMember& m) {
    const std::string field = quoted(name(f));
    const auto wrong = [&](const char* wanted) {
        return refuse(refusal::kInvalidType,
                      field + " must be " + wanted + ", not " + json_type_name(m.type));
    };
    if (m.text_too_long) {
        return refuse(
            refusal::kStringTooLong,
            field + " is longer than " + std::to_string(JsonObjectScanner::kMaxValue) + " bytes");
    }
    const JsonType t = m.type;
    const bool absent_or_null = t == JsonType::Absent || t == JsonType::Null;
    switch (f) {
        case F::Model:
            if (t == JsonType::Absent) {
                return refuse(refusal::kMissingModel,
                              "this user's policy checks the model (an allow list or a dollar "
                              "budget), so the request must name one in \"model\"");
            }
            if (t != JsonType::String) return wrong("a string");
            break;
        case F::MaxOutputTokens:
            if (t == JsonType::Number && !m.integer) {
                return refuse(refusal::kInvalidType,
                              field +
                                  " must be a non-negative integer that fits in 64 bits, written "
                                  "without sign, fraction or exponent");
            }
            if (!absent_or_null && t != JsonType::Number) return wrong("an integer");
            break;
        case F::ServiceTier:
        case F::PreviousResponseId:
            if (!absent_or_null && t != JsonType::String) return wrong("a string");
            break;
        case F::Background:
            if (!absent_or_null && t != JsonType::Bool) return wrong("a boolean");
            break;
        case F::Conversation:
            if (t == JsonType::Object && m.id_count > 1)
                return refuse(refusal::kDuplicateField,
                              "\"conversation.id\" is given more than once");
            if (t == JsonType::Object && !(m.id_count == 1 && m.id_is_string)) {
                return refuse(refusal::kInvalidType,
                              field + " must be a string id or an object with a string \"id\"");
            }
            if (!absent_or_null && t != JsonType::String && t != JsonType::Object)
                return wrong("a string or an object");
            break;
        case F::Store:
            break;
    }
    return std::nullopt;
}

std::optional<DetailedRefusal> check_owner(BodyField f, const JsonMember& m,
                                           const BodyCheckContext& c) {
    if (m.type != JsonType::String && m.type != JsonType::Object) return std::nullopt;
    const std::optional<uid_t> owner = c.owner_of(m.text);
    if (owner && c.caller && *owner == *c.caller) return std::nullopt;
    // The same answer for another user's id and for an unknown one: the
    // proxy tells nobody whose a response is.
    if (f == F::PreviousResponseId) {
        return refuse(refusal::kPreviousResponseNotYours,
                      "previous_response_id " + quoted(m.text) +
                          " is not a response this user created through this proxy (or one "
                          "older than the proxy remembers)");
    }
    return refuse(refusal::kConversationNotYours,
                  "conversation " + quoted(m.text) +
                      " is not a conversation this user created through this proxy; "
                      "conversations cannot be created through it");
}

// Step 4: the rule itself.
std::optional<DetailedRefusal> check_rule(BodyField f, const JsonMember& m, const BodyRules& r,
                                          const BodyCheckContext& c) {
    switch (f) {
        case F::Model: {
            const auto matches_any = [&m](const std::vector<std::string>& patterns) {
                return std::any_of(patterns.begin(), patterns.end(),
                                   [&m](const std::string& p) { return model_matches(p, m.text); });
            };
            if (!r.models.empty() && !matches_any(r.models)) {
                return refuse(refusal::kModelNotAllowed,
                              "model " + quoted(m.text) +
                                  " is not allowed for this user; allowed: " + listed(r.models));
            }
            if (r.must_be_priced && !matches_any(r.priced_models)) {
                return refuse(refusal::kModelNotPriced,
                              "model " + quoted(m.text) +
                                  " has no price in the policy's [prices], and this user has a "
                                  "dollar budget: its answers could not be charged");
            }
            return std::nullopt;
        }
        case F::MaxOutputTokens: {
            const std::string limit = std::to_string(*r.max_output_tokens);
            if (m.type == JsonType::Null) {
                return refuse(
                    refusal::kMaxOutputTokensOverLimit,
                    "max_output_tokens null asks for no limit; this user's limit is " + limit);
            }
            if (m.type == JsonType::Absent && c.cap_must_be_present) {
                return refuse(
                    refusal::kMaxOutputTokensOverLimit,
                    "the request carries no max_output_tokens; this user's limit is " + limit);
            }
            if (m.integer && *m.integer > *r.max_output_tokens) {
                return refuse(refusal::kMaxOutputTokensOverLimit,
                              "max_output_tokens " + std::to_string(*m.integer) +
                                  " is over this user's limit of " + limit);
            }
            return std::nullopt;
        }
        case F::ServiceTier:
            if (m.type != JsonType::String) return std::nullopt;
            for (const std::string& tier : r.service_tiers) {
                if (tier == m.text) return std::nullopt;
            }
            return refuse(refusal::kServiceTierNotAllowed,
                          "service_tier " + quoted(m.text) +
                              " is not allowed for this user; allowed: " + listed(r.service_tiers));
        case F::Background:
            if (m.type != JsonType::Bool || !m.boolean) return std::nullopt;
            return refuse(refusal::kBackgroundNotAllowed,
                          "\"background\": true is not allowed while a token or dollar budget "
                          "applies to this user: a background response is generated and billed "
                          "after the stream ends, out of the proxy's sight");
        case F::PreviousResponseId:
        case F::Conversation:
            if (!c.owner_of) return std::nullopt;  // the worker: the parent decides
            return check_owner(f, m, c);
        case F::Store:
            break;
    }
    return std::nullopt;
}

}  // namespace

JsonObjectScanner make_body_scanner() {
    return JsonObjectScanner(kBodyFields);
}

std::optional<DetailedRefusal> check_request_body(const JsonObjectScanner& scan,
                                                  const BodyRules& rules,
                                                  const BodyCheckContext& context) {
    if (scan.failed() || !scan.closed()) {
        const auto error = scan.failed() ? scan.error() : JsonObjectScanner::Error::Incomplete;
        return refuse(refusal::kInvalidJson,
                      std::string("the request body is not one valid JSON object: ") +
                          JsonObjectScanner::describe(error) + " at byte " +
                          std::to_string(scan.failed() ? scan.error_offset() : scan.bytes_fed()));
    }
    for (BodyField f : kChecked) {
        if (in_force(f, rules) && body_field(scan, f).count > 1)
            return refuse(refusal::kDuplicateField,
                          quoted(name(f)) + " is given more than once in the request body");
    }
    // A model read only to be priced may be absent: such a request is
    // refused upstream, and nothing is billed for it.
    const auto skipped = [&](BodyField f) {
        return !in_force(f, rules) || (f == BodyField::Model && rules.models.empty() &&
                                       body_field(scan, f).type == JsonType::Absent);
    };
    for (BodyField f : kChecked) {
        if (skipped(f)) continue;
        if (auto r = check_form(f, body_field(scan, f))) return r;
    }
    for (BodyField f : kChecked) {
        if (skipped(f)) continue;
        if (auto r = check_rule(f, body_field(scan, f), rules, context)) return r;
    }
    return std::nullopt;
}

bool stores_response(const JsonObjectScanner& scan) {
    const JsonMember& m = body_field(scan, BodyField::Store);
    return !(m.count == 1 && m.type == JsonType::Bool && !m.boolean);
}

}  // namespace proxy
