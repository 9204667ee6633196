// JsonObjectScanner: a request body checked as exactly one JSON object, its
// asked-about top-level members read, whatever pieces the body comes in.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_object_scanner.hpp"
#include "common/json_string_skip.hpp"
#include "tests/unit/support/json_reference.hpp"

using namespace proxy;
using Error = JsonObjectScanner::Error;

namespace {

constexpr std::array<std::string_view, 4> kScannerKeys = {"model", "max_output_tokens",
                                                          "background", "conversation"};
constexpr std::size_t kModel = 0, kMax = 1, kBackground = 2, kConversation = 3;

struct Scan {
    bool ok;
    Error error;
    std::uint64_t error_offset;
    std::vector<JsonMember> members;
};

// The body fed in pieces of `step` bytes (0: whole), then finish().
Scan scan(std::string_view body, std::size_t step = 0) {
    JsonObjectScanner s(kScannerKeys);
    if (step == 0) step = body.size() + 1;
    for (std::size_t off = 0; off < body.size(); off += step) s.feed(body.substr(off, step));
    Scan out{s.finish(), s.error(), s.error_offset(), {}};
    for (std::size_t i = 0; i < kScannerKeys.size(); ++i) out.members.push_back(s.member(i));
    return out;
}

// The body cut once at `cut`.
Scan scan_cut(std::string_view body, std::size_t cut) {
    JsonObjectScanner s(kScannerKeys);
    s.feed(body.substr(0, cut));
    s.feed("");
    s.feed(body.substr(cut));
    Scan out{s.finish(), s.error(), s.error_offset(), {}};
    for (std::size_t i = 0; i < kScannerKeys.size(); ++i) out.members.push_back(s.member(i));
    return out;
}

bool same_member(const JsonMember& a, const JsonMember& b) {
    return a.count == b.count && a.type == b.type && a.text == b.text &&
           a.text_too_long == b.text_too_long && a.integer == b.integer && a.boolean == b.boolean &&
           a.id_count == b.id_count && a.id_is_string == b.id_is_string;
}

bool same(const Scan& a, const Scan& b) {
    if (a.ok != b.ok || a.error != b.error || a.error_offset != b.error_offset) return false;
    if (!a.ok) return true;  // members of an invalid body mean nothing
    for (std::size_t i = 0; i < a.members.size(); ++i) {
        if (!same_member(a.members[i], b.members[i])) return false;
    }
    return true;
}

// Whole, byte at a time, cut at every byte, and the reference: all agree.
void check_everywhere(std::string_view body) {
    CAPTURE(body);
    const Scan whole = scan(body);
    CHECK(same(whole, scan(body, 1)));
    CHECK(same(whole, scan(body, 3)));
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        CAPTURE(cut);
        REQUIRE(same(whole, scan_cut(body, cut)));
    }
    const testing::JsonReference ref(body, kScannerKeys);
    CHECK(ref.valid() == whole.ok);
    if (whole.ok) {
        for (std::size_t i = 0; i < kScannerKeys.size(); ++i) {
            CAPTURE(kScannerKeys[i]);
            CHECK(same_member(ref.member(i), whole.members[i]));
        }
    }
}

// Bodies that must be accepted, and bodies that must not, with the reason.
const std::string_view kValid[] = {
    "{}",
    " \t\r\n{ \t\r\n} \t\r\n",
    R"({"model":"gpt-5","max_output_tokens":4096,"background":false})",
    R"({"input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"model":"o3"})",
    R"({"model":"gpt-\u0035-\u00e9\ud83d\ude00","x":[1,-0.5e+3,0,1E-2,true,false,null,{}]})",
    R"({"conversation":{"id":"conv_1","metadata":{"id":"nested"}},"conversation2":{"id":1}})",
    R"({"conversation":"conv_2"})",
    R"({"\u006dodel":"escaped key","other":{"model":"nested, not top-level"}})",
    "{\"model\":\"caf\xc3\xa9 \xe2\x82\xac "
    "\xf0\x9f\x98\x80\",\"t\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    R"({"max_output_tokens":18446744073709551615})",
    R"({"max_output_tokens":18446744073709551616})",
    R"({"max_output_tokens":-1,"model":null})",
    R"({"max_output_tokens":1.0})",
    R"({"max_output_tokens":1e3})",
    R"({"max_output_tokens":0})",
    R"({"model":"a","model":"b"})",
    R"({"conversation":{"id":"a","id":"b"}})",
    R"({"conversation":{"id":{"id":"deeper"}}})",
    R"({"background":true,"model":["gpt-5"]})",
};

