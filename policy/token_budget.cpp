#include "policy/token_budget.hpp"

#include <algorithm>

namespace proxy {

std::uint64_t token_reservation(std::optional<std::uint64_t> body_bytes,
                                std::uint64_t max_body_bytes,
                                std::optional<std::uint64_t> output_cap) {
    // Unknown length (chunked): the most the body may be, so that a user
    // cannot open parallel streams of unknown size under a small reservation.
    return tokens_for_bytes(body_bytes.value_or(max_body_bytes)) +
           output_cap.value_or(kOutputReserveTokens);
}

TokenCharge charge_for(const StreamTally& t) {
    if (t.reported) {
        return {t.reported->input, t.reported->output, false,
                std::min(t.reported->cached_input, t.reported->input)};
    }
    TokenCharge c;
    c.estimated = true;
    if (!t.request_sent || t.status >= 400) return c;
    c.input = tokens_for_bytes(t.request_bytes);
    // An event stream also carries the response object (instructions, the
    // whole output again in .done events, padding): only its deltas are what
    // the model generated. A compressed one cannot be read: its bytes.
    c.output = tokens_for_bytes(t.event_stream && t.readable ? t.delta_bytes : t.response_bytes);
    return c;
}

BudgetVerdict budget_admits(std::uint64_t budget, std::uint64_t used, std::uint64_t reserved,
                            unsigned in_flight, std::uint64_t reservation) {
    if (budget == 0) return BudgetVerdict::Admit;
    if (used >= budget) return BudgetVerdict::Spent;
    // Alone, a request may start below the budget whatever it reserves:
    // otherwise a reservation larger than what is left would lock the user
    // out of the rest of the day.
    if (in_flight == 0) return BudgetVerdict::Admit;
    // used + reserved + reservation <= budget, without overflow.
    const std::uint64_t left = budget - used;
    return reservation <= left && reserved <= left - reservation ? BudgetVerdict::Admit
                                                                 : BudgetVerdict::Held;
}

}  // namespace proxy
