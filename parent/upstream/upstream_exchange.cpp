#include "parent/upstream/upstream_exchange.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/http_head.hpp"
#include "common/log.hpp"
#include "parent/key/credential.hpp"
#include "parent/upstream/exchange_dump.hpp"
#include "parent/upstream/response_head_parser.hpp"
#include "parent/upstream/tls_context.hpp"
#include "parent/users/access_control.hpp"
#include "policy/header_policy.hpp"

namespace proxy {

UpstreamExchange::UpstreamExchange(UpstreamEnv& env, StreamSink& sink, std::uint32_t stream,
                                   ipc::ReqOpen request)
    : env_(env),
      sink_(sink),
      stream_(stream),
      request_(std::move(request)),
      pending_(evbuffer_new()) {}

UpstreamExchange::~UpstreamExchange() {
    if (conn_ && conn_->transport) {
        evbuffer_remove_cb(conn_->transport->output(), &UpstreamExchange::on_output_drained, this);
        conn_->transport->set_callbacks(nullptr, nullptr, nullptr);
    }
}

void UpstreamExchange::gate_body(const BodyRules& rules) {
    BodyCheckContext context;
    if (caller.known) context.caller = caller.uid;
    AccessControl& access = env_.access;
    context.owner_of = [&access](std::string_view id) { return access.response_owner(id); };
    gate_ = std::make_unique<RequestBodyGate>(rules, std::move(context));
}

void UpstreamExchange::start() {
    // --github-oidc with no usable access token (renewal failing): a clear
    // 502 now rather than a request upstream without credentials.
    if (!env_.credential.available()) {
        fail(refusal::kCredentialUnavailable, env_.credential.unavailable_reason());
        return;
    }
    if (env_.dump) dump_ = env_.dump->begin(request_.headers);
    write_head();
    // The headers now live in the request bytes; a stream may stay open for
    // hours, so it should not keep a second copy.
    HeaderList().swap(request_.headers);
    if (auto idle = env_.pool.take_idle()) {
        attach(std::move(idle));
        connected();
        return;
    }
    std::string error;
    auto conn = env_.pool.connect_new(error);
    if (!conn) {
        fail(refusal::kUpstreamUnreachable, error);
        return;
    }
    attach(std::move(conn));
    conn_->transport->set_timeout(env_.options.upstream_connect_timeout_s);
}

void UpstreamExchange::attach(std::unique_ptr<UpstreamConnection> conn) {
    conn_ = std::move(conn);
    conn_->transport->set_callbacks(&UpstreamExchange::on_read, &UpstreamExchange::on_event, this);
}

// The request head: only ever POST to the configured path and Host, whatever
// the worker asked for; Authorization added by reference to the locked page.
void UpstreamExchange::write_head() {
    const UpstreamUrl& url = env_.pool.url();
    evbuffer* out = pending_.get();
    evbuffer_add_printf(out, "POST %s HTTP/1.1\r\nHost: %s\r\n", url.path_and_query.c_str(),
                        url.host_header.c_str());
    // With a token budget in force the body must be countable: ask for it
    // uncompressed, whatever the client asked.
    // A gated exchange reads the answer for the id of the response it
    // creates (the owner to remember): the same.
    const bool identity = env_.access.counts_tokens() || gate_ != nullptr;
    for (const auto& h : request_.headers) {
        if (identity && iequals(h.name, "accept-encoding")) continue;
        evbuffer_add(out, h.name.data(), h.name.size());
        evbuffer_add(out, ": ", 2);
        evbuffer_add(out, h.value.data(), h.value.size());
        evbuffer_add(out, "\r\n", 2);
    }
    if (identity) evbuffer_add_printf(out, "Accept-Encoding: identity\r\n");
    static constexpr char kAuth[] = "Authorization: ";
    evbuffer_add(out, kAuth, sizeof kAuth - 1);
    // No copy of the key: the evbuffer points at the sealed page (kept alive
    // until written, should an access token be replaced meanwhile), and the
    // TLS layer encrypts straight from it.
    env_.credential.append_to(out);
    // A gated body goes chunked: its length may change (the output cap
    // added), and without the last chunk the upstream never has it whole.
    if (upstream_chunked()) {
        evbuffer_add_printf(out, "\r\nTransfer-Encoding: chunked\r\n\r\n");
    } else {
        std::uint64_t len = request_.framing == BodyFraming::Length ? request_.content_length : 0;
        // Even without a body the worker sends exactly one ReqEnd.
        evbuffer_add_printf(out, "\r\nContent-Length: %llu\r\n\r\n",
                            static_cast<unsigned long long>(len));
    }
}

void UpstreamExchange::connected() {
    phase_ = Phase::AwaitHead;
    UpstreamTransport& t = *conn_->transport;
    t.set_timeout(env_.options.upstream_idle_timeout_s);
    t.set_reading(true);
    // Until the response has ended, every read is acknowledged at once
    // (UpstreamTransport::set_quick_ack says why).
    t.set_quick_ack(true);
    evbuffer* out = t.output();
    evbuffer_add_cb(out, &UpstreamExchange::on_output_drained, this);
    // Head and body so far leave together, in one writev, this loop turn.
    evbuffer_add_buffer(out, pending_.get());
}

void UpstreamExchange::append_body(std::string_view data) {
    if (data.empty()) return;  // an empty chunk would end the body
    // The dump shows the request as forwarded: after the body rules (an
    // output cap they added is in it; what they held back and refused is not).
    if (dump_) dump_->request_body(data);
    evbuffer* out = phase_ == Phase::Connecting ? pending_.get() : conn_->transport->output();
    if (upstream_chunked()) {
        evbuffer_add_printf(out, "%zx\r\n", data.size());
        evbuffer_add(out, data.data(), data.size());
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add(out, data.data(), data.size());
    }
}

bool UpstreamExchange::on_req_body(std::string_view data) {
    if (req_done_ || request_.framing == BodyFraming::None) return false;
    req_body_bytes_ += data.size();
    record_.request_bytes = req_body_bytes_;
    if (req_body_bytes_ > env_.options.max_body_bytes) return false;
    if (request_.framing == BodyFraming::Length && req_body_bytes_ > request_.content_length)
        return false;
    // A worker that ignores the credit window is trying to make us buffer.
    if (!req_window_.received(data.size())) return false;
    if (phase_ == Phase::Finished || data.empty()) return true;
    if (gate_) {
        data = gate_->feed(data);
        if (const auto& refused = gate_->refused()) {
            refuse_body(*refused);
            return true;
        }
    }
    append_body(data);
    return true;
}

bool UpstreamExchange::on_req_end() {
    if (req_done_) return false;
    if (request_.framing == BodyFraming::Length && req_body_bytes_ != request_.content_length)
        return false;
    req_done_ = true;
    if (phase_ != Phase::Finished && gate_) {
        auto verdict = gate_->finish();
        if (auto* refused = std::get_if<DetailedRefusal>(&verdict)) {
            if (dump_) dump_->request_done();
            refuse_body(*refused);
            return true;
        }
        append_body(std::get<std::string>(verdict));  // the held-back end, the cap added
    }
    if (dump_) dump_->request_done();
    if (phase_ != Phase::Finished && upstream_chunked()) {
        evbuffer* out = phase_ == Phase::Connecting ? pending_.get() : conn_->transport->output();
        evbuffer_add(out, "0\r\n\r\n", 5);
    }
    return true;
}

void UpstreamExchange::on_client_gone() {
    if (phase_ == Phase::Finished) return;
    // The parent saw the client leave before the worker said so: the
    // worker's stream ends too (it may never say: it may be compromised).
    if (phase_ == Phase::Body) {
        sink_.tell_resp_abort(stream_);
    } else {
        const Refusal& r = refusal::kClientGone;
        sink_.tell_resp_error(stream_, {r.status, r.code, r.message, {}, 0});
    }
    on_cancel();
}

void UpstreamExchange::on_cancel() {
    if (phase_ == Phase::Finished) return;
    // The client left (worker/client_connection.cpp: EOF, reset or a failed
    // write). Closing the upstream connection now, not at its next byte, is
    // what stops a long reasoning stream from generating (and billing) for
    // nobody; a connection in the middle of a response cannot be pooled.
    const char* where = phase_ == Phase::Connecting  ? "waiting for an upstream connection"
                        : phase_ == Phase::AwaitHead ? "waiting for the response head"
                                                     : "streaming the response";
    LOG_INFO(
        "stream %u client_aborted while %s (%llu response bytes sent); upstream connection "
        "closed",
        stream_, where, static_cast<unsigned long long>(resp_body_bytes_));
    record_.outcome = "client_aborted";
    conn_.reset();
    phase_ = Phase::Finished;
    finish(ExchangeEnd::ClientAborted);
}

bool UpstreamExchange::on_resp_credit(std::uint32_t bytes) {
    // Credit is for bytes the client took of what we sent: never more. A
    // worker that says otherwise would have us queue upstream bytes at will.
    if (!resp_window_.take_credit(bytes)) return false;
    if (read_paused_ && !resp_window_.full() && conn_ && phase_ == Phase::Body) {
        read_paused_ = false;
        if (paused_for_room_) return true;
        conn_->transport->set_reading(true);
        process_input();  // bytes that arrived before the pause
    }
    return true;
}

void UpstreamExchange::pause_for_room() {
    paused_for_room_ = true;
    conn_->transport->set_reading(false);
    sink_.wait_for_room(stream_);
}

void UpstreamExchange::on_room() {
    if (!paused_for_room_) return;
    paused_for_room_ = false;
    if (!conn_ || phase_ == Phase::Finished || read_paused_) return;
    conn_->transport->set_reading(true);
    process_input();  // bytes that arrived before the pause
}

void UpstreamExchange::on_output_drained(evbuffer* buf, const evbuffer_cb_info* info,
                                         void* arg) noexcept {
    auto* self = static_cast<UpstreamExchange*>(arg);
    if (info->n_deleted != 0 && evbuffer_get_length(buf) == 0 && self->whole_request_queued())
        self->request_sent_ = true;
    if (info->n_deleted == 0 || self->req_window_.uncredited() == 0) return;
    if (self->req_done_) {
        // The whole body is here: no more will come, no credit is needed
        // (most requests; it saves the worker a wakeup per request).
        self->req_window_.clear();
        return;
    }
    // At most the window and a piece: it fits the message's u32.
    if (std::uint64_t credit = self->req_window_.grant(evbuffer_get_length(buf)))
        self->sink_.tell_req_credit(self->stream_, static_cast<std::uint32_t>(credit));
}

void UpstreamExchange::on_read(void* arg) noexcept {
    static_cast<UpstreamExchange*>(arg)->process_input();
}

void UpstreamExchange::process_input() {
    if (!conn_ || phase_ == Phase::Finished) return;
    evbuffer* in = conn_->transport->input();
    while (phase_ != Phase::Finished && evbuffer_get_length(in) > 0) {
        if (!got_response_bytes_) record_.first_byte = std::chrono::steady_clock::now();
        got_response_bytes_ = request_sent_ = true;
        if (paused_for_room_) return;
        if (sink_.backlogged()) {
            // Nothing more for a worker that has not read what it got.
            pause_for_room();
            return;
        }
        if (phase_ == Phase::AwaitHead) {
            if (!parse_head()) return;
            continue;
        }
        if (phase_ != Phase::Body) return;
        if (resp_window_.full()) {
            // Flow control: the client is slower than the upstream.
            read_paused_ = true;
            conn_->transport->set_reading(false);
            return;
        }
        std::size_t len = std::min<std::size_t>(evbuffer_get_length(in), ipc::kMaxPayload);
        if (resp_head_.framing == BodyFraming::Length) {
            len = static_cast<std::size_t>(std::min<std::uint64_t>(len, resp_remaining_));
        }
        auto* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(len)));
        std::string_view avail(p, len);
        if (resp_head_.framing == BodyFraming::Chunked) {
            std::size_t consumed = 0;
            std::string_view data;
            auto st = chunked_->feed(avail, consumed, data);
            if (st == ChunkedDecoder::Status::Error) {
                fail(refusal::kUpstreamProtocol, "bad chunked framing from upstream");
                return;
            }
            if (!data.empty()) deliver(data);
            evbuffer_drain(in, consumed);
            if (st == ChunkedDecoder::Status::Done) response_complete();
            continue;
        }
        deliver(avail);
        evbuffer_drain(in, len);
        if (resp_head_.framing == BodyFraming::Length) {
            resp_remaining_ -= len;
            if (resp_remaining_ == 0) response_complete();
        }
    }
}

