// Money in the policy: whole micro-dollars (USD 0.000001) in unsigned 64-bit
// integers, so that a user's spend is an exact sum however many answers it
// adds up, and the state file holds integers only. A dollar budget or price
// is given in dollars with at most 6 decimals ("2.50", 0.125); anything
// finer is an error, not a silent rounding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proxy {

using MicroDollars = std::uint64_t;

inline constexpr MicroDollars kMicroPerDollar = 1'000'000;
// The most a budget or a price (per million tokens) may say: USD
// 1,000,000,000. Far above any real one, and small enough that a token count
// times a price fits easily in 128 bits and a sum of such amounts in 64.
inline constexpr MicroDollars kMaxMicroDollars = 1'000'000'000ull * kMicroPerDollar;

// "12", "2.5", "0.000125": digits, an optional point and up to 6 decimals.
std::optional<MicroDollars> parse_dollars(std::string_view text);

// A TOML number (1.25 or 3); nullopt when negative, not finite, above
// kMaxMicroDollars, or finer than a micro-dollar.
std::optional<MicroDollars> dollars_from_number(double value);

// The shortest exact decimal: 2500000 -> "2.5", 125 -> "0.000125", 0 -> "0".
std::string dollars_text(MicroDollars amount);

}  // namespace proxy
