#include <doctest/doctest.h>

#include <string>

#include "common/chunked_decoder.hpp"

using namespace proxy;
using Status = ChunkedDecoder::Status;

namespace {

struct Run {
    Status status = Status::NeedMore;  // the last status seen
    std::string body;
    std::size_t consumed = 0;  // total bytes of input consumed
    std::string code;          // error code when status == Error
};

// Feeds `input` in pieces of `step` bytes, looping over Data as a caller does.
Run decode(std::string_view input, std::size_t step, ChunkedDecoder dec = ChunkedDecoder{}) {
    Run run;
    for (std::size_t pos = 0; pos < input.size();) {
        std::string_view piece = input.substr(pos, step);
        pos += piece.size();
        for (;;) {
            std::size_t consumed = 99;
            std::string_view data = "garbage";
            run.status = dec.feed(piece, consumed, data);
            REQUIRE(consumed <= piece.size());
            run.consumed += consumed;
            if (run.status == Status::Data) {
                REQUIRE_FALSE(data.empty());
                // A slice of the input, ending where consumption stopped.
                REQUIRE(data.data() + data.size() == piece.data() + consumed);
                run.body += data;
                piece.remove_prefix(consumed);
                if (piece.empty()) break;
                continue;
            }
            CHECK(data.empty());
            if (run.status == Status::NeedMore) {
                CHECK(consumed == piece.size());
                break;
            }
            if (run.status == Status::Error) run.code = dec.error().code;
            CHECK(dec.body_bytes() == run.body.size());
            return run;
        }
    }
    CHECK(dec.body_bytes() == run.body.size());
    return run;
}

// Whole, byte at a time and in threes must agree.
Run decode_all_ways(std::string_view input, ChunkedDecoder proto = ChunkedDecoder{}) {
    Run whole = decode(input, input.size() + 1, proto);
    for (std::size_t step : {std::size_t{1}, std::size_t{3}}) {
        Run split = decode(input, step, proto);
        CHECK(split.status == whole.status);
        CHECK(split.body == whole.body);
        CHECK(split.code == whole.code);
        if (whole.status != Status::Error) CHECK(split.consumed == whole.consumed);
    }
    return whole;
}

std::string error_code(std::string_view input, ChunkedDecoder proto = ChunkedDecoder{}) {
    Run r = decode_all_ways(input, proto);
    CHECK(r.status == Status::Error);
    return r.code;
}

}  // namespace

TEST_CASE("a simple body, whole and byte at a time") {
    std::string_view in = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    Run r = decode_all_ways(in);
    CHECK(r.status == Status::Done);
    CHECK(r.body == "hello, world");
    CHECK(r.consumed == in.size());
}

TEST_CASE("every split point gives the same result") {
    std::string in = "3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n";
    for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        ChunkedDecoder dec;
        std::string body;
        std::size_t total = 0;
        Status last = Status::NeedMore;
        for (std::string_view piece :
             {std::string_view(in).substr(0, cut), std::string_view(in).substr(cut)}) {
            while (!piece.empty()) {
                std::size_t consumed = 0;
                std::string_view data;
                last = dec.feed(piece, consumed, data);
                body += data;
                total += consumed;
                piece.remove_prefix(consumed);
                if (last != Status::Data) break;
            }
        }
        CHECK_MESSAGE(last == Status::Done, "cut ", cut);
        CHECK(body == "abc0123456789abcdef");
        CHECK(total == in.size());
        CHECK(dec.done());
    }
}

