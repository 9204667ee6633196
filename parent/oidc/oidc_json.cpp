#include "parent/oidc/oidc_json.hpp"

#include <charconv>

namespace proxy {

namespace {

class Reader {
  public:
    explicit Reader(std::span<char> text) : p_(text.data()), end_(text.data() + text.size()) {}

    void skip_ws() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
    }
    bool at_end() const { return p_ == end_; }
    bool eat(char c) {
        skip_ws();
        if (p_ < end_ && *p_ == c) {
            ++p_;
            return true;
        }
        return false;
    }
    char peek() {
        skip_ws();
        return p_ < end_ ? *p_ : '\0';
    }

    // A string starting at '"', unescaped in place: the result is a view of
    // the buffer from just after the opening quote (never longer than the
    // escaped text, so writing never overtakes reading).
    std::optional<std::string_view> string() {
        if (!eat('"')) return std::nullopt;
        char* out = p_;
        char* const begin = out;
        while (p_ < end_) {
            const auto c = static_cast<unsigned char>(*p_++);
            if (c == '"') return std::string_view(begin, static_cast<std::size_t>(out - begin));
            if (c < 0x20) return std::nullopt;
            if (c != '\\') {
                *out++ = static_cast<char>(c);
                continue;
            }
            if (p_ == end_) return std::nullopt;
            const char e = *p_++;
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    *out++ = e;
                    break;
                case 'b':
                    *out++ = '\b';
                    break;
                case 'f':
                    *out++ = '\f';
                    break;
                case 'n':
                    *out++ = '\n';
                    break;
                case 'r':
                    *out++ = '\r';
                    break;
                case 't':
                    *out++ = '\t';
                    break;
                case 'u': {
                    if (end_ - p_ < 4) return std::nullopt;
                    unsigned v = 0;
                    auto [ptr, ec] = std::from_chars(p_, p_ + 4, v, 16);
                    if (ec != std::errc() || ptr != p_ + 4) return std::nullopt;
                    p_ += 4;
                    // Tokens are ASCII; anything else is kept out rather
                    // than re-encoded (the caller then rejects the value).
                    *out++ = v < 0x80 ? static_cast<char>(v) : '\x7f';
                    break;
                }
                default:
                    return std::nullopt;
            }
        }
        return std::nullopt;
    }

    std::optional<std::string_view> number() {
        skip_ws();
        char* const begin = p_;
        if (p_ < end_ && *p_ == '-') ++p_;
        const char* digits = p_;
        while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
        if (p_ == digits || (*digits == '0' && p_ - digits > 1)) return std::nullopt;
        if (p_ < end_ && *p_ == '.') {
            const char* frac = ++p_;
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
            if (p_ == frac) return std::nullopt;
        }
        if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            const char* exp = p_;
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
            if (p_ == exp) return std::nullopt;
        }
        return std::string_view(begin, static_cast<std::size_t>(p_ - begin));
    }

    bool literal(std::string_view word) {
        skip_ws();
        if (static_cast<std::size_t>(end_ - p_) < word.size() ||
            std::string_view(p_, word.size()) != word)
            return false;
        p_ += word.size();
        return true;
    }

    // Any value, for syntax only; depth-limited.
    bool skip_value(int depth = 0) {
        if (depth > 32) return false;
        const char c = peek();
        if (c == '"') return string().has_value();
        if (c == '{' || c == '[') {
            const char close = c == '{' ? '}' : ']';
            eat(c);
            if (eat(close)) return true;
            do {
                if (c == '{' && (!string() || !eat(':'))) return false;
                if (!skip_value(depth + 1)) return false;
            } while (eat(','));
            return eat(close);
        }
        if (c == 't') return literal("true");
        if (c == 'f') return literal("false");
        if (c == 'n') return literal("null");
        return number().has_value();
    }

  private:
    char* p_;
    char* end_;
};

}  // namespace

std::optional<std::vector<JsonField>> parse_flat_json_object(std::span<char> text) {
    Reader r(text);
    std::vector<JsonField> fields;
    if (!r.eat('{')) return std::nullopt;
    if (!r.eat('}')) {
        do {
            JsonField f;
            auto key = r.string();
            if (!key || !r.eat(':')) return std::nullopt;
            f.key = *key;
            const char c = r.peek();
            if (c == '"') {
                auto v = r.string();
                if (!v) return std::nullopt;
                f.kind = JsonField::Kind::String;
                f.value = *v;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                auto v = r.number();
                if (!v) return std::nullopt;
                f.kind = JsonField::Kind::Number;
                f.value = *v;
            } else if (!r.skip_value()) {
                return std::nullopt;
            }
            fields.push_back(f);
        } while (r.eat(','));
        if (!r.eat('}')) return std::nullopt;
    }
    r.skip_ws();
    if (!r.at_end()) return std::nullopt;
    return fields;
}

const JsonField* find_field(const std::vector<JsonField>& fields, std::string_view key) {
    for (const JsonField& f : fields) {
        if (f.key == key) return &f;
    }
    return nullptr;
}

std::optional<std::uint64_t> json_unsigned(const JsonField& f) {
    if (f.kind != JsonField::Kind::Number) return std::nullopt;
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
    if (ec != std::errc() || ptr != f.value.data() + f.value.size()) return std::nullopt;
    return n;
}

}  // namespace proxy
