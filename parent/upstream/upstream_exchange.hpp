// One request/response exchange with the upstream on behalf of one worker
// stream. The parent writes the request head itself: the configured method,
// path and Host, the forwarded headers, Authorization by reference to the
// locked key page, and body framing of its own choosing.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/chunked_decoder.hpp"
#include "common/event_ptr.hpp"
#include "common/http_types.hpp"
#include "common/ipc.hpp"
#include "common/options.hpp"
#include "common/stream_window.hpp"
#include "parent/upstream/request_body_gate.hpp"
#include "parent/upstream/response_id_scanner.hpp"
#include "parent/upstream/stream_sink.hpp"
#include "parent/upstream/upstream_pool.hpp"
#include "parent/users/peer_identity.hpp"
#include "parent/users/usage_scanner.hpp"
#include "parent/users/user_accounts.hpp"
#include "policy/refusal.hpp"

namespace proxy {

class AccessControl;
class Credential;
class ExchangeDump;
class DumpWriter;

struct UpstreamEnv {
    UpstreamPool& pool;
    const Credential& credential;  // the Authorization value: key or access token
    const Options& options;
    DumpWriter* dump;       // --dump-dir, else null
    AccessControl& access;  // per-user policy and audit (allows everyone without a policy)
};

// What the audit line needs to know of an exchange (tokens: charge()).
struct ExchangeRecord {
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    // The first byte of the upstream's answer came (GET /metrics).
    std::optional<std::chrono::steady_clock::time_point> first_byte;
    unsigned status = 0;                // the status the client was sent (0: none)
    const char* outcome = "completed";  // or upstream_error, aborted, client_aborted
    std::string code;                   // our error code, if we answered instead of the upstream
    std::uint64_t request_bytes = 0;    // body bytes
    std::uint64_t response_bytes = 0;
    std::string request_id;  // the upstream's x-request-id
};

// How an exchange ended: set once, in finish(), the one place every end
// passes through (the per-request log or audit line reads it there).
enum class ExchangeEnd {
    Open,           // not ended yet
    Complete,       // the whole response went to the worker
    UpstreamError,  // refused, failed or aborted on the upstream's side
    ClientAborted,  // the client closed or reset its connection first
};
const char* exchange_end_name(ExchangeEnd end);

class UpstreamExchange {
  public:
    UpstreamExchange(UpstreamEnv& env, StreamSink& sink, std::uint32_t stream,
                     ipc::ReqOpen request);
    ~UpstreamExchange();
    UpstreamExchange(const UpstreamExchange&) = delete;
    UpstreamExchange& operator=(const UpstreamExchange&) = delete;

    // Before start(): the body is checked against the caller's rules as it
    // goes upstream (parent/upstream/request_body_gate.hpp), and the ids of
    // the responses it creates are remembered as the caller's. `rules` must
    // need the body read (BodyRules::reads_body()).
    void gate_body(const BodyRules& rules);
    void start();
    // Worker -> parent events for this stream. Each returns false when the
    // worker broke the protocol (the caller then treats it as hostile).
    bool on_req_body(std::string_view data);
    bool on_req_end();
    void on_cancel();
    // The parent saw the client's socket close: on_cancel, and the worker's
    // stream is ended too.
    void on_client_gone();
    // False when the worker credits more than it was sent (hostile).
    bool on_resp_credit(std::uint32_t bytes);
    // The sink's backlog has drained (see StreamSink::wait_for_room).
    void on_room();

    bool request_done() const { return req_done_; }
    std::uint32_t conn_id() const { return request_.conn; }
    const ExchangeRecord& record() const { return record_; }
    void mark_worker_lost() { record_.outcome = "worker_lost"; }
    PeerIdentity caller;  // set by the worker link: whose request this is
    // What the caller's account holds back for this request until it ends
    // (policy/token_budget.hpp), set by the worker link at admission.
    Reservation reserved;
    // What the caller is charged, however and whenever the stream ends: the
    // usage the upstream reported, else an estimate from what passed so far.
    TokenCharge charge() const;
    // The model names the answer gave, to price it by (UsageScanner::models()).
    const std::vector<std::string>& answer_models() const;
    ExchangeEnd end() const { return end_; }
    std::uint64_t uncredited_request_bytes() const { return req_window_.uncredited(); }

  private:
    enum class Phase { Connecting, AwaitHead, Body, Finished };

    static void on_read(void* arg) noexcept;
    static void on_event(short what, void* arg) noexcept;
    static void on_output_drained(evbuffer*, const evbuffer_cb_info*, void* arg) noexcept;

    void attach(std::unique_ptr<UpstreamConnection> conn);
    void connected();
    void write_head();
    void append_body(std::string_view data);
    void process_input();
    void pause_for_room();
    bool parse_head();
    void deliver(std::string_view data);
    void response_complete();
    void fail(const Refusal& r, const std::string& detail);
    // The body gate refused: the upstream connection goes before the request
    // is complete, and the client is told why.
    void refuse_body(const DetailedRefusal& r);
    bool upstream_chunked() const {
        return request_.framing == BodyFraming::Chunked || gate_ != nullptr;
    }
    void fail_connecting();
    void fail_proxy();
    void finish(ExchangeEnd end);
    void credit_request();
    bool whole_request_queued() const;

    UpstreamEnv& env_;
    StreamSink& sink_;
    std::uint32_t stream_;
    ipc::ReqOpen request_;
    std::unique_ptr<UpstreamConnection> conn_;
    EvBufferPtr pending_;  // request bytes written before the connection is up
    Phase phase_ = Phase::Connecting;
    ExchangeEnd end_ = ExchangeEnd::Open;
    std::uint64_t resp_body_bytes_ = 0;  // delivered to the worker

    bool req_done_ = false;
    std::uint64_t req_body_bytes_ = 0;
    StreamWindow req_window_;  // we receive: credit the worker what the upstream took

    ResponseHead resp_head_;
    std::optional<ChunkedDecoder> chunked_;
    std::uint64_t resp_remaining_ = 0;
    StreamWindow resp_window_;      // we send: what the client has not taken yet
    bool read_paused_ = false;      // the window is full: waiting for credit
    bool paused_for_room_ = false;  // the worker's channel is backlogged
    bool got_response_bytes_ = false;
    // The whole request was handed to the upstream's socket, or it answered:
    // from here on the request costs at least its input.
    bool request_sent_ = false;
    bool event_stream_ = false;  // Content-Type: text/event-stream
    std::unique_ptr<ExchangeDump> dump_;
    ExchangeRecord record_;
    std::optional<UsageScanner> usage_;              // only for an uncompressed body
    std::unique_ptr<RequestBodyGate> gate_;          // gate_body()
    std::optional<ResponseIdScanner> response_ids_;  // until the created id is seen
};

}  // namespace proxy
