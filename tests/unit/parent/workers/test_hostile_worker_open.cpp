// Hostile-worker tests (see hostile_worker_rig.hpp): a well-behaved worker is
// served, and a ReqOpen with hostile headers gets it killed.
#include "hostile_worker_rig.hpp"

using namespace proxy;
using namespace hostile_worker;

// ---------------------------------------------------------------------------
// Well-behaved worker

TEST_CASE(
    "hostile worker: a valid ReqOpen + body + ReqEnd makes exactly one well-formed upstream "
    "request") {
    Rig rig;
    HeaderList h = codex_like_headers();
    rig.send_open(1, h, BodyFraming::Length, 17);
    rig.send(ipc::Type::ReqBody, 1, "{\"model\":\"gpt-5\"}");
    rig.send(ipc::Type::ReqEnd, 1);
    REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    auto reqs = rig.check_upstream();
    REQUIRE(reqs.size() == 1);
    CHECK(reqs[0].complete);
    CHECK(reqs[0].body == "{\"model\":\"gpt-5\"}");
    CHECK(header_value(reqs[0], "Content-Length") == "17");
    for (auto& [k, v] : h) CHECK(header_value(reqs[0], k) == v);
    // And the worker heard RespHead 200 first.
    bool head = false;
    for (auto& m : rig.from_parent) {
        if (m.type == ipc::Type::RespHead && m.stream == 1) {
            auto s = ipc::decode_resp_head(m.payload);
            REQUIRE(s.has_value());
            CHECK(s->status == 200);
            head = true;
        }
    }
    CHECK(head);
}

TEST_CASE("hostile worker: a valid chunked request is forwarded chunked, once") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
    rig.send(ipc::Type::ReqBody, 1, "{\"a\":");
    rig.send(ipc::Type::ReqBody, 1, "1}");
    rig.send(ipc::Type::ReqEnd, 1);
    rig.expect_served_once("{\"a\":1}");
}

// What the real worker's channel sends when ReqEnd follows the last piece in
// one loop turn (common/channel.cpp folds it into kFlagLast).
TEST_CASE("hostile worker: a last body piece (kFlagLast) ends the request like ReqEnd") {
    SUBCASE("Content-Length") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 7);
        rig.send(ipc::Type::ReqBody, 1, "{\"a\":1}", ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
    }
    SUBCASE("chunked: the parent writes the last chunk") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Chunked, 0);
        rig.send(ipc::Type::ReqBody, 1, "{\"a\":");
        rig.send(ipc::Type::ReqBody, 1, "1}", ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
    }
}

TEST_CASE("hostile worker: kFlagLast where it does not belong") {
    SUBCASE("a last piece shorter than Content-Length") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 17);
        rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
        CHECK(rig.wait_killed());
    }
    SUBCASE("ReqEnd after a last piece") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
        rig.send(ipc::Type::ReqEnd, 1);
        CHECK(rig.wait_killed());
    }
    SUBCASE("on a ReqOpen whose Content-Length wants a body") {
        Rig rig;
        rig.send_open_with(1, BodyFraming::Length, 2, "", ipc::kFlagLast);
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.received().empty());
    }
    SUBCASE("an undefined flag bit on a body piece") {
        Rig rig;
        rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
        rig.send(ipc::Type::ReqBody, 1, "{}", 0x0002);
        CHECK(rig.wait_killed());
    }
}

// What the real worker does for a request without a body
// (worker/client_connection.cpp: ReqOpen then ReqEnd at once).
TEST_CASE("hostile worker: a body-less request (framing None, then ReqEnd) is served, not killed") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::None, 0);
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.complete_requests() == 1);
}

TEST_CASE("hostile worker: Content-Length 0 then ReqEnd is served, not killed") {
    Rig rig;
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 0);
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.complete_requests() == 1);
}