void UpstreamExchange::deliver(std::string_view data) {
    if (data.empty()) return;
    if (dump_) dump_->response_body(data);
    record_.response_bytes += data.size();
    if (usage_) usage_->feed(data);
    if (response_ids_) {
        response_ids_->feed(data);
        if (const auto& id = response_ids_->id()) {
            env_.access.record_response(caller, *id);
            response_ids_.reset();
        }
    }
    resp_body_bytes_ += data.size();
    sink_.tell_resp_body(stream_, data);
    resp_window_.sent(data.size());
}

void UpstreamExchange::response_complete() {
    if (phase_ == Phase::Finished) return;
    phase_ = Phase::Finished;
    sink_.tell_resp_end(stream_);
    if (dump_) dump_->response_done();
    const bool request_complete = whole_request_queued();
    // Its ACK rides on the next request, as the kernel intends.
    if (conn_) conn_->transport->set_quick_ack(false);
    bool reusable = conn_ && resp_head_.keep_alive && request_complete &&
                    resp_head_.framing != BodyFraming::UntilClose &&
                    evbuffer_get_length(conn_->transport->input()) == 0 &&
                    conn_->transport->unsent() == 0;
    if (reusable) {
        evbuffer_remove_cb(conn_->transport->output(), &UpstreamExchange::on_output_drained, this);
        env_.pool.give_back(std::move(conn_));
    }
    conn_.reset();
    finish(ExchangeEnd::Complete);
}

