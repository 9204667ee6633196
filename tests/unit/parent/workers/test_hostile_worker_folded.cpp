// Hostile-worker tests (see hostile_worker_rig.hpp) for a ReqOpen that carries
// its body (kFlagBody) and its end (kFlagLast), as the worker's channel folds
// a small request into one datagram (common/channel.cpp): served when it
// means what the separate messages would, killed, with nothing sent upstream,
// when it does not.
#include "hostile_worker_rig.hpp"

using namespace proxy;
using namespace hostile_worker;

TEST_CASE("hostile worker: a folded request is served like ReqOpen + ReqBody + ReqEnd") {
    SUBCASE("Content-Length, the whole body on the open") {
        Rig rig;
        rig.send_open_with(1, BodyFraming::Length, 7, "{\"a\":1}", ipc::kFlagBody | ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
        CHECK(header_value(rig.check_upstream()[0], "Content-Length") == "7");
    }
    SUBCASE("Content-Length, the rest in a last piece") {
        Rig rig;
        rig.send_open_with(1, BodyFraming::Length, 7, "{\"a\"", ipc::kFlagBody);
        rig.send(ipc::Type::ReqBody, 1, ":1}", ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
    }
    SUBCASE("chunked: the parent frames it and writes the last chunk") {
        Rig rig;
        rig.send_open_with(1, BodyFraming::Chunked, 0, "{\"a\":1}",
                           ipc::kFlagBody | ipc::kFlagLast);
        rig.expect_served_once("{\"a\":1}");
    }
    SUBCASE("no body: ReqOpen with kFlagLast alone") {
        Rig rig;
        rig.send_open_with(1, BodyFraming::None, 0, "", ipc::kFlagLast);
        rig.expect_served_once("");
    }
    SUBCASE("Content-Length 0: ReqOpen with kFlagLast alone") {
        Rig rig;
        rig.send_open_with(1, BodyFraming::Length, 0, "", ipc::kFlagLast);
        rig.expect_served_once("");
    }
    SUBCASE("the body nearly fills the datagram") {
        Rig rig;
        const std::string body(ipc::kMaxPayload - 200, 'b');
        rig.send_open_with(1, BodyFraming::Length, body.size(), body,
                           ipc::kFlagBody | ipc::kFlagLast);
        rig.expect_served_once(body);
    }
}

// One hostile folded ReqOpen: the worker dies and the upstream gets nothing.
void expect_folded_refused(BodyFraming framing, std::uint64_t length, std::string_view body,
                           std::uint16_t flags) {
    Rig rig;
    rig.send_open_with(1, framing, length, body, flags);
    CHECK(rig.wait_killed());
    CHECK(rig.upstream.total_bytes() == 0);
}

TEST_CASE("hostile worker: a folded body that does not fit its framing") {
    SUBCASE("a body on a request declared body-less") {
        expect_folded_refused(BodyFraming::None, 0, "{}", ipc::kFlagBody);
        expect_folded_refused(BodyFraming::None, 0, "{}", ipc::kFlagBody | ipc::kFlagLast);
    }
    SUBCASE("more than Content-Length") {
        expect_folded_refused(BodyFraming::Length, 2, "{}x", ipc::kFlagBody);
        expect_folded_refused(BodyFraming::Length, 0, "{}", ipc::kFlagBody | ipc::kFlagLast);
    }
    SUBCASE("ended short of Content-Length") {
        expect_folded_refused(BodyFraming::Length, 7, "{}", ipc::kFlagBody | ipc::kFlagLast);
    }
    SUBCASE("kFlagBody with no byte behind the open") {
        expect_folded_refused(BodyFraming::Length, 2, "", ipc::kFlagBody);
    }
    SUBCASE("bytes behind the open without kFlagBody") {
        expect_folded_refused(BodyFraming::Length, 2, "{}", 0);
        expect_folded_refused(BodyFraming::Length, 2, "{}", ipc::kFlagLast);
    }
    SUBCASE("a flag bit no message has") {
        expect_folded_refused(BodyFraming::Length, 2, "{}", ipc::kFlagBody | 0x0004);
    }
}

TEST_CASE("hostile worker: nothing of the stream after a folded request's end") {
    for (ipc::Type t : {ipc::Type::ReqBody, ipc::Type::ReqEnd}) {
        CAPTURE(ipc::type_name(t));
        Rig rig;
        rig.send_open_with(1, BodyFraming::Chunked, 0, "{}", ipc::kFlagBody | ipc::kFlagLast);
        rig.send(t, 1, t == ipc::Type::ReqBody ? "x" : "");
        CHECK(rig.wait_killed());
        // The request may have left before the kill; it was never extended.
        for (auto& q : rig.check_upstream()) CHECK(q.body == "{}");
    }
}
