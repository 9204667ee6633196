// The price table and the price of an answer: exact names before patterns,
// the longest pattern among several, cached input at its own price, and
// integer micro-dollars rounded up once per answer.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "common/dollars.hpp"
#include "policy/model_pattern.hpp"
#include "policy/pricing.hpp"

using namespace proxy;

namespace {

// USD per million tokens as OpenAI publishes them, in our units.
ModelPrice usd(double input, double cached, double output) {
    return ModelPrice{*dollars_from_number(input), *dollars_from_number(cached),
                      *dollars_from_number(output)};
}

}  // namespace

TEST_CASE("model patterns: exact names and one trailing star") {
    CHECK(valid_model_pattern("gpt-5"));
    CHECK(valid_model_pattern("gpt-5*"));
    CHECK(valid_model_pattern("*"));
    CHECK(valid_model_pattern("ft:gpt-4o-mini:org:custom:id"));
    CHECK_FALSE(valid_model_pattern(""));
    CHECK_FALSE(valid_model_pattern("gpt-*-mini"));
    CHECK_FALSE(valid_model_pattern("gpt-5**"));
    CHECK_FALSE(valid_model_pattern("gpt 5"));
    CHECK_FALSE(valid_model_pattern("gpt-5\n"));
    CHECK_FALSE(valid_model_pattern("gpt\"5"));
    CHECK_FALSE(valid_model_pattern(std::string(kMaxModelPatternBytes + 1, 'a')));

    CHECK(model_matches("gpt-5", "gpt-5"));
    CHECK_FALSE(model_matches("gpt-5", "gpt-5-mini"));
    CHECK_FALSE(model_matches("gpt-5", "GPT-5"));
    CHECK(model_matches("gpt-5*", "gpt-5"));
    CHECK(model_matches("gpt-5*", "gpt-5-mini-2025-08-07"));
    CHECK_FALSE(model_matches("gpt-5*", "gpt-4o"));
    CHECK(model_matches("*", "anything"));
}

