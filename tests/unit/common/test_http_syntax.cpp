#include <doctest/doctest.h>

#include "common/http_syntax.hpp"

using namespace proxy;
using namespace proxy::http;

TEST_CASE("is_tchar accepts exactly the RFC 9110 tchar set") {
    const std::string_view specials = "!#$%&'*+-.^_`|~";
    int accepted = 0;
    for (int c = 0; c < 256; ++c) {
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool expected = alnum || specials.find(static_cast<char>(c)) != std::string_view::npos;
        CHECK_MESSAGE(is_tchar(static_cast<unsigned char>(c)) == expected, "byte ", c);
        accepted += is_tchar(static_cast<unsigned char>(c)) ? 1 : 0;
    }
    CHECK(accepted == 62 + 15);
}

TEST_CASE("is_token") {
    CHECK(is_token("POST"));
    CHECK(is_token("Content-Length"));
    CHECK(is_token("x!#$%&'*+-.^_`|~9"));
    CHECK_FALSE(is_token(""));
    CHECK_FALSE(is_token("a b"));
    CHECK_FALSE(is_token("a:b"));
    CHECK_FALSE(is_token("a\tb"));
    CHECK_FALSE(is_token("(a)"));
    CHECK_FALSE(is_token("\"a\""));
    CHECK_FALSE(is_token(std::string_view("a\0b", 3)));
    CHECK_FALSE(is_token("caf\xc3\xa9"));
}

TEST_CASE("is_field_value allows VCHAR, SP, HTAB and obs-text only") {
    CHECK(is_field_value(""));
    CHECK(is_field_value("text/event-stream; charset=utf-8"));
    CHECK(is_field_value("a\tb c"));
    CHECK(is_field_value("\x80\xff"));
    CHECK_FALSE(is_field_value(std::string_view("a\0b", 3)));
    CHECK_FALSE(is_field_value("a\rb"));
    CHECK_FALSE(is_field_value("a\nb"));
    CHECK_FALSE(is_field_value("a\x01"));
    CHECK_FALSE(is_field_value("a\x1f"));
    CHECK_FALSE(is_field_value("a\x7f"));
}

TEST_CASE("trim_ows strips SP and HTAB only, at both ends") {
    CHECK(trim_ows("") == "");
    CHECK(trim_ows(" \t ") == "");
    CHECK(trim_ows(" \ta b\t ") == "a b");
    CHECK(trim_ows("\va\v") == "\va\v");
    CHECK(trim_ows("x") == "x");
}

TEST_CASE("parse_decimal: digits only, bounded by 2^62") {
    CHECK(parse_decimal("0") == 0u);
    CHECK(parse_decimal("007") == 7u);
    CHECK(parse_decimal("12345") == 12345u);
    CHECK(parse_decimal("4611686018427387904") == (std::uint64_t{1} << 62));
    CHECK_FALSE(parse_decimal("4611686018427387905"));
    CHECK_FALSE(parse_decimal("9999999999999999999"));
    CHECK_FALSE(parse_decimal("18446744073709551616"));  // 2^64
    CHECK_FALSE(parse_decimal("00000000000000000001"));  // 20 digits
    CHECK_FALSE(parse_decimal(""));
    CHECK_FALSE(parse_decimal("+1"));
    CHECK_FALSE(parse_decimal("-1"));
    CHECK_FALSE(parse_decimal(" 1"));
    CHECK_FALSE(parse_decimal("1 "));
    CHECK_FALSE(parse_decimal("1 2"));
    CHECK_FALSE(parse_decimal("0x10"));
    CHECK_FALSE(parse_decimal("1,2"));
}

TEST_CASE("list_contains_token looks in every field line and every member") {
    HeaderList h{{"Connection", "keep-alive, Upgrade"}, {"connection", " close "}, {"X", "close"}};
    CHECK(list_contains_token(h, "Connection", "keep-alive"));
    CHECK(list_contains_token(h, "Connection", "upgrade"));
    CHECK(list_contains_token(h, "CONNECTION", "CLOSE"));
    CHECK_FALSE(list_contains_token(h, "Connection", "keep"));
    CHECK_FALSE(list_contains_token(h, "Connection", "alive"));
    CHECK_FALSE(list_contains_token(h, "Upgrade", "close"));
    CHECK_FALSE(list_contains_token({}, "Connection", "close"));
    CHECK(list_contains_token({{"Connection", ",,close,"}}, "Connection", "close"));
}
