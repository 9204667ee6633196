// What an exchange needs from the worker link that owns it: a way to speak to
// the worker about its stream, and to say it is over. What the parent says
// leaves from a tell_X here (or WorkerLink::tell_shutdown_answer) and is taken
// by the worker's ParentLink::heard_X (worker/parent_link.hpp), as what the
// worker says leaves from its ask_X and is taken by WorkerLink::answer_X.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/ipc.hpp"

namespace proxy {

class StreamSink {
  public:
    virtual ~StreamSink() = default;

    // ---- parent -> worker, one tell_X per message ----
    // `payload`: an encoded ipc::RespHead that fits one message (the
    // exchange checks that first, and fails the stream when it does not).
    void tell_resp_head(std::uint32_t stream, std::string_view payload);
    // Body bytes of any size, split into kMaxPayload pieces.
    void tell_resp_body(std::uint32_t stream, std::string_view data);
    void tell_resp_end(std::uint32_t stream);
    void tell_resp_abort(std::uint32_t stream);
    void tell_resp_error(std::uint32_t stream, const ipc::RespError& error);
    void tell_req_credit(std::uint32_t stream, std::uint32_t bytes);

    // The exchange is over; the sink destroys it later (not from inside).
    virtual void exchange_done(std::uint32_t stream) = 0;
    // The worker is behind on what it was sent: an exchange stops reading
    // upstream and asks to be told (UpstreamExchange::on_room) when there is
    // room again. Per-stream credit bounds what a live stream has in flight;
    // this bounds what the finished ones left queued, and response heads.
    virtual bool backlogged() const { return false; }
    virtual void wait_for_room(std::uint32_t /*stream*/) {}

  protected:
    // Every tell_X ends here: one message onto the worker's channel.
    virtual void send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload) = 0;
};

}  // namespace proxy
