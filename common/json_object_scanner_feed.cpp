// The byte loop of common/json_object_scanner.hpp: one switch per byte in
// structural positions, and inside strings a jump to the next byte that
// matters (common/json_string_skip.hpp), which is where a request body's
// bytes mostly are.
#include <limits>

#include "common/ascii.hpp"
#include "common/json_object_scanner.hpp"
#include "common/json_string_skip.hpp"
#include "common/utf8.hpp"

namespace proxy {
namespace {

bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

// What a one-letter escape stands for; 0 for 'u' and for what is no escape.
char simple_escape(unsigned char c) {
    switch (c) {
        case '"':
            return '"';
        case '\\':
            return '\\';
        case '/':
            return '/';
        case 'b':
            return '\b';
        case 'f':
            return '\f';
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        default:
            return 0;
    }
}

}  // namespace

// Inside a string, from base[i]: consumes up to the string's end or the
// piece's, and returns the index after what it consumed. Runs of plain bytes
// go by in one find_special(); escapes and UTF-8 sequences that lie whole in
// this piece are handled here without leaving the loop; one cut by the
// piece's end continues in the Escape or Utf8 state.
std::size_t JsonObjectScanner::string_bytes(const char* base, std::size_t i, std::size_t n) {
    const char* p = base + i;
    const char* const end = base + n;
    for (;;) {
        const char* stop = json_detail::find_special(p, end);
        append(p, static_cast<std::size_t>(stop - p));
        if (stop == end) return n;
        const auto c = static_cast<unsigned char>(*stop);
        const auto at = static_cast<std::size_t>(stop - base);
        if (c == '"') {
            end_string();
            return at + 1;
        }
        if (c == '\\') {
            const char decoded =
                end - stop >= 2 ? simple_escape(static_cast<unsigned char>(stop[1])) : 0;
            if (decoded == 0) {
                state_ = State::Escape;
                return at + 1;
            }
            append(&decoded, 1);
            p = stop + 2;
            continue;
        }
        if (c < 0x20) {
            fail(Error::BadString, at);
            return n;
        }
        // Non-ASCII text comes in runs: check sequence after sequence here.
        for (;;) {
            const Utf8Lead lead = utf8_lead(static_cast<unsigned char>(*stop));
            const auto at_lead = static_cast<std::size_t>(stop - base);
            if (lead.continuation == 0) {
                fail(Error::BadUtf8, at_lead);
                return n;
            }
            const std::size_t len = lead.continuation + 1u;
            if (static_cast<std::size_t>(end - stop) < len) {  // cut by the piece's end
                append(stop, 1);
                utf8_left_ = lead.continuation;
                utf8_lo_ = lead.lo;
                utf8_hi_ = lead.hi;
                state_ = State::Utf8;
                return at_lead + 1;
            }
            for (std::size_t k = 1; k < len; ++k) {
                const auto b = static_cast<unsigned char>(stop[k]);
                if (k == 1 ? (b < lead.lo || b > lead.hi) : (b & 0xc0) != 0x80) {
                    fail(Error::BadUtf8, at_lead + k);
                    return n;
                }
            }
            append(stop, len);
            stop += len;
            if (stop == end || static_cast<unsigned char>(*stop) < 0x80) break;
        }
        p = stop;
    }
}

bool JsonObjectScanner::feed(std::string_view piece) {
    if (failed()) return false;
    const char* const base = piece.data();
    const std::size_t n = piece.size();
    std::size_t i = 0;
    while (i < n) {
        const auto c = static_cast<unsigned char>(base[i]);
        switch (state_) {
            case State::String:
                i = string_bytes(base, i, n);
                if (failed()) return false;
                break;
            case State::Utf8:
                if (c < utf8_lo_ || c > utf8_hi_) {
                    fail(Error::BadUtf8, i);
                    return false;
                }
                append(base + i, 1);
                utf8_lo_ = 0x80;
                utf8_hi_ = 0xbf;
                if (--utf8_left_ == 0) state_ = State::String;
                ++i;
                break;
            case State::Escape: {
                const char decoded = simple_escape(c);
                if (decoded != 0) {
                    append(&decoded, 1);
                    state_ = State::String;
                } else if (c == 'u') {
                    hex_ = 0;
                    hex_digits_ = 0;
                    low_half_ = false;
                    state_ = State::Hex;
                } else {
                    fail(Error::BadEscape, i);
                    return false;
                }
                ++i;
                break;
            }
            case State::Hex: {
                const int v = hex_digit_value(c);
                if (v < 0) {
                    fail(Error::BadEscape, i);
                    return false;
                }
                hex_ = hex_ * 16 + static_cast<std::uint32_t>(v);
                ++i;
                if (++hex_digits_ < 4) break;
                const bool high = hex_ >= 0xd800 && hex_ <= 0xdbff;
                const bool low = hex_ >= 0xdc00 && hex_ <= 0xdfff;
                if (low_half_ != low) {
                    fail(Error::BadSurrogate, i - 1);
                    return false;
                }
                if (high) {
                    high_ = hex_;
                    state_ = State::LowBackslash;
                    break;
                }
                append_code_point(low ? 0x10000 + ((high_ - 0xd800) << 10) + (hex_ - 0xdc00)
                                      : hex_);
                state_ = State::String;
                break;
            }
            case State::LowBackslash:
            case State::LowU:
                if (c != (state_ == State::LowBackslash ? '\\' : 'u')) {
                    fail(Error::BadSurrogate, i);
                    return false;
                }
                if (state_ == State::LowU) {
                    hex_ = 0;
                    hex_digits_ = 0;
                    low_half_ = true;
                    state_ = State::Hex;
                } else {
                    state_ = State::LowU;
                }
                ++i;
                break;
            case State::Minus:
            case State::Zero:
            case State::Int:
            case State::FracStart:
            case State::Frac:
            case State::ExpStart:
            case State::ExpSign:
            case State::Exp:
                if (!number(c, i)) return false;
                break;
            case State::Literal:
                if (c != static_cast<unsigned char>(literal_[literal_pos_])) {
                    fail(Error::Syntax, i);
                    return false;
                }
                if (literal_[++literal_pos_] == '\0') end_value();
                ++i;
                break;
            case State::Failed:
                return false;
            default:
                // Structural states: whitespace, then one byte that moves on.
                if (is_json_space(c)) {
                    ++i;
                    break;
                }
                if (!structural(c, i)) return false;
                ++i;
                break;
        }
    }
    offset_ += n;
    return true;
}

// One byte of a number at piece offset i. A byte that cannot continue the
// number ends it (where the grammar allows), and is then read again as what
// follows the value: i is not advanced for it.
bool JsonObjectScanner::number(unsigned char c, std::size_t& i) {
    const bool digit = is_digit(c);
    const bool exp = c == 'e' || c == 'E';
    State next = State::Failed;
    bool ends = false;
    switch (state_) {
        case State::Minus:
            next = c == '0' ? State::Zero : digit ? State::Int : State::Failed;
            break;
        case State::Zero:  // no leading zeros: a digit here fails
            if (c == '.')
                next = State::FracStart;
            else if (exp)
                next = State::ExpStart;
            else
                ends = !digit;
            break;
        case State::Int:
            if (digit)
                next = State::Int;
            else if (c == '.')
                next = State::FracStart;
            else if (exp)
                next = State::ExpStart;
            else
                ends = true;
            break;
        case State::FracStart:
            next = digit ? State::Frac : State::Failed;
            break;
        case State::Frac:
            if (digit)
                next = State::Frac;
            else if (exp)
                next = State::ExpStart;
            else
                ends = true;
            break;
        case State::ExpStart:
            next = digit ? State::Exp : (c == '+' || c == '-') ? State::ExpSign : State::Failed;
            break;
        case State::ExpSign:
            next = digit ? State::Exp : State::Failed;
            break;
        case State::Exp:
            next = State::Exp;
            ends = !digit;
            break;
        default:
            break;
    }
    if (ends) {
        end_value();
        return true;  // c is read again in AfterValue
    }
    if (next == State::Failed) {
        fail(Error::Syntax, i);
        return false;
    }
    if (next == State::Int && digit && plain_integer_) {
        const std::uint64_t d = c - '0';
        if (integer_ > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
            plain_integer_ = false;
        else
            integer_ = integer_ * 10 + d;
    } else if (next != State::Int) {
        plain_integer_ = false;
    }
    state_ = next;
    ++i;
    return true;
}

// One non-whitespace byte in a structural state.
bool JsonObjectScanner::structural(unsigned char c, std::size_t i) {
    switch (state_) {
        case State::Start:
            if (c == '{') return push(true, i);
            fail(Error::NotAnObject, i);
            return false;
        case State::KeyOrClose:
            if (c == '}') return pop(true, i);
            [[fallthrough]];
        case State::Key:
            if (c != '"') break;
            begin_string(true);
            return true;
        case State::Colon:
            if (c != ':') break;
            state_ = State::Value;
            return true;
        case State::ValueOrClose:
            if (c == ']') return pop(false, i);
            [[fallthrough]];
        case State::Value:
            return begin_value(c, i);
        case State::AfterValue: {
            const std::size_t top = depth_ - 1;
            const bool in_object = (stack_[top / 64] >> (top % 64)) & 1;
            if (c == ',') {
                state_ = in_object ? State::Key : State::Value;
                return true;
            }
            if (c == '}' || c == ']') return pop(c == '}', i);
            break;
        }
        case State::Done:
            fail(Error::TrailingData, i);
            return false;
        default:
            break;
    }
    fail(Error::Syntax, i);
    return false;
}

}  // namespace proxy