// The upstream saw a complete request once every declared body byte is
// written, even if the worker's REQ_END is still on its way.
bool UpstreamExchange::whole_request_queued() const {
    return req_done_ ||
           (!upstream_chunked() &&
            req_body_bytes_ ==
                (request_.framing == BodyFraming::Length ? request_.content_length : 0));
}

TokenCharge UpstreamExchange::charge() const {
    StreamTally t;
    t.request_sent = request_sent_;
    t.request_bytes = req_body_bytes_;
    t.status = resp_head_.status > 0 ? static_cast<unsigned>(resp_head_.status) : 0;
    t.event_stream = event_stream_;
    t.readable = usage_.has_value();
    t.response_bytes = record_.response_bytes;
    if (usage_) {
        t.delta_bytes = usage_->delta_bytes();
        t.reported = usage_->usage();
    }
    return charge_for(t);
}

const std::vector<std::string>& UpstreamExchange::answer_models() const {
    static const std::vector<std::string> none;
    return usage_ ? usage_->models() : none;
}

void UpstreamExchange::finish(ExchangeEnd end) {
    end_ = end;
    sink_.exchange_done(stream_);
}

const char* exchange_end_name(ExchangeEnd end) {
    switch (end) {
        case ExchangeEnd::Open:
            return "open";
        case ExchangeEnd::Complete:
            return "complete";
        case ExchangeEnd::UpstreamError:
            return "upstream_error";
        case ExchangeEnd::ClientAborted:
            return "client_aborted";
    }
    return "?";
}

}  // namespace proxy
