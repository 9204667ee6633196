#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>

#include "common/exit_codes.hpp"
#include "parent/key/key_intake.hpp"
#include "tests/unit/support/key_pages.hpp"

using proxy::KeyIntakeError;
using proxy::KeyPage;

namespace {

using proxy::test::make_page;

// Hands out the given chunks one read at a time, then EOF.
struct ChunkReader {
    std::deque<std::string> chunks;
    ssize_t operator()(char* buf, std::size_t len) {
        if (chunks.empty()) return 0;
        std::string chunk = std::move(chunks.front());
        chunks.pop_front();
        REQUIRE(chunk.size() <= len);
        std::memcpy(buf, chunk.data(), chunk.size());
        return static_cast<ssize_t>(chunk.size());
    }
};

KeyIntakeError read_chunks(KeyPage& page, std::deque<std::string> chunks) {
    ChunkReader reader{std::move(chunks)};
    return proxy::read_key(page, std::ref(reader));
}

// Every byte of the page from `from` to the end is zero.
bool zero_from(KeyPage& page, std::size_t from) {
    auto bytes = page.writable();
    return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end(),
                       [](char c) { return c == 0; });
}

}  // namespace

TEST_CASE("key intake: key without newline ends at EOF") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-abc123"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-abc123");
}

TEST_CASE("key intake: short reads are joined") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-", "abc", "123\n"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-abc123");
}

TEST_CASE("key intake: CRLF is trimmed") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-abc123\r\n"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-abc123");
    CHECK(zero_from(page, page.header_value().size()));
}

TEST_CASE("key intake: empty input is Missing, a lone newline too") {
    auto page = make_page();
    CHECK(read_chunks(page, {}) == KeyIntakeError::Missing);
    CHECK(page.header_value().empty());
    CHECK(zero_from(page, 0));
    CHECK(read_chunks(page, {"\r\n"}) == KeyIntakeError::Missing);
    CHECK(zero_from(page, 0));
}

TEST_CASE("key intake: a buffer filled without newline or EOF is TooLarge") {
    auto page = make_page();
    int calls = 0;
    auto result = proxy::read_key(page, [&](char* buf, std::size_t len) {
        ++calls;
        std::memset(buf, 'a', len);  // never EOF: fills whatever room is left
        return static_cast<ssize_t>(len);
    });
    CHECK(result == KeyIntakeError::TooLarge);
    CHECK(calls == 1);
    CHECK(zero_from(page, 0));
}

TEST_CASE("key intake: longest accepted key is 1016 bytes") {
    auto page = make_page();
    const std::string k1016(1016, 'k');
    CHECK(read_chunks(page, {k1016 + "\n"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer " + k1016);
    CHECK(read_chunks(page, {k1016}) == KeyIntakeError::None);  // then EOF
    CHECK(page.header_value() == "Bearer " + k1016);

    // 1017 bytes fill the buffer before the newline (or EOF) can be read:
    // the original rejects this too.
    const std::string k1017(1017, 'k');
    CHECK(read_chunks(page, {k1017, "\n"}) == KeyIntakeError::TooLarge);
    CHECK(zero_from(page, 0));
    CHECK(read_chunks(page, {k1017}) == KeyIntakeError::TooLarge);
    CHECK(zero_from(page, 0));
}

TEST_CASE("key intake: read error propagates errno and wipes the page") {
    auto page = make_page();
    int calls = 0;
    int err = 0;
    auto result = proxy::read_key(
        page,
        [&](char* buf, std::size_t) -> ssize_t {
            if (++calls == 1) {
                std::memcpy(buf, "sk-part", 7);
                return 7;
            }
            errno = EIO;
            return -1;
        },
        &err);
    CHECK(result == KeyIntakeError::ReadError);
    CHECK(err == EIO);
    CHECK(page.header_value().empty());
    CHECK(zero_from(page, 0));
}

TEST_CASE("key intake: EINTR is retried") {
    auto page = make_page();
    int calls = 0;
    auto result = proxy::read_key(page, [&](char* buf, std::size_t) -> ssize_t {
        ++calls;
        if (calls == 1) {
            errno = EINTR;
            return -1;
        }
        if (calls == 2) {
            std::memcpy(buf, "sk-test-abc123\n", 15);
            return 15;
        }
        return 0;
    });
    CHECK(result == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-test-abc123");
}

TEST_CASE("key intake: bytes outside [A-Za-z0-9_-] are Invalid and wipe the page") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-abc\xff"}) == KeyIntakeError::Invalid);
    CHECK(zero_from(page, 0));
    CHECK(read_chunks(page, {"sk-abc!23"}) == KeyIntakeError::Invalid);
    CHECK(zero_from(page, 0));
    CHECK(read_chunks(page, {"sk abc"}) == KeyIntakeError::Invalid);
    CHECK(read_chunks(page, {std::string("sk\0abc", 6)}) == KeyIntakeError::Invalid);
    CHECK(read_chunks(page, {"sk-a\rb\n"}) == KeyIntakeError::Invalid);
    CHECK(read_chunks(page, {"Az09_-"}) == KeyIntakeError::None);
}

TEST_CASE("key intake: bytes after the newline are ignored and wiped") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-test-abc123\nsecond-line-junk"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-test-abc123");
    CHECK(zero_from(page, page.header_value().size()));
}

TEST_CASE("key intake: a newline in a later chunk ends the key") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-test", "-abc\nmore", "never-read"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-test-abc");
    CHECK(zero_from(page, page.header_value().size()));
}

