// What a compromised worker can claim from the parent is bounded: the bytes
// queued toward it (a cap, past which it is killed, and backpressure that
// keeps an honest worker far below it), credit (never more than was sent),
// the audit lines of refusals it brings about, and a user's identity (not
// after that user's client has gone, whatever the worker says).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "hostile_worker_rig.hpp"

using namespace hostile_worker;

namespace {

std::string ipc_code_of_error(const ipc::Message& m) {
    auto e = ipc::decode_resp_error(m.payload);
    return e ? e->code : std::string("?");
}

const ipc::Message* find_message(const Rig& rig, ipc::Type t, std::uint32_t stream) {
    for (auto& m : rig.from_parent)
        if (m.type == t && m.stream == stream) return &m;
    return nullptr;
}

// stderr into a file for the length of a test, to count the audit lines.
class StderrCapture {
  public:
    StderrCapture() {
        std::fflush(stderr);
        path_ = "/tmp/hostile-worker-stderr-" + std::to_string(::getpid());
        UniqueFd f(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        REQUIRE(f);
        saved_.reset(::dup(2));
        REQUIRE(::dup2(f.get(), 2) == 2);
    }
    ~StderrCapture() { restore(); }
    std::string restore() {
        if (saved_) {
            std::fflush(stderr);
            ::dup2(saved_.get(), 2);
            saved_.reset();
        }
        std::ifstream in(path_);
        std::stringstream ss;
        ss << in.rdbuf();
        ::unlink(path_.c_str());
        return ss.str();
    }

  private:
    std::string path_;
    UniqueFd saved_;
};

std::size_t count_lines_with(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
    return n;
}

}  // namespace

TEST_CASE("a connection whose client has gone is nobody's: no request on it goes upstream") {
    Rig rig;
    rig.clients.at(0).reset();  // the client leaves; the (compromised) worker says nothing
    rig.pump(100);
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2, /*conn=*/1);
    rig.send(ipc::Type::ReqBody, 1, "{}", ipc::kFlagLast);
    REQUIRE(rig.wait_message(ipc::Type::RespError, 1));
    CHECK(ipc_code_of_error(*find_message(rig, ipc::Type::RespError, 1)) == "client_gone");
    rig.pump(100);
    CHECK(rig.upstream.total_bytes() == 0);
    CHECK_FALSE(rig.reaped);  // a race an honest worker can lose: never a kill
}

TEST_CASE("the parent ends a stream whose client left, whatever the worker says") {
    Rig rig;
    // Half the body: the upstream waits for the rest, the stream stays open.
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 10, /*conn=*/1);
    rig.send(ipc::Type::ReqBody, 1, "{\"a\":");
    rig.pump(200);
    REQUIRE(rig.upstream.connections() == 1);
    REQUIRE(rig.link->stream_count() == 1);
    rig.clients.at(0).reset();
    REQUIRE(rig.wait_message(ipc::Type::RespError, 1));
    CHECK(ipc_code_of_error(*find_message(rig, ipc::Type::RespError, 1)) == "client_gone");
    CHECK(rig.link->stream_count() == 0);
    CHECK_FALSE(rig.reaped);
    // The worker's late cancel is a stale message, not a protocol error.
    rig.send(ipc::Type::ReqCancel, 1);
    rig.pump(100);
    CHECK_FALSE(rig.reaped);
}

TEST_CASE("credit: never more than the parent sent") {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
    SUBCASE("an honest credit keeps the stream going") {
        Rig rig;
        rig.upstream.set_response(head + std::string(100, 'x'));
        rig.send_open(1, codex_like_headers(), BodyFraming::None, 0);
        rig.send(ipc::Type::ReqEnd, 1);
        REQUIRE(rig.wait_message(ipc::Type::RespBody, 1));
        rig.send(ipc::Type::RespCredit, 1, ipc::encode_u32(100));
        rig.pump(100);
        CHECK_FALSE(rig.reaped);
    }
    SUBCASE("credit for bytes never sent is a lie") {
        Rig rig;
        rig.upstream.set_response(head + std::string(100, 'x'));
        rig.send_open(1, codex_like_headers(), BodyFraming::None, 0);
        rig.send(ipc::Type::ReqEnd, 1);
        REQUIRE(rig.wait_message(ipc::Type::RespBody, 1));
        rig.send(ipc::Type::RespCredit, 1, ipc::encode_u32(1u << 20));
        CHECK(rig.wait_killed());
    }
}

