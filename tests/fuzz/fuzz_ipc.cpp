// IPC codec: no crash on any datagram, and whatever decodes re-encodes to the
// same bytes (the encoding is canonical, so a hostile worker cannot smuggle
// anything past the decoder in a second spelling of the same message); a body
// folded behind a ReqOpen or RespHead splits off in exactly one way; a
// MetricsAnswer piece re-encodes the same.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/ipc.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);

    ipc::Message msg;
    if (ipc::decode(std::span<const std::uint8_t>(data, size), msg) == ipc::DecodeError::None) {
        FUZZ_CHECK((msg.flags & ~ipc::allowed_flags(msg.type)) == 0);
        FUZZ_CHECK(msg.payload.size() <= ipc::kMaxPayload);
        FUZZ_CHECK(ipc::is_worker_to_parent(msg.type) != ipc::is_parent_to_worker(msg.type));
        std::string again;
        FUZZ_CHECK(ipc::encode(msg.type, msg.stream, msg.payload, again, msg.flags));
        FUZZ_CHECK(again == in);
    }

    // Typed payloads: the whole input, and the payload of a decoded message.
    for (std::string_view payload : {in, std::string_view(msg.payload)}) {
        if (auto o = ipc::decode_req_open(payload)) FUZZ_CHECK(ipc::encode_req_open(*o) == payload);
        if (auto s = ipc::decode_resp_head(payload)) {
            FUZZ_CHECK(ipc::encode_resp_head(*s) == payload);
        }
        // A start with a body behind it (kFlagBody), under every flag
        // combination: the split is unique, the body never empty, and
        // without kFlagBody nothing may follow the start.
        for (std::uint16_t flags : {0, 1, 2, 3}) {
            std::string_view body;
            if (auto o = ipc::decode_req_open(payload, flags, body)) {
                FUZZ_CHECK(ipc::encode_req_open(*o) + std::string(body) == payload);
                FUZZ_CHECK(body.empty() == ((flags & ipc::kFlagBody) == 0));
            }
            if (auto s = ipc::decode_resp_head(payload, flags, body)) {
                FUZZ_CHECK(ipc::encode_resp_head(*s) + std::string(body) == payload);
                FUZZ_CHECK(body.empty() == ((flags & ipc::kFlagBody) == 0));
            }
        }
        if (auto e = ipc::decode_resp_error(payload))
            FUZZ_CHECK(ipc::encode_resp_error(*e) == payload);
        if (auto v = ipc::decode_u32(payload)) FUZZ_CHECK(ipc::encode_u32(*v) == payload);
        if (auto a = ipc::decode_usage_answer(payload))
            FUZZ_CHECK(ipc::encode_usage_answer(*a) == payload);
        // A MetricsAnswer piece: only a granted one carries text.
        if (auto a = ipc::decode_metrics_answer(payload)) {
            FUZZ_CHECK(a->text.empty() || a->verdict == ipc::MetricsVerdict::Granted);
            if (a->text.size() <= ipc::kMaxMetricsPiece)
                FUZZ_CHECK(ipc::encode_metrics_answer(a->conn, a->verdict, a->text) == payload);
        }
    }
    return 0;
}
