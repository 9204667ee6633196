#include "parent/upstream/stream_sink.hpp"

namespace proxy {

void StreamSink::tell_resp_head(std::uint32_t stream, std::string_view payload) {
    send_to_worker(ipc::Type::RespHead, stream, payload);
}

void StreamSink::tell_resp_body(std::uint32_t stream, std::string_view data) {
    for (std::size_t off = 0; off < data.size(); off += ipc::kMaxPayload)
        send_to_worker(ipc::Type::RespBody, stream, data.substr(off, ipc::kMaxPayload));
}

void StreamSink::tell_resp_end(std::uint32_t stream) {
    send_to_worker(ipc::Type::RespEnd, stream, {});
}

void StreamSink::tell_resp_abort(std::uint32_t stream) {
    send_to_worker(ipc::Type::RespAbort, stream, {});
}

void StreamSink::tell_resp_error(std::uint32_t stream, const ipc::RespError& error) {
    send_to_worker(ipc::Type::RespError, stream, ipc::encode_resp_error(error));
}

void StreamSink::tell_req_credit(std::uint32_t stream, std::uint32_t bytes) {
    send_to_worker(ipc::Type::ReqCredit, stream, ipc::encode_u32(bytes));
}

}  // namespace proxy
