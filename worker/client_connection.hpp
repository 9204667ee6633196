// One client connection in a worker: strict HTTP/1.1 head parsing, policy,
// request body relay to the parent, response framing back to the client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/chunked_decoder.hpp"
#include "common/event_ptr.hpp"
#include "common/http_types.hpp"
#include "common/ipc.hpp"
#include "common/stream_window.hpp"

namespace proxy {

class WorkerProcess;
struct Refusal;

class ClientConnection {
  public:
    ClientConnection(WorkerProcess& worker, evutil_socket_t fd, std::uint32_t conn_id,
                     bool unix_peer);
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    // Parent -> worker messages for this connection's current stream, from
    // ParentLink's heard_X (worker/parent_link.hpp).
    void on_resp_head(const ipc::RespHead& start);
    void on_resp_body(std::string_view data);
    void on_resp_end();
    void on_resp_abort();
    void on_resp_error(const ipc::RespError& error);
    // False when the parent credits more than we sent (fatal).
    bool on_req_credit(std::uint32_t bytes);
    // The parent's answer to our ShutdownAsk for GET /shutdown on this connection.
    void on_shutdown_answer(ipc::ShutdownVerdict verdict);
    // The parent's answer to our UsageAsk for GET /usage on this connection.
    void on_usage_answer(const ipc::UsageAnswer& answer);
    // A piece of the parent's answer to our MetricsAsk (`last`: the text is
    // complete). False when the parent sends more than it may (fatal).
    bool on_metrics_answer(ipc::MetricsVerdict verdict, std::string_view text, bool last);
    std::uint32_t conn_id() const { return conn_id_; }

    // Write-through: WorkerProcess calls this once per loop turn for a
    // connection whose output grew (see schedule_flush).
    void flush_output();

    // Graceful stop: idle connections close now, busy ones after this exchange.
    void begin_drain();
    bool closed() const { return closed_; }
    // No request in progress: an idle keep-alive connection or a head still
    // arriving. These are what a full worker sheds first (slowloris).
    // Only after a grace period: a head that is merely in flight is not slow.
    bool sheddable(std::chrono::steady_clock::time_point now) const {
        return req_ == ReqState::Head && resp_ == RespState::None && !closed_ && !closing_ &&
               now - waiting_since_ >= std::chrono::seconds(1);
    }
    // Close a sheddable connection to make room for a new one.
    void shed();

  private:
    enum class ReqState { Head, Body, Done };
    enum class RespState { None, Waiting, Streaming, Done };

    static void on_readable(evutil_socket_t, short what, void* arg) noexcept;
    static void on_input_drained(evbuffer*, const evbuffer_cb_info*, void* arg) noexcept;
    static void on_write(bufferevent*, void* arg) noexcept;
    static void on_event(bufferevent*, short what, void* arg) noexcept;
    static void on_head_timer(evutil_socket_t, short, void* arg) noexcept;
    static void on_output_drained(evbuffer*, const evbuffer_cb_info*, void* arg) noexcept;
    static void on_output_added(evbuffer*, const evbuffer_cb_info*, void* arg) noexcept;

    enum class ReadResult { Data, Again, Eof, Error };
    ReadResult read_more();
    void discard_input();
    std::size_t read_cap() const;
    void update_reading();
    void arm_read_event();
    void set_read_timeout(unsigned seconds);
    void process_input();
    void handle_head(std::string_view block);
    void pump_body();
    void request_body_done();
    void body_failed(const Refusal& r);
    void exchange_finished();
    void start_head_timer(unsigned seconds);
    void refuse(const Refusal& r);
    // `note`: tell the parent (Refused) for its audit line; not for errors the
    // parent itself sent.
    void send_error(int status, const char* type, const char* code, std::string_view message,
                    bool note = true, std::uint32_t retry_after = 0);
    void write_response_head(int status, const HeaderList& headers, BodyFraming framing,
                             std::uint64_t length, bool keep_alive);
    void cancel_stream();
    void close_after_flush();
    void finish_close();
    void close_now();

    WorkerProcess& worker_;
    std::uint32_t conn_id_;
    bool unix_peer_;  // accepted on the --listen-unix socket
    BufferEventPtr bev_;
    // Reading is ours, not the bufferevent's: libevent 2.1 reads 4 KiB per
    // wakeup after a FIONREAD ioctl. Declared after bev_: freed before the fd.
    EventPtr read_ev_;
    bool read_paused_ = false;  // input holds read_cap() bytes: the socket waits
    bool read_eof_ = false;     // EOF or a read error seen: never read again
    unsigned read_timeout_s_ = 0;
    EventPtr head_timer_;
    bool closed_ = false;
    bool closing_ = false;          // close once output is flushed
    bool flush_scheduled_ = false;  // in WorkerProcess's dirty list
    bool write_waiting_ = false;    // EV_WRITE on: libevent finishes a partial write
    bool draining_ = false;
    bool shutdown_pending_ = false;  // tell the parent after our 200 is flushed
    bool linger_after_flush_ = false;
    bool lingering_ = false;
    bool head_started_ = false;        // bytes of the next head have arrived
    bool skipped_empty_line_ = false;  // the one CRLF allowed before this request line
    bool keep_alive_ = false;          // this exchange leaves the connection open
    std::chrono::steady_clock::time_point waiting_since_;  // start of the current wait for a head

    ReqState req_ = ReqState::Head;
    RespState resp_ = RespState::None;
    std::uint32_t stream_ = 0;
    bool metrics_asked_ = false;  // a MetricsAsk is out: its answer is due
    std::string metrics_text_;    // pieces of the answer so far
    RequestHead head_;
    std::uint64_t body_remaining_ = 0;  // Length framing
    std::uint64_t body_seen_ = 0;
    std::optional<ChunkedDecoder> chunked_;
    StreamWindow req_window_;    // we send: what the upstream has not taken yet
    bool resp_chunked_ = false;  // we frame the body with chunked coding
    bool resp_close_delimited_ = false;
    StreamWindow resp_window_;  // we receive: credit the parent what the client took
};

}  // namespace proxy