TEST_CASE(
    "hostile worker: whatever headers it sends, the upstream line is POST <configured path> to the "
    "configured Host") {
    Rig rig;
    HeaderList h = {{"X-Method", "DELETE"},
                    {"X-Original-URL", "/admin?x=1"},
                    {"X-Forwarded-Host", "evil.example"},
                    {"Forwarded", "host=evil.example"},
                    {"X-HTTP-Method-Override", "GET"}};
    rig.send_open(1, h, BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    REQUIRE(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    auto reqs = rig.check_upstream();  // checks request line and Host
    REQUIRE(reqs.size() == 1);
    auto data = rig.upstream.received();
    REQUIRE(data.size() == 1);
    std::string want =
        std::string("POST ") + kPath + " HTTP/1.1\r\nHost: " + rig.host_header + "\r\n";
    CHECK(data[0].compare(0, want.size(), want) == 0);
}

TEST_CASE("hostile worker: exactly max_headers (100) valid headers are accepted") {
    Rig rig;
    HeaderList h;
    for (int i = 0; i < 100; ++i) h.push_back({"x-h" + std::to_string(i), "v"});
    rig.send_open(1, h, BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
    CHECK(rig.wait_message(ipc::Type::RespEnd, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.complete_requests() == 1);
}

TEST_CASE("hostile worker: Shutdown is honoured when --http-shutdown is on and was granted") {
    Rig rig(true);
    rig.send(ipc::Type::ShutdownAsk, 0, ipc::encode_u32(1));
    REQUIRE(rig.wait_message(ipc::Type::ShutdownAnswer, 0));
    bool granted = false;
    for (auto& m : rig.from_parent)
        if (m.type == ipc::Type::ShutdownAnswer)
            granted = ipc::decode_shutdown_answer(m.payload) ==
                      std::make_pair(1u, ipc::ShutdownVerdict::Granted);
    CHECK(granted);
    rig.send(ipc::Type::Shutdown, 0);
    rig.pump(200);
    CHECK_FALSE(rig.reaped);
    CHECK(rig.stop_status == 0);
}

TEST_CASE(
    "hostile worker: MetricsAsk is answered for root's connection, in pieces ending kFlagLast") {
    Rig rig;
    rig.send(ipc::Type::MetricsAsk, 0, ipc::encode_u32(1));
    REQUIRE(rig.wait_message(ipc::Type::MetricsAnswer, 0));
    rig.pump(50);
    std::string text;
    bool last = false;
    for (auto& m : rig.from_parent) {
        if (m.type != ipc::Type::MetricsAnswer) continue;
        auto a = ipc::decode_metrics_answer(m.payload);
        REQUIRE(a);
        CHECK(a->conn == 1u);
        CHECK(a->verdict == ipc::MetricsVerdict::Granted);
        text += a->text;
        last = (m.flags & ipc::kFlagLast) != 0;
    }
    CHECK(last);
    CHECK(text.find("codex_proxy_build_info{version=") != std::string::npos);
    CHECK_FALSE(rig.reaped);
}

TEST_CASE("hostile worker: MetricsAsk for a connection never handed over, or on a stream") {
    SUBCASE("unknown connection") {
        Rig rig;
        rig.send(ipc::Type::MetricsAsk, 0, ipc::encode_u32(99));
        CHECK(rig.wait_killed());
    }
    SUBCASE("on a stream") {
        Rig rig;
        rig.send(ipc::Type::MetricsAsk, 5, ipc::encode_u32(1));
        CHECK(rig.wait_killed());
    }
    SUBCASE("a payload that is no connection id") {
        Rig rig;
        rig.send(ipc::Type::MetricsAsk, 0, "abc");
        CHECK(rig.wait_killed());
    }
}

// ---------------------------------------------------------------------------
// Hostile ReqOpen headers: killed, nothing forwarded

TEST_CASE("hostile worker: CR/LF in a header value") {
    expect_open_refused({{"x", "a\r\nHost: evil"}});
    expect_open_refused({{"x", "a\nHost: evil"}});
    expect_open_refused({{"x", "a\rb"}});
}

TEST_CASE("hostile worker: NUL in a header value") {
    expect_open_refused({{"x", std::string("a\0b", 3)}});
}

TEST_CASE("hostile worker: denied header names") {
    for (const char* name :
         {"Host", "host", "Authorization", "AUTHORIZATION", "Content-Length", "Transfer-Encoding",
          "transfer-encoding", "Connection", "Proxy-Authorization", "Cookie", "OpenAI-Organization",
          "OpenAI-Project", "Expect", "TE", "Upgrade"}) {
        CAPTURE(name);
        expect_open_refused({{"content-type", "application/json"}, {name, "evil"}});
    }
}

TEST_CASE("hostile worker: non-token header names") {
    for (std::string name :
         {std::string(""), std::string("x y"), std::string("x:y"), std::string("x\r\nHost"),
          std::string(":path"), std::string("x\0y", 3), std::string("\xc3\xa9")}) {
        CAPTURE(name);
        expect_open_refused({{name, "v"}});
    }
}

TEST_CASE("hostile worker: surrounding whitespace in a value") {
    expect_open_refused({{"x", " v"}});
    expect_open_refused({{"x", "v\t"}});
}

TEST_CASE("hostile worker: too many headers") {
    SUBCASE("101 valid headers") {
        HeaderList h;
        for (int i = 0; i < 101; ++i) h.push_back({"x-h" + std::to_string(i), "v"});
        expect_open_refused(h);
    }
    SUBCASE("9,000 headers (all that fit in one datagram with a name)") {
        expect_open_refused(HeaderList(9000, Header{"x", ""}));
    }
    SUBCASE("10,000 headers (empty names)") {
        expect_open_refused(HeaderList(10000, Header{"", ""}));
    }
}

TEST_CASE("hostile worker: header fields over max_header_bytes") {
    expect_open_refused({{"x-big", std::string(40 * 1024, 'a')}});
}

TEST_CASE("hostile worker: bad framing in ReqOpen") {
    SUBCASE("UntilClose is for responses only") {
        expect_open_refused(codex_like_headers(), BodyFraming::UntilClose, 0);
    }
    SUBCASE("framing value out of range") {
        Rig rig;
        ipc::ReqOpen o;
        o.conn = 1;
        o.headers = codex_like_headers();
        std::string p = ipc::encode_req_open(o);
        p[4] = 9;  // after the u32 connection id
        rig.send(ipc::Type::ReqOpen, 1, p);
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.total_bytes() == 0);
    }
    SUBCASE("Content-Length over max_body_bytes") {
        expect_open_refused(codex_like_headers(), BodyFraming::Length, (64ull << 20) + 1);
    }
    SUBCASE("trailing garbage after the header list") {
        Rig rig;
        ipc::ReqOpen o;
        o.conn = 1;
        o.framing = BodyFraming::None;
        o.headers = codex_like_headers();
        rig.send(ipc::Type::ReqOpen, 1, ipc::encode_req_open(o) + "zz");
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.total_bytes() == 0);
    }
    SUBCASE("a header count the payload cannot hold") {
        Rig rig;
        ipc::ReqOpen o;
        o.conn = 1;
        o.framing = BodyFraming::None;
        std::string p = ipc::encode_req_open(o);  // u32 conn, framing, u64 length, u16 count 0
        p[13] = '\xff';
        p[14] = '\xff';
        rig.send(ipc::Type::ReqOpen, 1, p);
        CHECK(rig.wait_killed());
        CHECK(rig.upstream.total_bytes() == 0);
    }
}
