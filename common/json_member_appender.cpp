#include "common/json_member_appender.hpp"

#include "common/json.hpp"

namespace proxy {

JsonMemberAppender::JsonMemberAppender(JsonObjectScanner& scanner, std::size_t key_index,
                                       std::uint64_t value)
    : scanner_(scanner), key_index_(key_index), value_(value) {}

std::string_view JsonMemberAppender::feed(std::string_view piece) {
    const std::uint64_t start = scanner_.bytes_fed();
    const bool closed_before = scanner_.closed();
    if (!scanner_.feed(piece) || closed_before) return {};  // invalid, or whitespace after '}'
    if (!scanner_.closed()) return piece;
    return piece.substr(0, static_cast<std::size_t>(scanner_.close_offset() - start));
}

std::optional<std::string> JsonMemberAppender::finish() {
    if (!scanner_.finish()) return std::nullopt;
    if (scanner_.member(key_index_).count > 0) return std::string("}");
    std::string tail = scanner_.top_level_members() > 0 ? ",\"" : "\"";
    tail += json_escape(scanner_.key(key_index_));
    tail += "\":";
    tail += std::to_string(value_);
    tail += '}';
    return tail;
}

}  // namespace proxy