TEST_CASE("dollars: decimals to micro-dollars and back, exactly") {
    CHECK(parse_dollars("0") == 0u);
    CHECK(parse_dollars("12") == 12'000'000u);
    CHECK(parse_dollars("2.5") == 2'500'000u);
    CHECK(parse_dollars("0.000125") == 125u);
    CHECK(parse_dollars("1000000000") == kMaxMicroDollars);
    for (const char* bad : {"", "-1", "1.", ".5", "1.0000001", "1e3", "1,5", " 1", "0x10",
                            "1000000000.000001", "99999999999999999999"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_dollars(bad).has_value());
    }
    CHECK(dollars_from_number(1.25) == 1'250'000u);
    CHECK(dollars_from_number(0.1) == 100'000u);  // not 100000.00000000001
    CHECK(dollars_from_number(0.000001) == 1u);
    CHECK(dollars_from_number(3) == 3'000'000u);
    CHECK_FALSE(dollars_from_number(0.0000001).has_value());
    CHECK_FALSE(dollars_from_number(1.0000005).has_value());
    CHECK_FALSE(dollars_from_number(-0.5).has_value());
    CHECK_FALSE(dollars_from_number(1e10).has_value());
    CHECK_FALSE(dollars_from_number(std::numeric_limits<double>::infinity()).has_value());
    CHECK_FALSE(dollars_from_number(std::numeric_limits<double>::quiet_NaN()).has_value());

    CHECK(dollars_text(0) == "0");
    CHECK(dollars_text(2'500'000) == "2.5");
    CHECK(dollars_text(125) == "0.000125");
    CHECK(dollars_text(12'000'000) == "12");
    CHECK(dollars_text(10'000'010) == "10.00001");
    for (MicroDollars v : std::initializer_list<MicroDollars>{0, 1, 999'999, 1'000'001, 123'456'789,
                                                              kMaxMicroDollars}) {
        CHECK(parse_dollars(dollars_text(v)) == v);
    }
}

TEST_CASE("price table: exact beats pattern, the longest pattern wins") {
    PriceTable t;
    REQUIRE(t.set("gpt-5*", usd(1.25, 0.125, 10)));
    REQUIRE(t.set("gpt-5-mini*", usd(0.25, 0.025, 2)));
    REQUIRE(t.set("gpt-5-mini", usd(9, 9, 9)));  // an exact entry, oddly priced
    REQUIRE(t.set("*", usd(100, 100, 100)));
    CHECK_FALSE(t.set("gpt-*-mini", usd(1, 1, 1)));
    CHECK(t.size() == 4);

    CHECK(t.find("gpt-5")->pattern == "gpt-5*");
    CHECK(t.find("gpt-5-2025-08-07")->pattern == "gpt-5*");
    CHECK(t.find("gpt-5-mini-2025-08-07")->pattern == "gpt-5-mini*");
    CHECK(t.find("gpt-5-mini")->pattern == "gpt-5-mini");  // exact, though shorter patterns match
    CHECK(t.find("o4-mini")->pattern == "*");
    CHECK(t.find("gpt-5-mini")->price == usd(9, 9, 9));

    PriceTable no_fallback;
    REQUIRE(no_fallback.set("o3", usd(2, 0.5, 8)));
    CHECK(no_fallback.find("o3") != nullptr);
    CHECK(no_fallback.find("o3-pro") == nullptr);
    CHECK(no_fallback.find("") == nullptr);
    CHECK(PriceTable{}.find("gpt-5") == nullptr);
    // A later set() of the same pattern replaces the entry.
    REQUIRE(no_fallback.set("o3", usd(1, 1, 1)));
    CHECK(no_fallback.size() == 1);
    CHECK(no_fallback.find("o3")->price == usd(1, 1, 1));
}

TEST_CASE("answer price: uncached input, cached input and output at their prices") {
    const ModelPrice gpt5 = usd(1.25, 0.125, 10);
    // 1M input of which 400k cached, 100k output:
    // 600000 x 1.25 + 400000 x 0.125 + 100000 x 10 = 0.75 + 0.05 + 1.0 USD
    CHECK(answer_price(gpt5, {1'000'000, 400'000, 100'000}) == 1'800'000u);
    CHECK(answer_price(gpt5, {0, 0, 0}) == 0u);
    // No cached tokens: all input at the input price.
    CHECK(answer_price(gpt5, {1'000'000, 0, 0}) == 1'250'000u);
    // All cached.
    CHECK(answer_price(gpt5, {1'000'000, 1'000'000, 0}) == 125'000u);
    // A report of more cached than input is capped at the input.
    CHECK(answer_price(gpt5, {1000, 5000, 0}) == answer_price(gpt5, {1000, 1000, 0}));
    // A free model costs nothing.
    CHECK(answer_price(ModelPrice{}, {123, 4, 56}) == 0u);
}

TEST_CASE("answer price: rounded up to a whole micro-dollar, once per answer") {
    const ModelPrice gpt5 = usd(1.25, 0.125, 10);
    // One input token at 1.25 USD/M is 1.25 micro-dollars: charged 2.
    CHECK(answer_price(gpt5, {1, 0, 0}) == 2u);
    // One cached token: 0.125 -> 1.
    CHECK(answer_price(gpt5, {1, 1, 0}) == 1u);
    // 3 input of which 1 cached, 1 output: 2 x 1.25 + 0.125 + 10 = 12.625 -> 13,
    // where rounding each part would charge 3 + 1 + 10.
    CHECK(answer_price(gpt5, {3, 1, 1}) == 13u);
    // Exact amounts are not rounded.
    CHECK(answer_price(gpt5, {4, 0, 0}) == 5u);
    // A thousand one-token answers cost a thousand roundings: at most one
    // micro-dollar each over the exact 1250, and sums of integers are exact.
    MicroDollars sum = 0;
    for (int i = 0; i < 1000; ++i) sum += answer_price(gpt5, {1, 0, 0});
    CHECK(sum == 2000u);
    CHECK(answer_price(gpt5, {1000, 0, 0}) == 1250u);
}

TEST_CASE("answer price: no overflow, saturates at the largest amount") {
    const ModelPrice top{kMaxMicroDollars, kMaxMicroDollars, kMaxMicroDollars};
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    CHECK(answer_price(top, {kMax, 0, kMax}) == kMax);
    // Prices above the bound (not from a policy file) are capped, not wrapped.
    const ModelPrice absurd{kMax, kMax, kMax};
    CHECK(answer_price(absurd, {kMax, kMax / 2, kMax}) == kMax);
    // A large but real answer: 10M tokens at 600 USD/M = 6000 USD.
    CHECK(answer_price(usd(600, 600, 600), {10'000'000, 0, 0}) == 6000u * kMicroPerDollar);
}

TEST_CASE("reservation price: input at the input price, the output reserve at the output price") {
    const ModelPrice gpt5 = usd(1.25, 0.125, 10);
    CHECK(reservation_price(gpt5, 1000, 4096) == 1250u + 40960u);
    CHECK(reservation_price(gpt5, 1, 0) == 2u);  // rounded up
    CHECK(reservation_price(ModelPrice{}, 1000, 4096) == 0u);
}
