// Hostile-worker tests (see hostile_worker_rig.hpp): malformed datagrams and
// out-of-state messages get the worker killed, and nothing reaches the upstream.
#include "hostile_worker_rig.hpp"

using namespace proxy;
using namespace hostile_worker;

// ---------------------------------------------------------------------------
// Malformed datagrams

TEST_CASE("hostile worker: datagram whose length field is larger than its payload") {
    Rig rig;
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, "abcd", wire));
    wire[8] = 100;  // length 100, 4 bytes follow
    rig.send_raw(wire);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: datagram whose length field is smaller than its payload") {
    Rig rig;
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqCancel, 1, "", wire));
    rig.send_raw(wire + "extra");
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: datagram shorter than the header") {
    Rig rig;
    rig.send_raw(std::string("\x01\x00\x00\x00\x01", 5));
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: datagram larger than 64 KiB + 12") {
    Rig rig;
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, std::string(ipc::kMaxPayload, 'a'), wire));
    wire += "b";  // one byte over the cap
    rig.send_raw(wire);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: datagram with a length field over the cap") {
    Rig rig;
    std::string payload(ipc::kMaxPayload + 100, 'a');
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, "", wire));
    std::uint32_t len = static_cast<std::uint32_t>(payload.size());
    std::memcpy(&wire[8], &len, 4);  // little-endian host
    rig.send_raw(wire + payload);
    CHECK(rig.wait_killed());
}

TEST_CASE("hostile worker: unknown message type") {
    for (std::uint16_t t : {0, 7, 31, 38, 99, 0xffff}) {
        CAPTURE(t);
        Rig rig;
        std::string wire;
        REQUIRE(ipc::encode(ipc::Type::ReqEnd, 1, "", wire));
        wire[0] = static_cast<char>(t & 0xff);
        wire[1] = static_cast<char>(t >> 8);
        rig.send_raw(wire);
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: parent->worker types sent by the worker") {
    for (ipc::Type t : {ipc::Type::RespHead, ipc::Type::RespBody, ipc::Type::RespEnd,
                        ipc::Type::RespAbort, ipc::Type::RespError, ipc::Type::ReqCredit}) {
        CAPTURE(ipc::type_name(t));
        Rig rig;
        std::string payload;
        if (t == ipc::Type::RespHead) {
            ipc::RespHead s;
            s.status = 200;
            payload = ipc::encode_resp_head(s);
        } else if (t == ipc::Type::ReqCredit) {
            payload = ipc::encode_u32(1);
        }
        rig.send(t, 1, payload);
        CHECK(rig.wait_killed());
    }
}

// ---------------------------------------------------------------------------
// Out-of-state messages

TEST_CASE("hostile worker: ReqBody for a stream never opened, id above any seen") {
    Rig rig;
    rig.send(ipc::Type::ReqBody, 7, "data");
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: ReqEnd / RespCredit / ReqCancel for a stream never opened") {
    for (ipc::Type t : {ipc::Type::ReqEnd, ipc::Type::RespCredit, ipc::Type::ReqCancel}) {
        CAPTURE(ipc::type_name(t));
        Rig rig;
        rig.send(t, 3, t == ipc::Type::RespCredit ? ipc::encode_u32(10) : std::string());
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: ReqOpen on stream 0") {
    Rig rig;
    rig.send_open(0, codex_like_headers(), BodyFraming::None, 0);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: a second ReqOpen reusing a stream id") {
    SUBCASE("while the stream is open") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        CHECK(rig.wait_killed());
        rig.pump(100);
        CHECK(rig.complete_requests() == 0);
    }
    SUBCASE("after it finished") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send(ipc::Type::ReqBody, 1, "{}");
        rig.send(ipc::Type::ReqEnd, 1);
        REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
        rig.pump(50);
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        CHECK(rig.wait_killed());
        rig.pump(100);
        CHECK(rig.complete_requests() == 1);
    }
    SUBCASE("a lower id than one already seen") {
        Rig rig;
        rig.send_open(5, codex_like_headers(), BodyFraming::Length, 2);
        rig.send_open(3, codex_like_headers(), BodyFraming::Length, 2);
        CHECK(rig.wait_killed());
        rig.pump(100);
        CHECK(rig.complete_requests() == 0);
    }
}

