// Finds the token counts in an upstream response as it streams by, without
// buffering it: the last `"usage": {...}` object in the body (the
// response.completed SSE event, or a non-streamed JSON answer), of which the
// top-level input_tokens and output_tokens are read. Only the usage object
// itself is held, up to kMaxObject bytes. Compressed bodies are not scanned
// (the parent asks for identity when a token budget is in force).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proxy {

struct TokenUsage {
    std::uint64_t input = 0;
    std::uint64_t output = 0;
};

class UsageScanner {
  public:
    static constexpr std::size_t kMaxObject = 4096;

    void feed(std::string_view data);
    // The last complete usage object with both counts, if any.
    const std::optional<TokenUsage>& usage() const { return usage_; }

    // The counts in one usage object's text ("{...}"), if it has both.
    static std::optional<TokenUsage> parse_object(std::string_view object);

  private:
    enum class State { Search, AfterKey, AfterColon, Capture };
    void step(char c);

    State state_ = State::Search;
    std::size_t matched_ = 0;  // bytes of "usage" (with quotes) matched so far
    char prev_ = 0;
    int depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
    std::string object_;
    std::optional<TokenUsage> usage_;
};

}  // namespace proxy
