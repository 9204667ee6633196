// A strict, streaming check that a request body is exactly one JSON object
// (RFC 8259), which also reads the few top-level members a caller asks about:
// the model a request names, its output cap, its service tier. Fed the body
// in pieces of any size (the worker's socket reads, the parent's IPC pieces),
// it buffers none of it: memory is this object, the current key up to kMaxKey
// bytes and each asked-about string value up to kMaxValue bytes, whatever the
// body's size. Key order does not matter, and a key inside a nested value
// never counts as top-level.
//
// Strict means: whitespace is space, tab, CR, LF; no byte-order mark,
// comments, trailing commas, NaN or Infinity; numbers in RFC 8259's grammar
// (no leading zeros, no "+", no bare "."); strings without raw control
// characters, with the RFC's escapes only, \u surrogates only in
// high-then-low pairs (a lone surrogate is refused: it is no character, and
// parsers disagree on what to make of one), and well-formed UTF-8 (Unicode
// Table 3-7: no overlong forms, no encoded surrogates, nothing above
// U+10FFFF). Where parsers disagree, the upstream might read a key we did not
// see; so what is not plainly one well-formed JSON object is refused whole.
// Nesting deeper than kMaxDepth is refused too (a bit per level is all it
// costs; no honest request comes near).
//
// A checked key given twice is counted, not overwritten: the first value is
// kept and count says 2, so the caller can refuse (parsers disagree on which
// of two values wins).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace proxy {

enum class JsonType : std::uint8_t { Absent, String, Number, Bool, Null, Object, Array };

const char* json_type_name(JsonType t);  // "a string", "a number", ...

// What the scanner learnt about one top-level member it was asked about.
struct JsonMember {
    unsigned count = 0;                // times the key occurs at the top level
    JsonType type = JsonType::Absent;  // of the first occurrence's value
    // String: the decoded value. Object: the decoded value of its own
    // top-level "id" member, when that is a string (conversation: {"id": ...}).
    std::string text;
    bool text_too_long = false;  // over kMaxValue decoded bytes; text is then empty
    // Number: set only for a plain non-negative integer that fits 64 bits
    // ("4096"; not "-1", "1.0", "1e3" or 2^64).
    std::optional<std::uint64_t> integer;
    bool boolean = false;       // Bool
    unsigned id_count = 0;      // Object: its top-level "id" members
    bool id_is_string = false;  // Object: the first "id" member's value is a string
};

class JsonObjectScanner {
  public:
    static constexpr std::size_t kMaxDepth = 256;
    static constexpr std::size_t kMaxKey = 64;     // longest key that can be asked about
    static constexpr std::size_t kMaxValue = 256;  // longest string value kept
    static constexpr std::size_t kMaxKeys = 16;    // keys one scanner can be asked about

    enum class Error : std::uint8_t {
        None,
        NotAnObject,   // the first non-whitespace byte is not '{'
        Syntax,        // a byte JSON does not allow where it stands
        BadString,     // a raw control character in a string
        BadEscape,     // a backslash escape JSON does not have, or a bad \u
        BadSurrogate,  // a \u surrogate that is not one half of a pair
        BadUtf8,       // ill-formed UTF-8 in a string
        TooDeep,       // nested deeper than kMaxDepth
        TrailingData,  // something other than whitespace after the object
        Incomplete,    // finish() before the object was closed
    };
    static const char* describe(Error e);  // a short phrase for messages

    // The top-level keys to report on, each at most kMaxKey bytes, at most
    // kMaxKeys of them; member(i) answers about keys[i]. The views must
    // outlive the scanner (string literals, in practice).
    explicit JsonObjectScanner(std::span<const std::string_view> keys);
    // Mid-string it points into itself: move it only before the first feed().
    JsonObjectScanner(JsonObjectScanner&&) = default;
    JsonObjectScanner(const JsonObjectScanner&) = delete;
    JsonObjectScanner& operator=(const JsonObjectScanner&) = delete;

    // The next piece of the body, any size (empty is fine). False once the
    // body is known to be invalid; later pieces are then ignored.
    bool feed(std::string_view piece);
    // The body has ended: true when it was exactly one valid JSON object.
    bool finish();

