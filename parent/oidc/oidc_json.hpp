// A JSON reader for the two token responses (GitHub's and OpenAI's): one flat
// object whose string values are unescaped in place, inside the caller's
// buffer, so a token never gets a copy outside its locked page. Nested
// values are checked for syntax and skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace proxy {

struct JsonField {
    enum class Kind { String, Number, Other };
    std::string_view key;
    Kind kind = Kind::Other;
    std::string_view value;  // the unescaped string, or the number's text
};

// Parses `text` (rewriting it: string escapes are resolved in place) as one
// JSON object. Returns its members in order, or nothing if `text` is not
// exactly one object (whitespace around it allowed).
std::optional<std::vector<JsonField>> parse_flat_json_object(std::span<char> text);

// The first member named `key`, or null.
const JsonField* find_field(const std::vector<JsonField>& fields, std::string_view key);

// A JSON number that is a non-negative integer (no sign, fraction or
// exponent) within uint64.
std::optional<std::uint64_t> json_unsigned(const JsonField& f);

}  // namespace proxy
