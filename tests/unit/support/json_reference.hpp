// A plain recursive-descent reading of a whole JSON body, written apart from
// common/json_object_scanner.* so the two can be compared: the unit tests and
// fuzz_json_object_scanner check that the streaming scanner, fed any pieces,
// agrees with this on validity and on every member it reports. Slow and
// simple on purpose: it decodes whole strings and code points one at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_object_scanner.hpp"

namespace proxy::testing {

class JsonReference {
  public:
    JsonReference(std::string_view text, std::span<const std::string_view> keys)
        : s_(text), keys_(keys.begin(), keys.end()), members_(keys.size()) {
        ws();
        if (at_end() || s_[pos_] != '{') return;
        if (!value(0, nullptr, Role::TopObject)) return;
        ws();
        valid_ = at_end();
    }

    bool valid() const { return valid_; }
    const JsonMember& member(std::size_t i) const { return members_[i]; }

  private:
    static constexpr std::size_t kMaxDepth = JsonObjectScanner::kMaxDepth;
    static constexpr std::size_t kMaxValue = JsonObjectScanner::kMaxValue;
    // TopObject: the body itself. Member: an asked-about top-level member's
    // value (first occurrence). MemberObject: that value is an object, whose
    // "id" members are looked at. Id: the first "id" value of such an object.
    enum class Role { None, TopObject, Member, Id };

    bool at_end() const { return pos_ >= s_.size(); }
    unsigned char peek() const { return static_cast<unsigned char>(s_[pos_]); }
    void ws() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
            ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    // One code point of UTF-8 at pos_, checked by decoding it.
    bool utf8(std::string& out) {
        const unsigned char c = peek();
        int len;
        std::uint32_t cp;
        if (c >= 0xf0) {
            len = 4;
            cp = c & 0x07u;
        } else if (c >= 0xe0) {
            len = 3;
            cp = c & 0x0fu;
        } else if (c >= 0xc0) {
            len = 2;
            cp = c & 0x1fu;
        } else {
            return false;
        }
        if (c > 0xf4) return false;
        if (s_.size() - pos_ < static_cast<std::size_t>(len)) return false;
        for (int k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s_[pos_ + static_cast<std::size_t>(k)]);
            if ((b & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (b & 0x3fu);
        }
        const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        out.append(s_.substr(pos_, static_cast<std::size_t>(len)));
        pos_ += static_cast<std::size_t>(len);
        return true;
    }

    std::optional<std::uint32_t> hex4() {
        if (s_.size() - pos_ < 4) return std::nullopt;
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            const char h = s_[pos_++];
            v <<= 4;
            if (h >= '0' && h <= '9')
                v |= static_cast<std::uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f')
                v |= static_cast<std::uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
                v |= static_cast<std::uint32_t>(h - 'A' + 10);
            else
                return std::nullopt;
        }
        return v;
    }

    static void put(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }

    // A string at pos_ (its opening quote), decoded whole into out.
    bool string(std::string& out) {
        ++pos_;
        for (;;) {
            if (at_end()) return false;
            const unsigned char c = peek();
            if (c == '"') {
                ++pos_;
                return true;
            }
            if (c < 0x20) return false;
            if (c >= 0x80) {
                if (!utf8(out)) return false;
                continue;
            }
            ++pos_;
            if (c != '\\') {
                out += static_cast<char>(c);
                continue;
            }
            if (at_end()) return false;
            const char e = s_[pos_++];
            const std::string_view simple = "\"\\/bfnrt";
            const std::string_view meant = "\"\\/\b\f\n\r\t";
            if (const auto k = simple.find(e); k != std::string_view::npos) {
                out += meant[k];
                continue;
            }
            if (e != 'u') return false;
            const auto u = hex4();
            if (!u) return false;
            if (*u >= 0xdc00 && *u <= 0xdfff) return false;
            if (*u < 0xd800 || *u > 0xdbff) {
                put(out, *u);
                continue;
            }
            if (!literal("\\u")) return false;
            const auto low = hex4();
            if (!low || *low < 0xdc00 || *low > 0xdfff) return false;
            put(out, 0x10000 + ((*u - 0xd800) << 10) + (*low - 0xdc00));
        }
    }

