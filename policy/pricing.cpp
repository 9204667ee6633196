#include "policy/pricing.hpp"

#include <algorithm>
#include <limits>

#include "policy/model_pattern.hpp"

namespace proxy {
namespace {

using Wide = unsigned __int128;

constexpr Wide kPerMillion = 1'000'000;

MicroDollars rounded_up(Wide micro_per_million) {
    const Wide whole = micro_per_million / kPerMillion + (micro_per_million % kPerMillion != 0);
    constexpr auto kMax = std::numeric_limits<MicroDollars>::max();
    return whole > kMax ? kMax : static_cast<MicroDollars>(whole);
}

}  // namespace

MicroDollars answer_price(const ModelPrice& price, const AnswerTokens& tokens) {
    const std::uint64_t cached = std::min(tokens.cached_input, tokens.input);
    // A price is at most kMaxMicroDollars (< 2^50), so each product is below
    // 2^114 and the sum of three below 2^116: no overflow in 128 bits.
    const auto capped = [](MicroDollars p) { return Wide{std::min(p, kMaxMicroDollars)}; };
    const Wide sum = Wide{tokens.input - cached} * capped(price.input) +
                     Wide{cached} * capped(price.cached_input) +
                     Wide{tokens.output} * capped(price.output);
    return rounded_up(sum);
}

MicroDollars reservation_price(const ModelPrice& price, std::uint64_t input_tokens,
                               std::uint64_t output_tokens) {
    return answer_price(price, AnswerTokens{input_tokens, 0, output_tokens});
}

bool PriceTable::set(std::string_view pattern, const ModelPrice& price) {
    if (!valid_model_pattern(pattern)) return false;
    entries_.insert_or_assign(std::string(pattern), PriceEntry{std::string(pattern), price});
    return true;
}

const PriceEntry* PriceTable::find(std::string_view model) const {
    if (const auto it = entries_.find(model); it != entries_.end()) return &it->second;
    const PriceEntry* best = nullptr;
    for (const auto& [pattern, entry] : entries_) {
        if (!is_prefix_pattern(pattern) || !model_matches(pattern, model)) continue;
        if (best == nullptr || pattern.size() > best->pattern.size()) best = &entry;
    }
    return best;
}

ModelPrice PriceTable::highest() const {
    ModelPrice top;
    for (const auto& [pattern, entry] : entries_) {
        top.input = std::max(top.input, entry.price.input);
        top.cached_input = std::max(top.cached_input, entry.price.cached_input);
        top.output = std::max(top.output, entry.price.output);
    }
    return top;
}

MicroDollars PriceTable::price_answer(const std::vector<std::string>& models,
                                      const AnswerTokens& tokens) const {
    if (entries_.empty()) return 0;
    if (models.empty()) return answer_price(highest(), tokens);
    MicroDollars most = 0;
    for (const std::string& model : models) {
        const PriceEntry* entry = find(model);
        most = std::max(most, answer_price(entry ? entry->price : highest(), tokens));
    }
    return most;
}

}  // namespace proxy