TEST_CASE("key intake: stale page contents do not survive a new read") {
    auto page = make_page();
    CHECK(read_chunks(page, {"sk-a-much-longer-first-key"}) == KeyIntakeError::None);
    CHECK(read_chunks(page, {"sk-b"}) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-b");
    CHECK(zero_from(page, page.header_value().size()));
}

TEST_CASE("key intake: from a real pipe") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const std::string_view input = "sk-test-abc123\n";
    REQUIRE(write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
    close(fds[1]);
    auto page = make_page();
    CHECK(proxy::read_key_from_fd(page, fds[0]) == KeyIntakeError::None);
    CHECK(page.header_value() == "Bearer sk-test-abc123");
    close(fds[0]);
}

TEST_CASE("key intake: from a pipe closed without input, and a bad fd") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    close(fds[1]);
    auto page = make_page();
    CHECK(proxy::read_key_from_fd(page, fds[0]) == KeyIntakeError::Missing);
    close(fds[0]);

    int err = 0;
    CHECK(proxy::read_key_from_fd(page, -1, &err) == KeyIntakeError::ReadError);
    CHECK(err == EBADF);
}

TEST_CASE("key intake: a sealed page cannot be read into") {
    auto page = make_page();
    REQUIRE(read_chunks(page, {"sk-test-abc123"}) == KeyIntakeError::None);
    REQUIRE(page.seal());
    int err = 0;
    CHECK(proxy::read_key(
              page, [](char*, std::size_t) -> ssize_t { return 0; }, &err) ==
          KeyIntakeError::ReadError);
    CHECK(err == EINVAL);
    CHECK(page.header_value() == "Bearer sk-test-abc123");
}

TEST_CASE("key intake: messages and exit codes match the original") {
    using E = KeyIntakeError;
    CHECK(std::string_view(proxy::key_intake_message(E::Missing)) ==
          "API key must be provided via stdin (e.g. printenv OPENAI_API_KEY | codex "
          "responses-api-proxy)");
    CHECK(std::string_view(proxy::key_intake_message(E::TooLarge)) ==
          "API key is too large to fit in the 1024-byte buffer");
    CHECK(std::string_view(proxy::key_intake_message(E::Invalid)) ==
          "API key may only contain ASCII letters, numbers, '-' or '_'");
    CHECK(std::string_view(proxy::key_intake_message(E::ReadError)) == "failed to read API key: ");
    CHECK(proxy::key_intake_exit_code(E::None) == 0);
    CHECK(proxy::key_intake_exit_code(E::Missing) == proxy::exit_code::key_missing);
    CHECK(proxy::key_intake_exit_code(E::TooLarge) == proxy::exit_code::key_too_large);
    CHECK(proxy::key_intake_exit_code(E::Invalid) == proxy::exit_code::key_invalid);
    CHECK(proxy::key_intake_exit_code(E::ReadError) == proxy::exit_code::key_read_error);
}