    bool number(JsonMember* m) {
        const std::size_t start = pos_;
        literal("-");
        if (at_end()) return false;
        if (peek() == '0') {
            ++pos_;
        } else if (peek() >= '1' && peek() <= '9') {
            while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
        } else {
            return false;
        }
        const std::size_t int_end = pos_;
        if (!at_end() && peek() == '.') {
            ++pos_;
            if (at_end() || peek() < '0' || peek() > '9') return false;
            while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            ++pos_;
            if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
            if (at_end() || peek() < '0' || peek() > '9') return false;
            while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (m != nullptr && pos_ == int_end && s_[start] != '-') {
            // Plain digits: the integer, if it fits (decimal, compared as text).
            const std::string digits(s_.substr(start, pos_ - start));
            const std::string max = "18446744073709551615";
            if (digits.size() < max.size() || (digits.size() == max.size() && digits <= max))
                m->integer = std::stoull(digits);
        }
        return true;
    }

    bool value(std::size_t depth, JsonMember* m, Role role) {
        ws();
        if (at_end()) return false;
        const unsigned char c = peek();
        JsonType type = JsonType::Absent;
        bool ok = false;
        if (c == '{') {
            type = JsonType::Object;
            ok = object(depth + 1, m, role);
        } else if (c == '[') {
            type = JsonType::Array;
            ok = array(depth + 1);
        } else if (c == '"') {
            type = JsonType::String;
            std::string text;
            ok = string(text);
            if (ok && m != nullptr && (role == Role::Member || role == Role::Id)) {
                if (text.size() > kMaxValue)
                    m->text_too_long = true;
                else
                    m->text = text;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            type = JsonType::Number;
            ok = number(role == Role::Member ? m : nullptr);
        } else if (literal("true") || literal("false") || literal("null")) {
            type = c == 'n' ? JsonType::Null : JsonType::Bool;
            ok = true;
            if (m != nullptr && role == Role::Member) m->boolean = c == 't';
        }
        if (m != nullptr && role == Role::Member) m->type = type;
        if (m != nullptr && role == Role::Id) m->id_is_string = type == JsonType::String;
        return ok;
    }

    bool array(std::size_t depth) {
        if (depth > kMaxDepth) return false;
        ++pos_;
        ws();
        if (!at_end() && peek() == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            if (!value(depth, nullptr, Role::None)) return false;
            ws();
            if (at_end()) return false;
            if (peek() == ']') {
                ++pos_;
                return true;
            }
            if (peek() != ',') return false;
            ++pos_;
        }
    }

    // `m` and `role` say what this object is: the body (TopObject), an
    // asked-about member's value (Member), or nothing to report.
    bool object(std::size_t depth, JsonMember* m, Role role) {
        if (depth > kMaxDepth) return false;
        ++pos_;
        ws();
        if (!at_end() && peek() == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            ws();
            if (at_end() || peek() != '"') return false;
            std::string key;
            if (!string(key)) return false;
            ws();
            if (at_end() || peek() != ':') return false;
            ++pos_;
            JsonMember* target = nullptr;
            Role target_role = Role::None;
            if (role == Role::TopObject) {
                for (std::size_t k = 0; k < keys_.size(); ++k) {
                    if (keys_[k] != key) continue;
                    if (++members_[k].count == 1) {
                        target = &members_[k];
                        target_role = Role::Member;
                    }
                }
            } else if (role == Role::Member && key == "id") {
                if (++m->id_count == 1) {
                    target = m;
                    target_role = Role::Id;
                }
            }
            if (!value(depth, target, target_role)) return false;
            ws();
            if (at_end()) return false;
            if (peek() == '}') {
                ++pos_;
                return true;
            }
            if (peek() != ',') return false;
            ++pos_;
        }
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    std::vector<std::string_view> keys_;
    std::vector<JsonMember> members_;
    bool valid_ = false;
};

}  // namespace proxy::testing