TEST_CASE("Done stops before pipelined bytes") {
    std::string_view chunked = "2\r\nhi\r\n0\r\n\r\n";
    std::string in = std::string(chunked) + "POST /v1/responses HTTP/1.1\r\n";
    ChunkedDecoder dec;
    std::size_t consumed = 0;
    std::string_view data;
    REQUIRE(dec.feed(in, consumed, data) == Status::Data);
    CHECK(data == "hi");
    std::string_view rest = std::string_view(in).substr(consumed);
    REQUIRE(dec.feed(rest, consumed, data) == Status::Done);
    CHECK(rest.substr(consumed) == "POST /v1/responses HTTP/1.1\r\n");
    // Once done, nothing more is consumed.
    CHECK(dec.feed("0\r\n\r\n", consumed, data) == Status::Done);
    CHECK(consumed == 0);
    CHECK(dec.body_bytes() == 2);

    Run r = decode_all_ways(std::string(chunked) + "GARBAGE");
    CHECK(r.status == Status::Done);
    CHECK(r.consumed == chunked.size());
}

TEST_CASE("partial input is consumed and asks for more") {
    for (std::string_view in :
         {"", "5", "5\r", "5\r\nhel", "5\r\nhello", "5\r\nhello\r", "5\r\nhello\r\n",
          "5\r\nhello\r\n0\r\n", "0\r\nX: y\r\n", "0\r\n\r", "5;ext", "0\r\nX"}) {
        Run r = decode_all_ways(in);
        // Data when the input ends inside chunk data, else NeedMore.
        bool in_data = in == "5\r\nhel" || in == "5\r\nhello";
        CHECK_MESSAGE(r.status == (in_data ? Status::Data : Status::NeedMore), in);
        CHECK(r.consumed == in.size());
    }
}

TEST_CASE("hex sizes: either case, leading zeros") {
    Run r = decode_all_ways("A\r\n0123456789\r\nb\r\n0123456789a\r\n000\r\n\r\n");
    CHECK(r.status == Status::Done);
    CHECK(r.body == "01234567890123456789a");
}

TEST_CASE("chunk size syntax is strict") {
    for (std::string_view bad : {"\r\n", " 5\r\n", "5 \r\n", "5\t\r\n", "-5\r\n", "+5\r\n",
                                 "0x5\r\n", "g\r\n", "5g\r\n", ";x\r\n", "\n"}) {
        CHECK_MESSAGE(error_code(bad) == "bad_chunk_size", bad);
    }
}

TEST_CASE("chunk size overflow is refused") {
    CHECK(error_code("ffffffffffffffffff\r\n") == "chunk_size_too_large");
    CHECK(error_code("4000000000000001\r\n") == "chunk_size_too_large");
    // 2^62 itself is accepted (and then awaits its data).
    CHECK(decode_all_ways("4000000000000000\r\n").status == Status::NeedMore);
}

TEST_CASE("chunk extensions are allowed, checked and bounded") {
    for (std::string_view ok :
         {"2;a\r\nhi\r\n0\r\n\r\n", "2;a=b\r\nhi\r\n0\r\n\r\n", "2;a=b;c=d\r\nhi\r\n0\r\n\r\n",
          "2; a = b ;c\r\nhi\r\n0\r\n\r\n", "2;a=\"q \\\"x\\\" ;\"\r\nhi\r\n0\r\n\r\n",
          "2;a=b\r\nhi\r\n0;last=1\r\n\r\n"}) {
        Run r = decode_all_ways(ok);
        CHECK_MESSAGE(r.status == Status::Done, ok);
        CHECK(r.body == "hi");
    }
    for (std::string_view bad :
         {"2;\r\nhi\r\n", "2;=b\r\nhi\r\n", "2;a=\r\nhi\r\n", "2;a b\r\nhi\r\n",
          "2;a=\"x\r\nhi\r\n", "2;a=b \r\nhi\r\n", "2;a=\"x\"y\r\nhi\r\n", "2;a\x01\r\nhi\r\n",
          "2;a=\"\x7f\"\r\nhi\r\n"}) {
        CHECK_MESSAGE(error_code(bad) == "bad_chunk_extension", bad);
    }
    CHECK(error_code("2;a\nhi\r\n") == "bad_line_ending");
    CHECK(error_code("2;a\rhi\r\n") == "bad_line_ending");

    std::string line = "2;" + std::string(1021, 'x');  // 1023 bytes
    CHECK(decode_all_ways(line + "\r\nhi\r\n0\r\n\r\n").status == Status::Done);
    CHECK(decode_all_ways(line + "x\r\nhi\r\n0\r\n\r\n").status == Status::Done);  // 1024
    CHECK(error_code(line + "xx\r\nhi\r\n0\r\n\r\n") == "chunk_line_too_long");    // 1025
    CHECK(error_code("2;abc\r\nhi\r\n", ChunkedDecoder{8192, 4}) == "chunk_line_too_long");
    CHECK(error_code(std::string(1025, '0') + "\r\n") == "chunk_line_too_long");
}

