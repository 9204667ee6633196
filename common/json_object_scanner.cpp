#include "common/json_object_scanner.hpp"

#include <limits>

namespace proxy {

const char* json_type_name(JsonType t) {
    switch (t) {
        case JsonType::Absent:
            return "absent";
        case JsonType::String:
            return "a string";
        case JsonType::Number:
            return "a number";
        case JsonType::Bool:
            return "a boolean";
        case JsonType::Null:
            return "null";
        case JsonType::Object:
            return "an object";
        case JsonType::Array:
            return "an array";
    }
    return "?";
}

const char* JsonObjectScanner::describe(Error e) {
    switch (e) {
        case Error::None:
            return "no error";
        case Error::NotAnObject:
            return "the body is not a JSON object";
        case Error::Syntax:
            return "invalid JSON syntax";
        case Error::BadString:
            return "a control character in a string";
        case Error::BadEscape:
            return "an invalid escape in a string";
        case Error::BadSurrogate:
            return "a \\u surrogate that is not half of a pair";
        case Error::BadUtf8:
            return "invalid UTF-8 in a string";
        case Error::TooDeep:
            return "JSON nested too deeply";
        case Error::TrailingData:
            return "data after the JSON object";
        case Error::Incomplete:
            return "the JSON object is incomplete";
    }
    return "?";
}

JsonObjectScanner::JsonObjectScanner(std::span<const std::string_view> keys)
    : keys_(keys.begin(), keys.end()), members_(keys.size()), state_(State::Start) {
    if (keys.size() > kMaxKeys) keys_.resize(kMaxKeys);
    key_.reserve(kMaxKey);
}

void JsonObjectScanner::fail(Error e, std::size_t i) {
    error_ = e;
    error_offset_ = offset_ + i;
    state_ = State::Failed;
}

int JsonObjectScanner::lookup(std::string_view key) const {
    for (std::size_t k = 0; k < keys_.size(); ++k) {
        if (keys_[k] == key) return static_cast<int>(k);
    }
    return -1;
}

bool JsonObjectScanner::push(bool object, std::size_t i) {
    if (depth_ == kMaxDepth) {
        fail(Error::TooDeep, i);
        return false;
    }
    const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
    if (object)
        stack_[depth_ / 64] |= bit;
    else
        stack_[depth_ / 64] &= ~bit;
    ++depth_;
    state_ = object ? State::KeyOrClose : State::ValueOrClose;
    return true;
}

bool JsonObjectScanner::pop(bool object, std::size_t i) {
    const std::size_t top = depth_ - 1;
    const bool is_object = (stack_[top / 64] >> (top % 64)) & 1;
    if (is_object != object) {
        fail(Error::Syntax, i);
        return false;
    }
    --depth_;
    if (depth_ == 0) {
        closed_ = true;
        close_offset_ = offset_ + i;
        state_ = State::Done;
        return true;
    }
    if (depth_ == 1) in_object_ = -1;
    state_ = State::AfterValue;
    return true;
}

// The value at the current position starts with c: decide where it is
// reported (a top-level member asked about, or its object's "id"), then enter
// the value's first state.
bool JsonObjectScanner::begin_value(unsigned char c, std::size_t i) {
    target_ = nullptr;
    target_is_id_ = false;
    if (depth_ == 1 && member_ >= 0) {
        JsonMember& m = members_[static_cast<std::size_t>(member_)];
        if (m.count == 1) target_ = &m;
    } else if (depth_ == 2 && in_object_ >= 0 && key_is_id_) {
        JsonMember& m = members_[static_cast<std::size_t>(in_object_)];
        if (m.id_count == 1) {
            target_ = &m;
            target_is_id_ = true;
        }
    }
    JsonType type;
    switch (c) {
        case '"':
            type = JsonType::String;
            begin_string(false);
            break;
        case '{':
            type = JsonType::Object;
            if (!push(true, i)) return false;
            if (target_ != nullptr && !target_is_id_) in_object_ = member_;
            break;
        case '[':
            type = JsonType::Array;
            if (!push(false, i)) return false;
            break;
        case 't':
        case 'f':
        case 'n':
            type = c == 'n' ? JsonType::Null : JsonType::Bool;
            literal_ = c == 't' ? "true" : c == 'f' ? "false" : "null";
            literal_pos_ = 1;
            state_ = State::Literal;
            if (target_ != nullptr && !target_is_id_) target_->boolean = c == 't';
            break;
        default:
            if (c != '-' && (c < '0' || c > '9')) {
                fail(Error::Syntax, i);
                return false;
            }
            type = JsonType::Number;
            plain_integer_ = c != '-';
            integer_ = c == '-' ? 0 : c - '0';
            state_ = c == '-' ? State::Minus : c == '0' ? State::Zero : State::Int;
            break;
    }
    if (target_ != nullptr) {
        if (target_is_id_)
            target_->id_is_string = type == JsonType::String;
        else
            target_->type = type;
    }
    return true;
}

// A string, number or literal ended (containers end in pop()).
void JsonObjectScanner::end_value() {
    if (target_ != nullptr && !target_is_id_ && target_->type == JsonType::Number && plain_integer_)
        target_->integer = integer_;
    target_ = nullptr;
    state_ = State::AfterValue;
}

void JsonObjectScanner::begin_string(bool key) {
    string_is_key_ = key;
    capture_ = nullptr;
    capture_over_ = false;
    if (key) {
        // Only keys that can be asked about are decoded: the top level's, and
        // those of an asked-about member's object (for its "id").
        if (depth_ == 1 || (depth_ == 2 && in_object_ >= 0)) {
            key_.clear();
            capture_ = &key_;
            capture_limit_ = kMaxKey;
        }
    } else if (target_ != nullptr) {
        target_->text.clear();
        capture_ = &target_->text;
        capture_limit_ = kMaxValue;
    }
    state_ = State::String;
}

void JsonObjectScanner::end_string() {
    if (!string_is_key_) {
        if (target_ != nullptr && capture_over_) {
            target_->text.clear();
            target_->text_too_long = true;
        }
        end_value();
        return;
    }
    state_ = State::Colon;
    if (depth_ == 1) {
        ++top_members_;
        member_ = capture_over_ ? -1 : lookup(key_);
        if (member_ >= 0) {
            JsonMember& m = members_[static_cast<std::size_t>(member_)];
            if (m.count < std::numeric_limits<unsigned>::max()) ++m.count;
        }
    } else if (capture_ != nullptr) {  // a key of in_object_'s object
        key_is_id_ = !capture_over_ && key_ == "id";
        if (key_is_id_) {
            JsonMember& m = members_[static_cast<std::size_t>(in_object_)];
            if (m.id_count < std::numeric_limits<unsigned>::max()) ++m.id_count;
        }
    }
}

void JsonObjectScanner::append_slow(const char* p, std::size_t n) {
    if (capture_over_) return;
    if (capture_->size() + n > capture_limit_) {
        capture_over_ = true;
        return;
    }
    capture_->append(p, n);
}

void JsonObjectScanner::append_code_point(std::uint32_t cp) {
    char b[4];
    std::size_t n;
    if (cp < 0x80) {
        b[0] = static_cast<char>(cp);
        n = 1;
    } else if (cp < 0x800) {
        b[0] = static_cast<char>(0xc0 | (cp >> 6));
        b[1] = static_cast<char>(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = static_cast<char>(0xe0 | (cp >> 12));
        b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        b[2] = static_cast<char>(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = static_cast<char>(0xf0 | (cp >> 18));
        b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        b[3] = static_cast<char>(0x80 | (cp & 0x3f));
        n = 4;
    }
    append(b, n);
}

bool JsonObjectScanner::finish() {
    if (!failed() && state_ != State::Done) {
        error_ = Error::Incomplete;
        error_offset_ = offset_;
        state_ = State::Failed;
    }
    return !failed();
}

}  // namespace proxy
