// The output-cap inserter: for any body, what it sends is the same however
// the body is cut; it is sent only for a valid body; and what it sends,
// scanned again, is one valid JSON object with the cap exactly once (the
// client's own value when the body had one) and every other member the
// client sent untouched, the bytes before the closing brace passed through
// as they came.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_member_appender.hpp"
#include "common/json_object_scanner.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace proxy;

namespace {

constexpr std::array<std::string_view, 4> kKeys = {"model", "max_output_tokens", "a", ""};
constexpr std::size_t kCap = 1;
constexpr std::uint64_t kValue = 4096;

bool same_member(const JsonMember& a, const JsonMember& b) {
    return a.count == b.count && a.type == b.type && a.text == b.text &&
           a.text_too_long == b.text_too_long && a.integer == b.integer && a.boolean == b.boolean &&
           a.id_count == b.id_count && a.id_is_string == b.id_is_string;
}

std::optional<std::string> run(std::string_view in, std::size_t step) {
    JsonObjectScanner scanner(kKeys);
    JsonMemberAppender app(scanner, kCap, kValue);
    std::string out;
    for (std::size_t off = 0; off < in.size(); off += step) {
        const std::string_view piece = in.substr(off, step);
        const std::string_view pass = app.feed(piece);
        FUZZ_CHECK(pass.size() <= piece.size());
        if (!pass.empty()) FUZZ_CHECK(pass.data() == piece.data());
        out += pass;
    }
    const auto tail = app.finish();
    if (!tail) return std::nullopt;
    return out + *tail;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto whole = run(in, size + 1);
    FUZZ_CHECK(run(in, 1) == whole);
    FUZZ_CHECK(run(in, 2 + size % 13) == whole);

    JsonObjectScanner original(kKeys);
    original.feed(in);
    const bool valid = original.finish();
    FUZZ_CHECK(valid == whole.has_value());
    if (!valid) return 0;

    JsonObjectScanner sent(kKeys);
    sent.feed(*whole);
    FUZZ_CHECK(sent.finish());
    // The client's bytes up to its closing brace, unchanged.
    const auto close = static_cast<std::size_t>(original.close_offset());
    FUZZ_CHECK(whole->compare(0, close, in.substr(0, close)) == 0);
    const JsonMember& cap = sent.member(kCap);
    if (original.member(kCap).count == 0) {
        FUZZ_CHECK(cap.count == 1);
        FUZZ_CHECK(cap.integer == kValue);
        FUZZ_CHECK(sent.top_level_members() == original.top_level_members() + 1);
    } else {
        FUZZ_CHECK(same_member(cap, original.member(kCap)));
        FUZZ_CHECK(sent.top_level_members() == original.top_level_members());
    }
    for (std::size_t i = 0; i < kKeys.size(); ++i) {
        if (i != kCap) FUZZ_CHECK(same_member(sent.member(i), original.member(i)));
    }
    return 0;
}
