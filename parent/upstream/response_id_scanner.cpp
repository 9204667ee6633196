#include "parent/upstream/response_id_scanner.hpp"

#include "common/ascii.hpp"
#include "policy/response_owners.hpp"

namespace proxy {

namespace {
constexpr std::string_view kIdKey = "\"id\"";
constexpr std::string_view kResponseIdPrefix = "resp_";
}  // namespace

void ResponseIdScanner::feed(std::string_view data) {
    std::size_t i = 0;
    while (i < data.size() && !id_) {
        if (state_ == State::Search) {
            // Only a quote can open the key: jump to the next one (memchr).
            const std::size_t q = data.find('"', i);
            if (q == std::string_view::npos) return;
            i = q;
        }
        step(data[i++]);
    }
}

// Any quote may open the key: inside a string the four bytes `"id"` cannot
// occur (its quotes would be escaped, \"id\"), and a quote that closes a
// string is never followed by `id"`.
void ResponseIdScanner::step(char c) {
    switch (state_) {
        case State::Search:  // c is a quote
            state_ = State::Key;
            matched_ = 1;
            break;
        case State::Key:
            if (c != kIdKey[matched_])
                state_ = State::Search;
            else if (++matched_ == kIdKey.size())
                state_ = State::AfterKey;
            break;
        case State::AfterKey:
            if (c == ':')
                state_ = State::AfterColon;
            else if (!is_json_space(c))
                state_ = State::Search;  // the string "id" as a value
            break;
        case State::AfterColon:
            if (c == '"') {
                state_ = State::Value;
                value_.clear();
            } else if (!is_json_space(c)) {
                state_ = State::Search;  // "id": 42, "id": null
            }
            break;
        case State::Value:
            if (c == '"') {
                state_ = State::Search;
                if (value_.starts_with(kResponseIdPrefix) && valid_response_id(value_))
                    id_ = std::move(value_);
            } else if (value_.size() < kMaxResponseId &&
                       valid_response_id(std::string_view(&c, 1))) {
                value_ += c;
            } else {
                state_ = State::Search;  // no id: an escape, a space, too long
            }
            break;
    }
}

}  // namespace proxy
