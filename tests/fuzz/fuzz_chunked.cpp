// Chunked decoder: no crash on any input, and the result does not depend on
// how the input is split across feed() calls (whole, byte at a time, or in
// pieces of an input-dependent size). Small limits so the fuzzer reaches them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/chunked_decoder.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace proxy;
using Status = ChunkedDecoder::Status;

namespace {

constexpr std::size_t kMaxTrailer = 256;
constexpr std::size_t kMaxLine = 64;

struct Outcome {
    Status status = Status::NeedMore;
    std::string body;
    std::size_t consumed = 0;
    std::string code;
};

Outcome run(std::string_view in, std::size_t step) {
    ChunkedDecoder dec(kMaxTrailer, kMaxLine);
    Outcome out;
    for (std::size_t pos = 0; pos < in.size();) {
        std::string_view piece = in.substr(pos, step);
        pos += piece.size();
        while (!piece.empty()) {
            std::size_t consumed = 0;
            std::string_view data;
            out.status = dec.feed(piece, consumed, data);
            FUZZ_CHECK(consumed <= piece.size());
            out.consumed += consumed;
            if (out.status == Status::Data) {
                FUZZ_CHECK(!data.empty());
                FUZZ_CHECK(data.data() + data.size() == piece.data() + consumed);
                out.body += data;
            } else {
                FUZZ_CHECK(data.empty());
            }
            if (out.status == Status::NeedMore) FUZZ_CHECK(consumed == piece.size());
            if (out.status == Status::Error) {
                out.code = dec.error().code;
                FUZZ_CHECK(dec.error().status == 400);
            }
            if (out.status == Status::Done || out.status == Status::Error) {
                FUZZ_CHECK(dec.body_bytes() == out.body.size());
                return out;
            }
            piece.remove_prefix(consumed);
        }
    }
    FUZZ_CHECK(dec.body_bytes() == out.body.size());
    return out;
}

// Data and NeedMore both mean "not finished" once the input is used up.
bool finished(Status s) {
    return s == Status::Done || s == Status::Error;
}

void check_same(const Outcome& a, const Outcome& b) {
    FUZZ_CHECK(finished(a.status) == finished(b.status));
    if (finished(a.status)) FUZZ_CHECK(a.status == b.status);
    FUZZ_CHECK(a.code == b.code);
    // Errors are found at the same byte however the input is split.
    FUZZ_CHECK(a.body == b.body);
    FUZZ_CHECK(a.consumed == b.consumed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    Outcome whole = run(in, in.size() + 1);
    FUZZ_CHECK(whole.consumed <= in.size());
    check_same(whole, run(in, 1));
    check_same(whole, run(in, 2 + size % 13));
    return 0;
}