TEST_CASE("a worker that reads nothing and loops on refused requests is killed, its queue capped") {
    // Every request refused (a user nobody is), 16 connections: the cap is
    // kBacklogHigh + 2 messages + 96 connections' answers, about 4.3 MiB.
    Rig rig(false, "127.0.0.1", {}, {"nobody"}, 16);
    const std::size_t cap = WorkerLink::kBacklogHigh + 2 * ipc::kMaxMessage +
                            WorkerLink::max_client_conns(rig.opts) * 1024;
    rig.reading = false;
    StderrCapture capture;
    std::size_t most = 0;
    std::uint32_t stream = 1;
    const auto start = std::chrono::steady_clock::now();
    ipc::ReqOpen open;
    open.conn = 1;
    open.headers = codex_like_headers();
    const std::string payload = ipc::encode_req_open(open);
    for (; stream < 200000 && !rig.reaped; ++stream) {
        std::string wire;
        REQUIRE(ipc::encode(ipc::Type::ReqOpen, stream, payload, wire, ipc::kFlagLast));
        // Once the parent has closed the channel, sending fails: stop there.
        if (::send(rig.worker_end.get(), wire.data(), wire.size(), MSG_NOSIGNAL) < 0) break;
        if (stream % 32 == 0) {
            rig.pump_once();
            if (rig.link) most = std::max(most, rig.link->queued_to_worker());
        }
    }
    CHECK(rig.wait_killed());
    rig.pump(50);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string err = capture.restore();
    CAPTURE(stream);
    CHECK(most <= cap + 64 * 1024);
    CHECK(rig.upstream.total_bytes() == 0);
    // Each refusal is audited until the rate limit: 6000 a minute, then
    // counted, and the count written with the next line that goes out.
    const std::size_t audited = count_lines_with(err, " audit uid=");
    CAPTURE(audited);
    CHECK(audited >= 100);
    CHECK(audited <= 6000 + static_cast<std::size_t>(seconds * 100) + 10);
    if (audited < stream - 1 && seconds > 0.05)
        CHECK(count_lines_with(err, "audit lines of refusals not written") >= 1);
}

TEST_CASE("an honest worker that falls behind is waited for, not killed") {
    // 30 responses of 200 KiB each, none read at first: 6 MiB would queue
    // toward the worker; the exchanges stop reading upstream at kBacklogHigh.
    Rig rig;
    const std::size_t body = 200 * 1024;
    rig.upstream.set_response("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body) +
                              "\r\n\r\n" + std::string(body, 'y'));
    rig.reading = false;
    constexpr std::uint32_t kStreams = 30;
    for (std::uint32_t s = 1; s <= kStreams; ++s) {
        rig.send_open(s, codex_like_headers(), BodyFraming::None, 0);
        rig.send(ipc::Type::ReqEnd, s);
    }
    std::size_t most = 0;
    for (int i = 0; i < 100; ++i) {
        rig.pump(10);
        most = std::max(most, rig.link->queued_to_worker());
    }
    CAPTURE(most);
    CHECK(most >= WorkerLink::kBacklogHigh / 2);  // it did fall behind
    CHECK(most <= WorkerLink::kBacklogHigh + 2 * ipc::kMaxMessage);
    CHECK_FALSE(rig.reaped);
    // Now it reads, and takes every byte: all 30 complete.
    rig.reading = true;
    std::map<std::uint32_t, std::size_t> got;
    std::size_t ended = 0, seen = 0;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (ended < kStreams && std::chrono::steady_clock::now() < until) {
        rig.pump(10);
        for (; seen < rig.from_parent.size(); ++seen) {
            const ipc::Message& m = rig.from_parent[seen];
            if (m.type == ipc::Type::RespBody) {
                got[m.stream] += m.payload.size();
                rig.send(ipc::Type::RespCredit, m.stream,
                         ipc::encode_u32(static_cast<std::uint32_t>(m.payload.size())));
            }
            if (m.type == ipc::Type::RespEnd) ++ended;
        }
    }
    CHECK(ended == kStreams);
    for (std::uint32_t s = 1; s <= kStreams; ++s) CHECK(got[s] == body);
    CHECK_FALSE(rig.reaped);
}