TEST_CASE("hostile worker: ReqEnd twice") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_killed());
    rig.pump(100);
    CHECK(rig.complete_requests() <= 1);
}

TEST_CASE("hostile worker: ReqEnd before the declared Content-Length arrived") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 10);
    rig.send(ipc::Type::ReqBody, 1, "12345");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_killed());
    rig.pump(100);
    CHECK(rig.complete_requests() == 0);
}

TEST_CASE("hostile worker: body bytes beyond the declared Content-Length") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 5);
    rig.send(ipc::Type::ReqBody, 1, "hello SMUGGLED");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_killed());
    rig.pump(100);
    rig.check_upstream();
    for (auto& d : rig.upstream.received()) CHECK(d.find("SMUGGLED") == std::string::npos);
}

TEST_CASE("hostile worker: a smuggled second request inside a Content-Length body stays body") {
    // Within the declared length, bytes that look like a request are just
    // body: the stand-in sees one request whose body holds them.
    Rig rig;
    std::string inner = "POST /v1/other HTTP/1.1\r\nHost: evil\r\nContent-Length: 0\r\n\r\n";
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, inner.size());
    rig.send(ipc::Type::ReqBody, 1, inner);
    rig.send(ipc::Type::ReqEnd, 1);
    REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
    auto reqs = rig.check_upstream();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].body == inner);
}

TEST_CASE("hostile worker: ReqBody for a body-less request") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::None, 0);
    rig.send(ipc::Type::ReqBody, 1, "x");
    CHECK(rig.wait_killed());
    rig.pump(100);
    rig.check_upstream();
}

TEST_CASE("hostile worker: payload on ReqEnd / ReqCancel, bad RespCredit payload") {
    SUBCASE("ReqEnd with payload") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::ReqEnd, 1, "x");
        CHECK(rig.wait_killed());
    }
    SUBCASE("ReqCancel with payload") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::ReqCancel, 1, "x");
        CHECK(rig.wait_killed());
    }
    SUBCASE("RespCredit with 3 bytes") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::RespCredit, 1, "abc");
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("hostile worker: Shutdown when --http-shutdown is off") {
    Rig rig(false);
    rig.send(ipc::Type::ShutdownAsk, 0, ipc::encode_u32(1));
    CHECK(rig.wait_killed());
    CHECK(rig.stop_status == -1);
}

TEST_CASE("hostile worker: Shutdown that was never asked for and granted") {
    Rig rig(true);
    rig.send(ipc::Type::Shutdown, 0);
    CHECK(rig.wait_killed());
    CHECK(rig.stop_status == -1);
}

TEST_CASE("hostile worker: Shutdown on a stream, or with a payload") {
    SUBCASE("stream 1") {
        Rig rig(true);
        rig.send(ipc::Type::Shutdown, 1);
        CHECK(rig.wait_killed());
        CHECK(rig.stop_status == -1);
    }
    SUBCASE("payload") {
        Rig rig(true);
        rig.send(ipc::Type::Shutdown, 0, "now");
        CHECK(rig.wait_killed());
        CHECK(rig.stop_status == -1);
    }
}

TEST_CASE("hostile worker: ignoring the request credit window") {
    // The parent allows 2 windows (512 KiB) + one message uncredited. A worker
    // that pushes far more at once (here before the upstream connection is
    // even up, so nothing can have been credited) must die rather than make
    // the parent buffer it.
    Rig rig;
    int big = 16 << 20;
    if (::setsockopt(rig.worker_end.get(), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0) {
        MESSAGE("SO_SNDBUFFORCE needs CAP_NET_ADMIN: cannot queue enough datagrams; case skipped");
        return;
    }
    rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
    std::string wire;
    REQUIRE(ipc::encode(ipc::Type::ReqBody, 1, std::string(ipc::kMaxPayload, 'a'), wire));
    for (int i = 0; i < 16; ++i) rig.send_raw(wire);
    CHECK(rig.wait_killed());
}
