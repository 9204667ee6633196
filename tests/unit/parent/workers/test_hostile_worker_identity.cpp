// A compromised worker and the caller's identity: it can only hand over
// connections it really accepted on our listeners, and it cannot make a
// request count for a connection it never handed over.
#include <sys/socket.h>

#include "hostile_worker_rig.hpp"

using namespace hostile_worker;

TEST_CASE("hostile worker: ReqOpen on a connection that was never handed over") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::None, 0, /*conn=*/7);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: ReqOpen after its connection was closed") {
    Rig rig;
    rig.send(ipc::Type::ConnClose, 0, ipc::encode_u32(1));
    rig.send_open(1, codex_like_headers(), BodyFraming::None, 0, /*conn=*/1);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: ConnOpen with something that is not an accepted connection") {
    SUBCASE("no descriptor at all") {
        Rig rig;
        rig.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(2), -1);
        CHECK(rig.wait_killed());
    }
    SUBCASE("a pipe") {
        Rig rig;
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        UniqueFd r(p[0]), w(p[1]);
        rig.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(2), r.get());
        CHECK(rig.wait_killed());
    }
    SUBCASE("the listener itself") {
        Rig rig;
        rig.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(2), rig.client_listener.get());
        CHECK(rig.wait_killed());
    }
    SUBCASE("a connection to some other port") {
        Rig rig;
        // The upstream stand-in's port is not one of our listeners.
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(rig.upstream.port());
        UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        rig.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(2), c.get());
        CHECK(rig.wait_killed());
    }
    SUBCASE("a descriptor on a message that may not carry one") {
        Rig rig;
        rig.send_with_fd(ipc::Type::ConnClose, 0, ipc::encode_u32(1), rig.accept_client());
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: connection ids are never reused") {
    Rig rig;
    rig.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(1), rig.accept_client());
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: ConnClose for a connection it never opened") {
    Rig rig;
    rig.send(ipc::Type::ConnClose, 0, ipc::encode_u32(42));
    CHECK(rig.wait_killed());
}

TEST_CASE("a second real connection is served like the first") {
    Rig rig;
    rig.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(2), rig.accept_client());
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2, /*conn=*/2);
    rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
    rig.expect_served_once("{}");
}

TEST_CASE("the per-user policy refuses before anything reaches the upstream") {
    // Allowed: only a uid that is not ours.
    const std::string other = std::to_string(::geteuid() == 4242 ? 4243 : 4242);
    Rig rig(false, "127.0.0.1", {}, {other});
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
    REQUIRE(rig.wait_message(ipc::Type::RespError, 1));
    rig.pump(100);
    CHECK_FALSE(rig.reaped);  // a refusal, not a protocol violation
    CHECK(rig.upstream.total_bytes() == 0);
    for (auto& m : rig.from_parent) {
        if (m.type != ipc::Type::RespError) continue;
        auto e = ipc::decode_resp_error(m.payload);
        REQUIRE(e);
        CHECK(e->status == 403);
        CHECK(e->code == "user_not_allowed");
    }
    SUBCASE("and /shutdown too") {
        Rig shut(true, "127.0.0.1", {}, {other});
        shut.send(ipc::Type::ShutdownAsk, 0, ipc::encode_u32(1));
        REQUIRE(shut.wait_message(ipc::Type::ShutdownAnswer, 0));
        bool granted = true;
        for (auto& m : shut.from_parent)
            if (m.type == ipc::Type::ShutdownAnswer)
                granted =
                    ipc::decode_shutdown_answer(m.payload)->second == ipc::ShutdownVerdict::Granted;
        // Root may always stop the proxy; anyone else only when allowed.
        CHECK(granted == (::geteuid() == 0));
        if (!granted) {
            shut.send(ipc::Type::Shutdown, 0);  // without a grant: hostile
            CHECK(shut.wait_killed());
            CHECK(shut.stop_status == -1);
        }
    }
}
