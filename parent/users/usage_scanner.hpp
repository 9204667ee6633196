// Finds the token counts in an upstream response as it streams by, without
// buffering it: the last `"usage": {...}` object in the body (the
// response.completed SSE event, or a non-streamed JSON answer), of which the
// top-level input_tokens and output_tokens are read. Only the usage object
// itself is held, up to kMaxObject bytes. For a stream that ends before its
// usage, it also counts the bytes of every `"delta": "..."` string value (as
// written, escapes included): what the model generated so far, for the
// estimate (policy/token_budget.hpp). It also notes the string values of
// `"model"` keys (response.created and response.completed carry the model
// that answered; a client's metadata may add others): the answer is priced
// by the most expensive of them (policy/pricing.hpp price_answer()), so a
// name a client makes the answer repeat can only raise its price. A name
// that is too long or escaped counts as unpriced. Compressed bodies are not scanned (the
// parent asks for identity when a token budget is in force).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/token_budget.hpp"

namespace proxy {

class UsageScanner {
  public:
    static constexpr std::size_t kMaxObject = 4096;

    void feed(std::string_view data);
    // The last complete usage object with both counts, if any.
    const std::optional<TokenUsage>& usage() const { return usage_; }
    // Bytes of "delta" string values so far (between their quotes).
    std::uint64_t delta_bytes() const { return delta_bytes_; }
    // The distinct model names seen, at most kMaxModels; a name that could
    // not be kept (too long, escaped, past the cap) is kept as "".
    static constexpr std::size_t kMaxModels = 8;
    static constexpr std::size_t kMaxModelName = 128;
    const std::vector<std::string>& models() const { return models_; }

    // The counts in one usage object's text ("{...}"), if it has both.
    static std::optional<TokenUsage> parse_object(std::string_view object);

  private:
    enum class State { Search, AfterKey, AfterColon, Capture, Delta, Model };
    void note_model(std::string name);
    void step(char c);
    std::size_t skip_delta(std::string_view data, std::size_t i);

    State state_ = State::Search;
    std::string_view key_;     // the key being matched: "usage" or "delta", with quotes
    std::size_t matched_ = 0;  // bytes of key_ matched so far
    char prev_ = 0;
    int depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;  // Capture and Delta: the next byte is escaped
    std::string object_;
    std::optional<TokenUsage> usage_;
    std::uint64_t delta_bytes_ = 0;
    std::string model_;  // the "model" value being read
    bool model_bad_ = false;
    std::vector<std::string> models_;
};

}  // namespace proxy
