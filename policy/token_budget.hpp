// What a request costs against tokens_per_day, on every end of its stream,
// and what it holds back while it is in flight. Pure arithmetic; the
// counters live in parent/user_accounts.*, the facts come from
// parent/upstream_exchange.* as the body streams by.
//
// Charged: the usage the upstream reported (the last "usage" object of the
// response), else an ESTIMATE, marked as such wherever tokens appear:
//   input  = the request body's bytes / kBytesPerToken, rounded up, once the
//            whole request was written upstream (or the upstream answered);
//   output = for an event stream, the bytes of the "delta" string values
//            streamed so far (output text, reasoning summaries, function
//            call arguments, ...: everything the model generated as it came)
//            / kBytesPerToken, rounded up; for any other body, its bytes.
// A request that never reached the upstream is charged nothing, and so is an
// error answer (status 400 and above) that carries no usage: the API bills
// neither.
#pragma once

#include <cstdint>
#include <optional>

namespace proxy {

// OpenAI's tokenizers average about 4 bytes of English text or JSON per
// token; the estimate rounds up.
inline constexpr std::uint64_t kBytesPerToken = 4;

// What a request in flight holds back for the output it may still generate,
// as long as requests carry no output cap of their own. Enough for a long
// answer; a reasoning model can exceed it (see budget_admits()).
inline constexpr std::uint64_t kOutputReserveTokens = 4096;

constexpr std::uint64_t tokens_for_bytes(std::uint64_t bytes) {
    return bytes / kBytesPerToken + (bytes % kBytesPerToken != 0 ? 1 : 0);
}

// The tokens a request reserves at admission: its input estimate (from
// Content-Length; a chunked body, whose length is unknown then, as if it were
// max_body_bytes long) plus its output cap, or kOutputReserveTokens without
// one. A per-request cap (max_output_tokens) is meant to take the reserve's
// place here.
std::uint64_t token_reservation(std::optional<std::uint64_t> body_bytes,
                                std::uint64_t max_body_bytes,
                                std::optional<std::uint64_t> output_cap = std::nullopt);

struct TokenUsage {
    std::uint64_t input = 0;
    std::uint64_t output = 0;
    std::uint64_t cached_input = 0;  // of input: input_tokens_details.cached_tokens
};

struct TokenCharge {
    std::uint64_t input = 0;
    std::uint64_t output = 0;
    bool estimated = false;          // not the upstream's own count
    std::uint64_t cached_input = 0;  // of input, as reported (0 for an estimate)
    std::uint64_t total() const { return input + output; }
};

// What one stream showed of itself by the time it ended, whichever way.
struct StreamTally {
    bool request_sent = false;         // whole request written upstream, or it answered
    std::uint64_t request_bytes = 0;   // body bytes
    unsigned status = 0;               // the upstream's status; 0: no head
    bool event_stream = false;         // Content-Type: text/event-stream
    bool readable = false;             // uncompressed: deltas and usage were scanned
    std::uint64_t response_bytes = 0;  // body bytes received
    std::uint64_t delta_bytes = 0;     // bytes of "delta" string values
    std::optional<TokenUsage> reported;
};

TokenCharge charge_for(const StreamTally& t);

// The admission rule for tokens_per_day (`budget`, 0: unlimited), given the
// user's charged tokens today, the reservations of their requests in flight
// (`reserved`, `in_flight` of them) and this request's `reservation`:
//
//   Spent when used >= budget; Held when other requests are in flight and
//   used + reserved + reservation > budget; else Admit.
//
// Every admission but that of a user with nothing else in flight therefore
// keeps used + reservations <= budget. Looking at the day's last admission,
// the day's total ends at most
//   max(C - 1, E)
// tokens over the budget: C - 1 when that request was admitted alone (below
// the budget; C is its charge), else E, what the requests in flight then
// were charged beyond their reservations (output past the reserve, input the
// upstream counts above the estimate). N parallel streams no longer overshoot
// by N whole requests: they need N reservations to fit. Once requests carry
// output caps that replace the reserve, E is only input counted above the
// estimate.
enum class BudgetVerdict { Admit, Spent, Held };
BudgetVerdict budget_admits(std::uint64_t budget, std::uint64_t used, std::uint64_t reserved,
                            unsigned in_flight, std::uint64_t reservation);

}  // namespace proxy
