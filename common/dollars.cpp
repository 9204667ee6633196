#include "common/dollars.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace proxy {

std::optional<MicroDollars> parse_dollars(std::string_view text) {
    const std::size_t point = text.find('.');
    const std::string_view whole = text.substr(0, point);
    std::string_view fraction;
    if (point != std::string_view::npos) {
        fraction = text.substr(point + 1);
        // "5." and ".5" are what a typo looks like; say "5" or "0.5".
        if (fraction.empty() || fraction.size() > 6) return std::nullopt;
    }
    if (whole.empty()) return std::nullopt;
    for (std::string_view part : {whole, fraction}) {
        for (char c : part) {
            if (c < '0' || c > '9') return std::nullopt;
        }
    }
    std::uint64_t dollars = 0;
    const auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), dollars);
    if (ec != std::errc{} || end != whole.data() + whole.size()) return std::nullopt;
    if (dollars > kMaxMicroDollars / kMicroPerDollar) return std::nullopt;
    std::uint64_t micro = 0;
    for (std::size_t i = 0; i < 6; ++i) {
        micro =
            micro * 10 + (i < fraction.size() ? static_cast<std::uint64_t>(fraction[i] - '0') : 0);
    }
    const MicroDollars total = dollars * kMicroPerDollar + micro;
    if (total > kMaxMicroDollars) return std::nullopt;
    return total;
}

std::optional<MicroDollars> dollars_from_number(double value) {
    if (!std::isfinite(value) || value < 0) return std::nullopt;
    const double micro = value * static_cast<double>(kMicroPerDollar);
    if (micro > static_cast<double>(kMaxMicroDollars)) return std::nullopt;
    const double whole = std::round(micro);
    // 0.1 is 100000.00000000001 micro-dollars in binary: that is a decimal
    // with 1 place, not 17. What is more than a rounding error away from a
    // whole micro-dollar had more than 6 decimals.
    if (std::fabs(micro - whole) > std::max(1e-3, micro * 1e-15)) return std::nullopt;
    return static_cast<MicroDollars>(whole);
}

std::string dollars_text(MicroDollars amount) {
    std::string text = std::to_string(amount / kMicroPerDollar);
    std::uint64_t micro = amount % kMicroPerDollar;
    if (micro == 0) return text;
    std::string fraction(6, '0');
    for (std::size_t i = 6; i-- > 0; micro /= 10) fraction[i] = static_cast<char>('0' + micro % 10);
    fraction.erase(fraction.find_last_not_of('0') + 1);
    return text + "." + fraction;
}

}  // namespace proxy
