#include "parent/upstream/request_body_gate.hpp"

namespace proxy {

RequestBodyGate::RequestBodyGate(BodyRules rules, BodyCheckContext context)
    : rules_(std::move(rules)), context_(std::move(context)), scanner_(make_body_scanner()) {
    // The scanner sees the body as the client sent it, so the check below
    // judges the client's own max_output_tokens; the appender adds the cap
    // only where there is none, so what goes upstream carries one, at most
    // the cap, whenever one is set.
    if (rules_.max_output_tokens) {
        appender_.emplace(scanner_, body_field_index(BodyField::MaxOutputTokens),
                          *rules_.max_output_tokens);
    }
}

std::string_view RequestBodyGate::feed(std::string_view piece) {
    if (refused_) return {};
    std::string_view out;
    if (appender_) {
        out = appender_->feed(piece);
    } else {
        // As the appender does, without adding: everything up to the
        // closing brace goes; the brace waits for finish(), and what follows
        // it (whitespace, or the error) never goes.
        const std::uint64_t start = scanner_.bytes_fed();
        const bool closed_before = scanner_.closed();
        if (scanner_.feed(piece) && !closed_before) {
            out = scanner_.closed()
                      ? piece.substr(0, static_cast<std::size_t>(scanner_.close_offset() - start))
                      : piece;
        }
    }
    if (scanner_.failed()) {
        refused_ = check_request_body(scanner_, rules_, context_);
        return {};
    }
    return out;
}

std::variant<std::string, DetailedRefusal> RequestBodyGate::finish() {
    if (refused_) return *refused_;
    std::string tail = "}";
    if (appender_) {
        if (auto t = appender_->finish()) tail = std::move(*t);
    } else {
        scanner_.finish();
    }
    if (auto r = check_request_body(scanner_, rules_, context_)) {
        refused_ = std::move(r);
        return *refused_;
    }
    return tail;
}

bool RequestBodyGate::remembers_response() const {
    return rules_.response_ownership && !refused_ && stores_response(scanner_);
}

}  // namespace proxy