    bool failed() const { return error_ != Error::None; }
    Error error() const { return error_; }
    std::uint64_t error_offset() const { return error_offset_; }  // of the offending byte
    // The top-level object's closing brace has been seen; its offset in the body.
    bool closed() const { return closed_; }
    std::uint64_t close_offset() const { return close_offset_; }
    std::uint64_t bytes_fed() const { return offset_; }
    std::uint64_t top_level_members() const { return top_members_; }

    std::size_t key_count() const { return keys_.size(); }
    std::string_view key(std::size_t i) const { return keys_[i]; }
    // What the body says about key(i). Complete once finish() returned true;
    // of an invalid body, only what was read before the error.
    const JsonMember& member(std::size_t i) const { return members_[i]; }

  private:
    enum class State : std::uint8_t {
        Start,         // before the top-level '{'
        KeyOrClose,    // after '{': a key or '}'
        Key,           // after ',' in an object: a key
        Colon,         // after a key
        Value,         // after ':', or after ',' in an array
        ValueOrClose,  // after '[': a value or ']'
        AfterValue,    // ',' or the container's closing bracket
        String,
        Escape,        // after a backslash
        Hex,           // in \uXXXX
        LowBackslash,  // after a high surrogate: the '\' of its low half
        LowU,          // ... then its 'u'
        Utf8,          // in a multi-byte UTF-8 sequence
        Minus,         // number states, as in RFC 8259's grammar
        Zero,
        Int,
        FracStart,
        Frac,
        ExpStart,
        ExpSign,
        Exp,
        Literal,  // true, false, null
        Done,     // after the top-level '}': whitespace only
        Failed,
    };

    void fail(Error e, std::size_t i);
    bool structural(unsigned char c, std::size_t i);
    bool number(unsigned char c, std::size_t& i);
    std::size_t string_bytes(const char* base, std::size_t i, std::size_t n);
    bool begin_value(unsigned char c, std::size_t i);
    void end_value();
    bool push(bool object, std::size_t i);
    bool pop(bool object, std::size_t i);
    void begin_string(bool key);
    void end_string();
    // Decoded string bytes, kept when the string is one being captured.
    void append(const char* p, std::size_t n) {
        if (capture_ != nullptr) append_slow(p, n);
    }
    void append_slow(const char* p, std::size_t n);
    void append_code_point(std::uint32_t cp);
    int lookup(std::string_view key) const;

    std::vector<std::string_view> keys_;
    std::vector<JsonMember> members_;

    State state_;
    Error error_ = Error::None;
    std::uint64_t offset_ = 0;  // bytes fed before the current piece
    std::uint64_t error_offset_ = 0;
    std::uint64_t close_offset_ = 0;
    std::uint64_t top_members_ = 0;
    bool closed_ = false;

    // Open containers: bit set = object. depth_ 1 is the top-level object.
    std::array<std::uint64_t, kMaxDepth / 64> stack_{};
    std::size_t depth_ = 0;

    // Which member the current value belongs to, if one asked about.
    int member_ = -1;               // the last top-level key's index, or -1
    int in_object_ = -1;            // depth 2 is this member's object value, or -1
    bool key_is_id_ = false;        // the last key inside in_object_ was "id"
    JsonMember* target_ = nullptr;  // the value being read is reported here
    bool target_is_id_ = false;     // ... as its object's "id"

    // The string being read: a key, or a value being kept.
    bool string_is_key_ = false;
    std::string* capture_ = nullptr;  // where decoded bytes go, if anywhere
    std::size_t capture_limit_ = 0;
    bool capture_over_ = false;
    std::string key_;

    std::uint32_t hex_ = 0;  // \uXXXX so far
    std::uint8_t hex_digits_ = 0;
    bool low_half_ = false;                   // this \u must be a low surrogate
    std::uint32_t high_ = 0;                  // the high surrogate before it
    std::uint8_t utf8_left_ = 0;              // continuation bytes still expected
    std::uint8_t utf8_lo_ = 0, utf8_hi_ = 0;  // the next one's allowed range

    bool plain_integer_ = false;  // number so far: digits only, fits 64 bits
    std::uint64_t integer_ = 0;
    const char* literal_ = nullptr;  // "true", "false" or "null" being matched
    std::uint8_t literal_pos_ = 0;
};

}  // namespace proxy
