// What an answer costs: the policy file's price table, in USD per million
// tokens as OpenAI publishes them,
//
//   [prices."gpt-5"]
//   input = 1.25
//   cached_input = 0.125     # optional; absent: the input price
//   output = 10.0
//
// held as micro-dollars per million tokens (1.25 -> 1250000), so that an
// answer's price is integer arithmetic: (uncached input x input + cached
// input x cached_input + output x output) / 1,000,000, rounded UP to a whole
// micro-dollar. Each answer is therefore charged at most one micro-dollar
// more than its exact price and never less; sums of answers are exact.
//
// A model name may end in "*" ("gpt-5*"). A model is priced by the entry of
// its exact name if there is one, else by the longest pattern that matches
// it: with "gpt-5*" and "gpt-5-mini*", "gpt-5-mini-2025-08-07" is priced as
// gpt-5-mini and "gpt-5-2025-08-07" as gpt-5. "*" alone prices every model
// nothing else does. Which model an answer is priced by (the one the upstream
// reports in it, else the one requested) is the caller's choice.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/dollars.hpp"

namespace proxy {

// Micro-dollars per million tokens, i.e. USD per million x 1,000,000.
struct ModelPrice {
    MicroDollars input = 0;
    MicroDollars cached_input = 0;
    MicroDollars output = 0;
    bool operator==(const ModelPrice&) const = default;
};

// Token counts as the Responses API reports them: `input` includes the
// cached ones (usage.input_tokens_details.cached_tokens).
struct AnswerTokens {
    std::uint64_t input = 0;
    std::uint64_t cached_input = 0;
    std::uint64_t output = 0;
};

// The price of an answer, rounded up to a whole micro-dollar; cached input
// above the input is counted as input (the upstream's report is not trusted
// to make a discount larger than the whole input). Saturates at
// UINT64_MAX rather than wrap.
MicroDollars answer_price(const ModelPrice& price, const AnswerTokens& tokens);

// What a request in flight holds back: its input estimate at the full input
// price (nothing is known to be cached yet) and its output reserve or cap at
// the output price. Rounded up.
MicroDollars reservation_price(const ModelPrice& price, std::uint64_t input_tokens,
                               std::uint64_t output_tokens);

struct PriceEntry {
    std::string pattern;  // as written: "gpt-5" or "gpt-5*"
    ModelPrice price;
};

class PriceTable {
  public:
    // Adds or replaces; false if the pattern is not valid_model_pattern().
    bool set(std::string_view pattern, const ModelPrice& price);

    // The entry that prices `model`: its exact name, else the longest pattern
    // that matches; nullptr when none does.
    const PriceEntry* find(std::string_view model) const;

    // The highest input, cached input and output prices of any entry: what
    // an answer is priced at when the model it names has no price (or it
    // names none), and what a request whose model the parent has not read
    // reserves. Zero for an empty table.
    ModelPrice highest() const;

    // The price of an answer that named `models` (the upstream's report;
    // the answer's JSON may name several: response.model, and anything a
    // client echoes back such as metadata). The most expensive of them, so
    // that an answer cannot be made cheaper by naming a cheap model; any
    // unpriced name, or none at all, costs highest() prices.
    MicroDollars price_answer(const std::vector<std::string>& models,
                              const AnswerTokens& tokens) const;

    bool empty() const { return entries_.empty(); }
    std::size_t size() const { return entries_.size(); }
    // In name order, for --check-policy and the operator's view.
    const std::map<std::string, PriceEntry, std::less<>>& entries() const { return entries_; }

  private:
    std::map<std::string, PriceEntry, std::less<>> entries_;
};

}  // namespace proxy
