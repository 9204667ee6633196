// Hostile-worker tests of the request-body policy (see hostile_worker_rig.hpp):
// the worker does not read bodies, so a compromised one that forwards what
// the policy forbids changes nothing: the parent decides on the bytes it sends
// upstream, and the upstream never gets the request whole.
#include "hostile_worker_rig.hpp"

using namespace proxy;
using namespace hostile_worker;

namespace {

void only_gpt5_mini(Options& o) {
    o.allow_models = {"gpt-5-mini"};
}

void cap_1000(Options& o) {
    o.max_output_tokens = 1000;
}

std::optional<ipc::RespError> error_for(Rig& rig, std::uint32_t stream) {
    if (!rig.wait_message(ipc::Type::RespError, stream)) return std::nullopt;
    for (auto& m : rig.from_parent) {
        if (m.type == ipc::Type::RespError && m.stream == stream)
            return ipc::decode_resp_error(m.payload);
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE(
    "hostile worker: a forbidden model forwarded whole gets the parent's 403, not the "
    "upstream's answer") {
    Rig rig(false, "127.0.0.1", {}, {}, Options{}.max_connections, only_gpt5_mini);
    const std::string body = "{\"input\":\"" + std::string(100000, 'x') + "\",\"model\":\"gpt-5\"}";
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, body.size());
    for (std::size_t i = 0; i < body.size(); i += 16384)
        rig.send(ipc::Type::ReqBody, 1, std::string_view(body).substr(i, 16384));
    rig.send(ipc::Type::ReqEnd, 1);
    const auto e = error_for(rig, 1);
    REQUIRE(e.has_value());
    CHECK(e->status == 403);
    CHECK(e->code == "model_not_allowed");
    CHECK(e->message.find("\"gpt-5\"") != std::string::npos);
    rig.pump(200);
    // The client's content is no protocol violation: the worker lives.
    CHECK_FALSE(rig.reaped);
    // Nothing complete reached the upstream, and no answer of its went to the worker.
    CHECK(rig.complete_requests() == 0);
    for (auto& m : rig.from_parent) CHECK(m.type != ipc::Type::RespHead);
}

TEST_CASE("hostile worker: a body without max_output_tokens goes upstream with the cap") {
    Rig rig(false, "127.0.0.1", {}, {}, Options{}.max_connections, cap_1000);
    const std::string body = "{\"model\":\"gpt-5\"}";
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, body.size());
    rig.send(ipc::Type::ReqBody, 1, body);
    rig.send(ipc::Type::ReqEnd, 1);
    rig.expect_served_once("{\"model\":\"gpt-5\",\"max_output_tokens\":1000}");
}

TEST_CASE("hostile worker: a cap over the limit is refused by the parent") {
    Rig rig(false, "127.0.0.1", {}, {}, Options{}.max_connections, cap_1000);
    const std::string body = "{\"model\":\"gpt-5\",\"max_output_tokens\":99999}";
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, body.size());
    rig.send(ipc::Type::ReqBody, 1, body, ipc::kFlagLast);
    const auto e = error_for(rig, 1);
    REQUIRE(e.has_value());
    CHECK(e->code == "max_output_tokens_over_limit");
    rig.pump(100);
    CHECK(rig.complete_requests() == 0);
}
