// GET /usage through a hostile worker's eyes: the parent answers about the
// caller the kernel vouched for on the connection the worker handed over,
// and a UsageAsk for a connection it never handed over, or malformed, is
// hostile.
#include <doctest/doctest.h>

#include <unistd.h>

#include <string>

#include "hostile_worker_rig.hpp"

using namespace proxy;
using namespace hostile_worker;

TEST_CASE("hostile worker: UsageAsk is answered about the kernel's caller of that connection") {
    Rig rig(false);
    rig.send(ipc::Type::UsageAsk, 0, ipc::encode_u32(1));
    REQUIRE(rig.wait_message(ipc::Type::UsageAnswer, 0));
    std::optional<ipc::UsageAnswer> answer;
    for (auto& m : rig.from_parent)
        if (m.type == ipc::Type::UsageAnswer) answer = ipc::decode_usage_answer(m.payload);
    REQUIRE(answer);
    CHECK(answer->conn == 1);
    CHECK(answer->status == 200);
    // The rig's client is this process: its uid, whatever the worker says.
    CHECK(answer->body.rfind("{\"uid\":" + std::to_string(::geteuid()) + ",", 0) == 0);
    CHECK_FALSE(rig.reaped);
}

TEST_CASE("hostile worker: UsageAsk for a connection never handed over, or malformed") {
    SUBCASE("unknown connection") {
        Rig rig(false);
        rig.send(ipc::Type::UsageAsk, 0, ipc::encode_u32(99));
        CHECK(rig.wait_killed());
        CHECK(rig.stop_status == -1);
    }
    SUBCASE("short payload") {
        Rig rig(false);
        rig.send(ipc::Type::UsageAsk, 0, "\x01");
        CHECK(rig.wait_killed());
    }
    SUBCASE("a UsageAnswer from the worker") {
        Rig rig(false);
        rig.send(ipc::Type::UsageAnswer, 0, ipc::encode_usage_answer({1, 200, "{}"}));
        CHECK(rig.wait_killed());
    }
}