struct Bad {
    std::string_view body;
    Error error;
};
const Bad kInvalid[] = {
    {"", Error::Incomplete},
    {"   ", Error::Incomplete},
    {"[]", Error::NotAnObject},
    {"\"model\"", Error::NotAnObject},
    {"\xef\xbb\xbf{}", Error::NotAnObject},  // byte-order mark
    {"{} {}", Error::TrailingData},
    {"{}x", Error::TrailingData},
    {"{", Error::Incomplete},
    {R"({"model":"gpt-5")", Error::Incomplete},
    {R"({"a":1,})", Error::Syntax},
    {R"({"a":01})", Error::Syntax},
    {R"({"a":+1})", Error::Syntax},
    {R"({"a":.5})", Error::Syntax},
    {R"({"a":1.})", Error::Syntax},
    {R"({"a":1e})", Error::Syntax},
    {R"({"a":-})", Error::Syntax},
    {R"({"a":NaN})", Error::Syntax},
    {R"({"a":tru})", Error::Syntax},
    {R"({"a":truex})", Error::Syntax},
    {R"({"a" 1})", Error::Syntax},
    {R"({a:1})", Error::Syntax},
    {R"({"a":1 "b":2})", Error::Syntax},
    {R"({"a":[1,]})", Error::Syntax},
    {R"({"a":[1}})", Error::Syntax},
    {R"({"a":{]})", Error::Syntax},
    {std::string_view("{\"a\":1}\x00", 8), Error::TrailingData},
    {"{\"a\":\"x\ty\"}", Error::BadString},
    {R"({"a":"\x"})", Error::BadEscape},
    {R"({"a":"\u12"})", Error::BadEscape},
    {R"({"a":"\ud800"})", Error::BadSurrogate},
    {R"({"a":"\ud800\u0041"})", Error::BadSurrogate},
    {R"({"a":"\udc00"})", Error::BadSurrogate},
    {R"({"a":"\ud800x"})", Error::BadSurrogate},
    {"{\"a\":\"\xc0\xaf\"}", Error::BadUtf8},          // overlong '/'
    {"{\"a\":\"\xed\xa0\x80\"}", Error::BadUtf8},      // an encoded surrogate
    {"{\"a\":\"\xf4\x90\x80\x80\"}", Error::BadUtf8},  // above U+10FFFF
    {"{\"a\":\"\xe2\x82\"}", Error::BadUtf8},          // cut short
    {"{\"a\":\"\x80\"}", Error::BadUtf8},
    {"{\"a\":\"\xff\"}", Error::BadUtf8},
    {"{\"\xc3\xa9\xff\":1}", Error::BadUtf8},  // in a key too
    {"{\"a\":1,\xc3\xa9:2}", Error::Syntax},   // outside strings
};

}  // namespace

TEST_CASE("json object scanner: valid bodies, however they are cut, agree with the reference") {
    for (std::string_view body : kValid) {
        check_everywhere(body);
        CHECK(scan(body).ok);
    }
}

TEST_CASE("json object scanner: each invalid body refused for its reason, however cut") {
    for (const Bad& bad : kInvalid) {
        CAPTURE(bad.body);
        check_everywhere(bad.body);
        const Scan s = scan(bad.body);
        CHECK_FALSE(s.ok);
        CHECK(s.error == bad.error);
    }
}

TEST_CASE("json object scanner: what it reports about each member") {
    Scan s =
        scan(R"({"input":"x","model":"gpt-5-\u00e9","max_output_tokens":4096,"background":true,)"
             R"("conversation":{"metadata":{"id":"no"},"id":"conv_9"}})");
    REQUIRE(s.ok);
    CHECK(s.members[kModel].count == 1);
    CHECK(s.members[kModel].type == JsonType::String);
    CHECK(s.members[kModel].text == "gpt-5-\xc3\xa9");
    CHECK(s.members[kMax].integer == 4096u);
    CHECK(s.members[kBackground].type == JsonType::Bool);
    CHECK(s.members[kBackground].boolean);
    CHECK(s.members[kConversation].type == JsonType::Object);
    CHECK(s.members[kConversation].id_count == 1);
    CHECK(s.members[kConversation].id_is_string);
    CHECK(s.members[kConversation].text == "conv_9");

    s = scan(R"({"max_output_tokens":18446744073709551615})");
    CHECK(s.members[kMax].integer == UINT64_MAX);
    for (std::string_view n :
         {"18446744073709551616", "-1", "1.0", "1e3", "-0", "99999999999999999999"}) {
        CAPTURE(n);
        s = scan("{\"max_output_tokens\":" + std::string(n) + "}");
        REQUIRE(s.ok);
        CHECK(s.members[kMax].type == JsonType::Number);
        CHECK_FALSE(s.members[kMax].integer);
    }

    s = scan(R"({"model":"a","x":{"model":"c"},"model":"b"})");
    CHECK(s.members[kModel].count == 2);   // the nested one does not count
    CHECK(s.members[kModel].text == "a");  // the first is kept

    s = scan(R"({"model":null,"background":false})");
    CHECK(s.members[kModel].type == JsonType::Null);
    CHECK(s.members[kBackground].type == JsonType::Bool);
    CHECK_FALSE(s.members[kBackground].boolean);
    CHECK(s.members[kMax].type == JsonType::Absent);
    CHECK(s.members[kMax].count == 0);
}

