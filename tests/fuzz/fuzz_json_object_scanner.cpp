// The request-body scanner: no crash on any input; the same verdict, error
// offset and members however the body is cut (whole, a byte at a time, in
// input-dependent pieces, and cut once at an input-dependent place); and the
// same verdict and members as a plain recursive-descent reading of the whole
// body (tests/unit/support/json_reference.hpp). Short keys among those asked
// about ("a", "id", "") let the fuzzer reach the member bookkeeping quickly.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/json_object_scanner.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/unit/support/json_reference.hpp"

using namespace proxy;

namespace {

constexpr std::array<std::string_view, 6> kKeys = {
    "model", "max_output_tokens", "conversation", "a", "id", ""};

struct Outcome {
    bool ok;
    JsonObjectScanner::Error error;
    std::uint64_t error_offset;
    bool closed;
    std::uint64_t close_offset;
    std::uint64_t top_members;
    std::vector<JsonMember> members;
};

bool same_member(const JsonMember& a, const JsonMember& b) {
    return a.count == b.count && a.type == b.type && a.text == b.text &&
           a.text_too_long == b.text_too_long && a.integer == b.integer && a.boolean == b.boolean &&
           a.id_count == b.id_count && a.id_is_string == b.id_is_string;
}

Outcome finish(JsonObjectScanner& s) {
    Outcome o{s.finish(), s.error(),        s.error_offset(),
              s.closed(), s.close_offset(), s.top_level_members(),
              {}};
    for (std::size_t i = 0; i < kKeys.size(); ++i) o.members.push_back(s.member(i));
    if (o.ok) FUZZ_CHECK(o.closed);
    if (!o.ok) FUZZ_CHECK(o.error != JsonObjectScanner::Error::None);
    for (const JsonMember& m : o.members) {
        FUZZ_CHECK(m.text.size() <= JsonObjectScanner::kMaxValue);
        if (m.text_too_long) FUZZ_CHECK(m.text.empty());
    }
    return o;
}

Outcome run(std::string_view in, std::size_t step) {
    JsonObjectScanner s(kKeys);
    for (std::size_t off = 0; off < in.size(); off += step) s.feed(in.substr(off, step));
    return finish(s);
}

Outcome run_cut(std::string_view in, std::size_t cut) {
    JsonObjectScanner s(kKeys);
    s.feed(in.substr(0, cut));
    s.feed(in.substr(cut));
    return finish(s);
}

void check_same(const Outcome& a, const Outcome& b) {
    FUZZ_CHECK(a.ok == b.ok);
    FUZZ_CHECK(a.error == b.error);
    FUZZ_CHECK(a.error_offset == b.error_offset);
    if (!a.ok) return;  // members of an invalid body are what was read before the error
    FUZZ_CHECK(a.close_offset == b.close_offset);
    FUZZ_CHECK(a.top_members == b.top_members);
    for (std::size_t i = 0; i < a.members.size(); ++i)
        FUZZ_CHECK(same_member(a.members[i], b.members[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const Outcome whole = run(in, size + 1);
    check_same(whole, run(in, 1));
    check_same(whole, run(in, 2 + size % 17));
    if (size > 0) check_same(whole, run_cut(in, data[0] % (size + 1)));

    const testing::JsonReference ref(in, kKeys);
    FUZZ_CHECK(ref.valid() == whole.ok);
    if (whole.ok) {
        for (std::size_t i = 0; i < kKeys.size(); ++i)
            FUZZ_CHECK(same_member(ref.member(i), whole.members[i]));
    }
    return 0;
}
