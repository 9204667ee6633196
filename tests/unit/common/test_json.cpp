#include <doctest/doctest.h>

#include <string>

#include "common/json.hpp"

using proxy::json_error_body;
using proxy::json_escape;
using proxy::json_server_info;

TEST_CASE("json_escape passes plain ASCII through") {
    CHECK(json_escape("") == "");
    CHECK(json_escape("hello world /v1/responses ~!") == "hello world /v1/responses ~!");
}

TEST_CASE("json_escape escapes quote and backslash") {
    CHECK(json_escape("a\"b") == "a\\\"b");
    CHECK(json_escape("a\\b") == "a\\\\b");
    CHECK(json_escape("\"\\\"") == "\\\"\\\\\\\"");
}

TEST_CASE("json_escape writes every control character as \\u00XX") {
    CHECK(json_escape(std::string("\0", 1)) == "\\u0000");
    CHECK(json_escape("\n") == "\\u000a");
    CHECK(json_escape("\r\n") == "\\u000d\\u000a");
    CHECK(json_escape("\t") == "\\u0009");
    CHECK(json_escape("\x1b[31m") == "\\u001b[31m");
    CHECK(json_escape("\x1f") == "\\u001f");
    CHECK(json_escape("\x7f") == "\\u007f");
    for (int c = 0; c < 0x20; ++c) {
        const std::string out = json_escape(std::string(1, static_cast<char>(c)));
        CHECK(out.size() == 6);
        CHECK(out.rfind("\\u00", 0) == 0);
    }
}

TEST_CASE("json_escape keeps valid UTF-8") {
    CHECK(json_escape("caf\xc3\xa9") == "caf\xc3\xa9");            // U+00E9
    CHECK(json_escape("\xe2\x82\xac") == "\xe2\x82\xac");          // U+20AC
    CHECK(json_escape("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");  // U+1F600
    CHECK(json_escape("\xed\x9f\xbf") == "\xed\x9f\xbf");          // U+D7FF
    CHECK(json_escape("\xee\x80\x80") == "\xee\x80\x80");          // U+E000
    CHECK(json_escape("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF
    CHECK(json_escape("\xc2\x80") == "\xc2\x80");                  // U+0080
}

TEST_CASE("json_escape replaces ill-formed UTF-8 with \\ufffd") {
    CHECK(json_escape("\x80") == "\\ufffd");                        // lone continuation
    CHECK(json_escape("\xbf\x80") == "\\ufffd\\ufffd");             // two lone continuations
    CHECK(json_escape("\xc0\xaf") == "\\ufffd\\ufffd");             // overlong '/'
    CHECK(json_escape("\xc1\xbf") == "\\ufffd\\ufffd");             // overlong
    CHECK(json_escape("\xe0\x80\xaf") == "\\ufffd\\ufffd\\ufffd");  // overlong 3-byte
    CHECK(json_escape("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");  // surrogate U+D800
    CHECK(json_escape("\xf4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");  // > U+10FFFF
    CHECK(json_escape("\xf5\x80") == "\\ufffd\\ufffd");
    CHECK(json_escape("\xff") == "\\ufffd");
    CHECK(json_escape("a\xc3") == "a\\ufffd");    // truncated at end
    CHECK(json_escape("\xe2\x82") == "\\ufffd");  // truncated: one maximal subpart
    CHECK(json_escape("\xe2\x82z") == "\\ufffdz");
    CHECK(json_escape("\xf0\x9f\x98") == "\\ufffd");
    CHECK(json_escape("\xf0\x9f\x98\"") == "\\ufffd\\\"");    // quote after broken sequence
    CHECK(json_escape("\xc3\xc3\xa9") == "\\ufffd\xc3\xa9");  // broken then valid
}

TEST_CASE("json_escape output never holds raw control bytes or invalid UTF-8") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    const std::string out = json_escape(all);
    for (unsigned char c : out) CHECK(c >= 0x20);
    for (int c = 0x80; c < 0x100; ++c) {
        CHECK(json_escape(std::string(1, static_cast<char>(c))) == "\\ufffd");
    }
}

TEST_CASE("json_error_body has OpenAI's error shape") {
    CHECK(json_error_body("only POST /v1/responses is allowed", "invalid_request_error",
                          "forbidden") ==
          R"({"error":{"message":"only POST /v1/responses is allowed",)"
          R"("type":"invalid_request_error","code":"forbidden"}})");
    CHECK(json_error_body("", "", "") == R"({"error":{"message":"","type":"","code":""}})");
}

TEST_CASE("json_error_body escapes every field") {
    CHECK(json_error_body("bad \"x\"\r\n", "t\\", "c\x01") ==
          R"({"error":{"message":"bad \"x\"\u000d\u000a","type":"t\\","code":"c\u0001"}})");
    CHECK(json_error_body("\xff", "server_error", "x") ==
          R"({"error":{"message":"\ufffd","type":"server_error","code":"x"}})");
}

TEST_CASE("json_server_info matches the original's file") {
    CHECK(json_server_info(8080, 1234) == R"({"port":8080,"pid":1234})");
    CHECK(json_server_info(0, 1) == R"({"port":0,"pid":1})");
    CHECK(json_server_info(65535, 4194304) == R"({"port":65535,"pid":4194304})");
}