TEST_CASE("json object scanner: a model named after 100 KiB of input is still found") {
    std::string body = R"({"input":[{"type":"message","content":")";
    for (int i = 0; i < 100 * 1024 / 16; ++i) body += "0123456789abcd\\n";
    body += R"("}],"tools":[{"model":"nested-not-top"}],"model":"gpt-5-mini"})";
    for (std::size_t step :
         {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{65536}}) {
        CAPTURE(step);
        const Scan s = scan(body, step);
        REQUIRE(s.ok);
        CHECK(s.members[kModel].count == 1);
        CHECK(s.members[kModel].text == "gpt-5-mini");
    }
}

TEST_CASE("json object scanner: long values are bounded, not kept") {
    const std::string longest(JsonObjectScanner::kMaxValue, 'm');
    Scan s = scan("{\"model\":\"" + longest + "\"}");
    CHECK(s.members[kModel].text == longest);
    CHECK_FALSE(s.members[kModel].text_too_long);
    // One byte more, written as an escape: decoded bytes are what count.
    s = scan("{\"model\":\"" + longest + "\\u0041\"}");
    REQUIRE(s.ok);
    CHECK(s.members[kModel].text.empty());
    CHECK(s.members[kModel].text_too_long);
    // A long key is no key asked about, and no error.
    s = scan("{\"" + std::string(1000, 'k') + "\":1,\"model\":\"x\"}");
    CHECK(s.ok);
    CHECK(s.members[kModel].text == "x");
}

TEST_CASE("json object scanner: nesting up to kMaxDepth, no deeper") {
    const std::size_t d = JsonObjectScanner::kMaxDepth;
    const std::string ok = "{\"a\":" + std::string(d - 1, '[') + std::string(d - 1, ']') + "}";
    CHECK(scan(ok).ok);
    const std::string deep = "{\"a\":" + std::string(d, '[') + std::string(d, ']') + "}";
    const Scan s = scan(deep);
    CHECK_FALSE(s.ok);
    CHECK(s.error == Error::TooDeep);
    CHECK(s.error_offset == 5 + d - 1);
}

TEST_CASE("json object scanner: errors name the offending byte, and later pieces are ignored") {
    JsonObjectScanner s(kScannerKeys);
    CHECK(s.feed("{\"a\":"));
    CHECK_FALSE(s.feed("1,}"));
    CHECK(s.error() == Error::Syntax);
    CHECK(s.error_offset() == 7);
    CHECK_FALSE(s.feed("\"model\":\"x\"}"));
    CHECK(s.member(kModel).count == 0);
    CHECK_FALSE(s.finish());
    CHECK(s.error() == Error::Syntax);
}

TEST_CASE("json object scanner: the top-level close and its offset") {
    JsonObjectScanner s(kScannerKeys);
    s.feed("{\"a\":{}");
    CHECK_FALSE(s.closed());
    s.feed("} \n");
    CHECK(s.closed());
    CHECK(s.close_offset() == 7);
    CHECK(s.top_level_members() == 1);
    CHECK(s.finish());
}

TEST_CASE("json object scanner: random mutations agree with the reference, however cut") {
    std::mt19937 rng(24);
    const std::string_view alphabet = "{}[]\":,\\ u0aeE.-+1tfnrl\xc3\xa9\xed\xa0\x80";
    for (std::string_view seed : kValid) {
        for (int round = 0; round < 40; ++round) {
            std::string body(seed);
            const int edits = 1 + static_cast<int>(rng() % 3);
            for (int e = 0; e < edits && !body.empty(); ++e) {
                const std::size_t at = rng() % body.size();
                const char c = alphabet[rng() % alphabet.size()];
                switch (rng() % 3) {
                    case 0:
                        body[at] = c;
                        break;
                    case 1:
                        body.insert(body.begin() + static_cast<long>(at), c);
                        break;
                    default:
                        body.erase(at, 1);
                        break;
                }
            }
            check_everywhere(body);
        }
    }
}

TEST_CASE("json string skip: the fast versions stop where the byte-wise one does") {
    std::mt19937 rng(7);
    const std::string_view special = "\"\\\x01\x1f\x80\xff";
    for (int round = 0; round < 2000; ++round) {
        std::string buf(rng() % 70, 'a');
        for (char& c : buf) c = static_cast<char>(0x20 + rng() % 0x5f);
        if (!buf.empty() && rng() % 4 != 0)
            buf[rng() % buf.size()] = special[rng() % special.size()];
        const char* b = buf.data();
        const char* e = b + buf.size();
        const char* expected = json_detail::find_special_bytewise(b, e);
        CHECK(json_detail::find_special_swar(b, e) == expected);
        CHECK(json_detail::find_special(b, e) == expected);
    }
}
