// ResponseOwners: which user created each stored response, bounded in time
// and size, and kept in the state file as strict text lines.
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "policy/response_owners.hpp"

using namespace proxy;

namespace {
constexpr std::int64_t kDay = 24 * 3600;
constexpr std::int64_t kOwnersT0 = 1767225600;  // 2026-01-01T00:00:00Z
const std::string kId = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b";
}  // namespace

TEST_CASE("response owners: the creator, and nobody for what it never saw") {
    ResponseOwners o;
    CHECK(o.insert(kId, 1000, kOwnersT0));
    CHECK(o.owner_of(kId, kOwnersT0) == 1000u);
    CHECK(o.owner_of(kId, kOwnersT0 + 29 * kDay) == 1000u);
    CHECK_FALSE(o.owner_of("resp_other", kOwnersT0));
    CHECK_FALSE(o.owner_of("", kOwnersT0));
    // The first owner stays: a second claim on the same id changes nothing.
    CHECK(o.insert(kId, 1001, kOwnersT0 + 1));
    CHECK(o.owner_of(kId, kOwnersT0 + 1) == 1000u);
    CHECK(o.size() == 1);
}

TEST_CASE("response owners: ids outside [A-Za-z0-9_-]{1,128} are never recorded") {
    ResponseOwners o;
    for (std::string bad :
         {std::string(), std::string("resp x"), std::string("resp_\n"), std::string("resp/1"),
          std::string("r\xc3\xa9sp"), std::string(129, 'a')}) {
        CAPTURE(bad);
        CHECK_FALSE(valid_response_id(bad));
        CHECK_FALSE(o.insert(bad, 1000, kOwnersT0));
        CHECK_FALSE(o.owner_of(bad, kOwnersT0));
    }
    CHECK(valid_response_id(std::string(128, 'a')));
    CHECK(valid_response_id("conv_A-9_z"));
    CHECK(o.size() == 0);
}

TEST_CASE("response owners: forgotten after the retention window") {
    ResponseOwners o({.retention_seconds = 30 * kDay, .max_entries = 10});
    o.insert("resp_a", 1000, kOwnersT0);
    o.insert("resp_b", 1001, kOwnersT0 + kDay);
    CHECK(o.owner_of("resp_a", kOwnersT0 + 30 * kDay - 1) == 1000u);
    CHECK_FALSE(o.owner_of("resp_a", kOwnersT0 + 30 * kDay));
    CHECK(o.owner_of("resp_b", kOwnersT0 + 30 * kDay) == 1001u);
    o.expire(kOwnersT0 + 30 * kDay);
    CHECK(o.size() == 1);
    // The clock set back: an entry stamped later than the one before it
    // still expires by its own time.
    o.insert("resp_c", 1002, kOwnersT0 - 5 * kDay);
    CHECK_FALSE(o.owner_of("resp_c", kOwnersT0 + 30 * kDay));
}

TEST_CASE("response owners: past max_entries, the oldest go first") {
    ResponseOwners o({.retention_seconds = 30 * kDay, .max_entries = 3});
    for (int i = 0; i < 5; ++i) o.insert("resp_" + std::to_string(i), 1000 + i, kOwnersT0 + i);
    CHECK(o.size() == 3);
    CHECK_FALSE(o.owner_of("resp_0", kOwnersT0 + 5));
    CHECK_FALSE(o.owner_of("resp_1", kOwnersT0 + 5));
    CHECK(o.owner_of("resp_2", kOwnersT0 + 5) == 1002u);
    CHECK(o.owner_of("resp_4", kOwnersT0 + 5) == 1004u);
    ResponseOwners none({.retention_seconds = 30 * kDay, .max_entries = 0});
    CHECK_FALSE(none.insert("resp_x", 1000, kOwnersT0));
}

TEST_CASE("response owners: the state-file lines round-trip, oldest first") {
    ResponseOwners o;
    o.insert(kId, 1000, kOwnersT0);
    o.insert("resp_b", 0, kOwnersT0 + 7);
    o.insert("conv_c", 4294967294u, kOwnersT0 + 9);
    const std::string text = o.format();
    CHECK(text == "response " + kId + " 1000 1767225600\nresponse resp_b 0 1767225607\n" +
                      "response conv_c 4294967294 1767225609\n");
    auto parsed = parse_response_owners(text, {}, kOwnersT0 + 10);
    REQUIRE(std::holds_alternative<ResponseOwners>(parsed));
    const auto& back = std::get<ResponseOwners>(parsed);
    CHECK(back.size() == 3);
    CHECK(back.owner_of(kId, kOwnersT0 + 10) == 1000u);
    CHECK(back.owner_of("resp_b", kOwnersT0 + 10) == 0u);
    CHECK(back.format() == text);
    CHECK(std::holds_alternative<ResponseOwners>(parse_response_owners("", {}, kOwnersT0)));
}

TEST_CASE("response owners: loading drops what has expired and keeps the newest max_entries") {
    const std::string text =
        "response resp_old 1000 1000\nresponse resp_a 1000 1767225600\n"
        "response resp_b 1001 1767225601\nresponse resp_c 1002 1767225602\n";
    auto parsed = parse_response_owners(text, {.retention_seconds = 30 * kDay, .max_entries = 2},
                                        kOwnersT0 + 100);
    REQUIRE(std::holds_alternative<ResponseOwners>(parsed));
    const auto& o = std::get<ResponseOwners>(parsed);
    CHECK(o.size() == 2);
    CHECK_FALSE(o.owner_of("resp_old", kOwnersT0 + 100));
    CHECK_FALSE(o.owner_of("resp_a", kOwnersT0 + 100));
    CHECK(o.owner_of("resp_c", kOwnersT0 + 100) == 1002u);
}

TEST_CASE("response owners: a line that does not parse is an error naming it") {
    const char* bad[] = {
        "response resp_a 1000 1767225600",  // no newline
        "respons resp_a 1000 1767225600\n",
        "response resp_a 1000\n",
        "response resp_a 1000 1767225600 x\n",
        "response  resp_a 1000 1767225600\n",
        "response resp_a 1000 1767225600 \n",
        "response resp/a 1000 1767225600\n",
        "response resp_a -1 1767225600\n",
        "response resp_a 01000 1767225600\n",
        "response resp_a 4294967295 1767225600\n",
        "response resp_a 1000 -5\n",
        "response resp_a 1000 1e9\n",
        "response resp_a 1000 99999999999999999999\n",
        "response resp_a 1000 1767225600\r\n",
        "response resp_a 1000 1767225600\nresponse resp_a 1001 1767225601\n",
    };
    for (const std::string text : bad) {
        CAPTURE(text);
        auto parsed = parse_response_owners(text, {}, kOwnersT0);
        REQUIRE(std::holds_alternative<std::string>(parsed));
        CHECK(std::get<std::string>(parsed).find("line") != std::string::npos);
    }
}