TEST_CASE("CRLF is required after the size line and after chunk data") {
    CHECK(error_code("5\nhello\r\n0\r\n\r\n") == "bad_line_ending");
    CHECK(error_code("5\rhello\r\n0\r\n\r\n") == "bad_line_ending");
    CHECK(error_code("5\r\nhelloX\r\n0\r\n\r\n") == "bad_chunk_terminator");
    CHECK(error_code("5\r\nhello\n0\r\n\r\n") == "bad_chunk_terminator");
    CHECK(error_code("5\r\nhello\rX0\r\n\r\n") == "bad_chunk_terminator");
    CHECK(error_code("5\r\nhello\r\n\r\n") == "bad_chunk_size");
    CHECK(error_code("0\r\n\n") == "bad_line_ending");
    CHECK(error_code("0\r\n\rX") == "bad_line_ending");
}

TEST_CASE("trailer section: checked, bounded, discarded") {
    std::string_view in = "2\r\nhi\r\n0\r\nX-A: 1\r\nx-b:\r\n\r\nNEXT";
    Run r = decode_all_ways(in);
    CHECK(r.status == Status::Done);
    CHECK(r.body == "hi");
    CHECK(r.consumed == in.size() - 4);

    CHECK(error_code("0\r\nnot a field\r\n\r\n") == "bad_trailer");
    CHECK(error_code("0\r\nX : 1\r\n\r\n") == "bad_trailer");
    CHECK(error_code("0\r\nX: 1\r\n folded\r\n\r\n") == "bad_trailer");
    CHECK(error_code(std::string("0\r\nX: \0\r\n\r\n", 11)) == "bad_trailer");
    CHECK(error_code("0\r\nX: 1\n\r\n") == "bad_line_ending");
    CHECK(error_code("0\r\nX: 1\rY\r\n\r\n") == "bad_line_ending");

    // The limit counts the field lines with their CRLFs: "X: 12345\r\n" is 10.
    std::string_view t = "0\r\nX: 12345\r\n\r\n";
    CHECK(decode_all_ways(t, ChunkedDecoder{10}).status == Status::Done);
    CHECK(error_code(t, ChunkedDecoder{9}) == "trailer_too_large");
    CHECK(error_code(t, ChunkedDecoder{4}) == "trailer_too_large");
    std::string many = "0\r\n";
    for (int i = 0; i < 1000; ++i) many += "X-Trailer: 0123456789\r\n";
    CHECK(error_code(many + "\r\n") == "trailer_too_large");
}

TEST_CASE("errors are sticky") {
    ChunkedDecoder dec;
    std::size_t consumed = 0;
    std::string_view data;
    REQUIRE(dec.feed("z", consumed, data) == Status::Error);
    CHECK(dec.error().status == 400);
    CHECK(std::string(dec.error().code) == "bad_chunk_size");
    CHECK(dec.feed("0\r\n\r\n", consumed, data) == Status::Error);
    CHECK(consumed == 0);
    CHECK_FALSE(dec.done());
}

TEST_CASE("a large chunk arrives as several Data slices") {
    std::string payload(100000, 'x');
    std::string in = "186a0\r\n" + payload + "\r\n0\r\n\r\n";
    Run r = decode(in, 4096);
    CHECK(r.status == Status::Done);
    CHECK(r.body == payload);
    CHECK(r.consumed == in.size());
}
