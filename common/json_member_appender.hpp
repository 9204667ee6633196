// Adds one integer member to a JSON object body as it streams by, unless the
// body already has that key: how a request without max_output_tokens gets the
// user's output cap (policy/request_body_policy.hpp) with no whole-body
// buffer. Every byte passes through as it comes, except the top-level closing
// brace: held back until the end, then sent as `,"key":N}` (`"key":N}` for an
// empty object), or as `}` when the body had the key. Whitespace after that
// brace is dropped; whitespace before it has already gone through, which is
// fine, since JSON allows whitespace before a comma.
//
// Pure: it transforms bytes and feeds the caller's scanner, which then knows
// everything about the body as the client sent it (the key's own value
// included, for the policy's check). It lives in common/ beside the scanner
// because both the worker (which adds the member) and the parent (which
// checks, with the scanner alone, that what goes upstream carries it) build
// on that scanner; the rule of when to add what is policy's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_object_scanner.hpp"

namespace proxy {

class JsonMemberAppender {
  public:
    // `scanner` is asked about the key as its key(key_index); from now on
    // only this appender feeds it. It must outlive the appender.
    JsonMemberAppender(JsonObjectScanner& scanner, std::size_t key_index, std::uint64_t value);

    // The next piece of the body: what may be sent on now, a prefix of
    // `piece` (all of it, unless it holds the closing brace). Nothing once
    // the body is known to be invalid: the caller refuses it.
    std::string_view feed(std::string_view piece);
    // The body has ended: the bytes to send last, or nullopt when the body
    // was not exactly one valid JSON object (the scanner says why).
    std::optional<std::string> finish();

  private:
    JsonObjectScanner& scanner_;
    std::size_t key_index_;
    std::uint64_t value_;
};

}  // namespace proxy
