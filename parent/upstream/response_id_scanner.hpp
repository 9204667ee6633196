// Finds the id of the response an upstream answer creates, as the answer
// streams by, without buffering it: the first `"id": "resp_..."` member, which
// is the response object's own id both in an event stream (the first event,
// response.created: {"type":"response.created","response":{"id":"resp_...",
// ...}}) and in a plain JSON answer (its top-level "id" comes first). The
// parent records it as the caller's (policy/response_owners.hpp).
//
// Like parent/usage_scanner.cpp, it leans on what well-formed JSON
// guarantees: inside a string every quote is escaped, so the bytes `"id"`
// followed by a colon can only be a key. Text the model wrote (an answer
// that says "id": "resp_x") is inside a string, written \"id\", and never
// matches. Item ids (msg_..., rs_..., fc_...) and other keys ending in
// "id" (previous_response_id) do not match either. Memory: the id being
// read, at most kMaxResponseId bytes; a longer value, or one with a byte
// outside [A-Za-z0-9_-], is not an id and the search goes on.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace proxy {

class ResponseIdScanner {
  public:
    void feed(std::string_view data);
    // The first response id seen; once set, later bytes are not looked at.
    const std::optional<std::string>& id() const { return id_; }

  private:
    enum class State { Search, Key, AfterKey, AfterColon, Value };
    void step(char c);

    State state_ = State::Search;
    std::size_t matched_ = 0;  // bytes of `"id"` matched
    std::string value_;
    std::optional<std::string> id_;
};

}  // namespace proxy
