// What the parent's upstream threads share (--upstream-threads): the per-user
// counters, the audit log and the credential, used from several threads at
// once. Lost updates, torn lines or a page freed under a reader show up as
// wrong counts here (and as reports in a -fsanitize=thread build).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/secret_page.hpp"
#include "common/unique_fd.hpp"
#include "parent/key/credential.hpp"
#include "parent/users/access_control.hpp"
#include "parent/users/audit_log.hpp"
#include "parent/users/usage_state.hpp"
#include "tests/unit/support/key_pages.hpp"

using namespace proxy;

namespace {

constexpr int kThreads = 4;

std::string temp_dir() {
    char tmpl[] = "/tmp/cpx-threads-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    return tmpl;
}

template <typename Fn>
void in_threads(Fn fn) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(fn, t);
    for (auto& t : threads) t.join();
}

using test::page_with;

}  // namespace

TEST_CASE("threads: per-user counts from several upstream threads add up exactly") {
    const std::string dir = temp_dir();
    Options o;
    o.state_file = dir + "/usage.state";
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener.get(), 4) == 0);
    const int lfd = listener.get();
    EventBasePtr base(event_base_new());
    auto created = AccessControl::create(base.get(), o, std::span<const int>(&lfd, 1));
    REQUIRE_MESSAGE(created, created.error());
    auto ac = std::move(*created);

    constexpr int kPerThread = 200000;
    std::atomic<int> refused{0};
    in_threads([&](int t) {
        PeerIdentity who;
        who.known = true;
        for (int i = 0; i < kPerThread; ++i) {
            who.uid = static_cast<uid_t>(50000 + (i % 2));  // two users, shared by all threads
            Reservation reserve{4096};
            if (ac->admit_request(who, reserve).refusal != nullptr) {
                ++refused;
                continue;
            }
            ac->stream_ended(who, reserve,
                             TokenCharge{1, static_cast<std::uint64_t>(t + 1), (i % 3) == 0});
        }
    });
    CHECK(refused.load() == 0);
    ac->save();
    auto day = load_usage_state(o.state_file);
    REQUIRE(day);
    std::uint64_t requests = 0, in = 0, out = 0, estimated = 0;
    for (const auto& [uid, periods] : day->users) {
        const UsageCounters& c = periods[BudgetPeriod::Day].counters;
        requests += c.requests;
        in += c.tokens_in;
        out += c.tokens_out;
        estimated += c.tokens_estimated;
    }
    CHECK(requests == kThreads * kPerThread);
    CHECK(in == kThreads * kPerThread);
    CHECK(out == kPerThread * (1 + 2 + 3 + 4));
    // every third stream of each thread was estimated: (1 + t + 1) tokens each
    const std::uint64_t thirds = (kPerThread + 2) / 3;
    CHECK(estimated == thirds * (2 + 3 + 4 + 5));
    ac.reset();
    std::filesystem::remove_all(dir);
}

TEST_CASE("threads: audit lines from several threads are whole lines, none lost") {
    const std::string dir = temp_dir();
    const std::string path = dir + "/audit.jsonl";
    {
        AuditLog log;
        REQUIRE(log.open(nullptr, path));  // no loop: each line is written at once
        in_threads([&](int t) {
            for (int i = 0; i < 300; ++i) {
                AuditRecord r;
                r.uid_known = true;
                r.uid = static_cast<uid_t>(t);
                r.method = "POST";
                r.path = "/v1/responses";
                r.status = 200;
                r.outcome = "completed";
                r.request_id = "req_" + std::to_string(t) + "_" + std::to_string(i);
                log.write(r);
            }
        });
    }
    std::ifstream in(path);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        ++lines;
        CAPTURE(line);
        CHECK(line.front() == '{');
        CHECK(line.back() == '}');
        CHECK(line.find("\"request_id\":\"req_") != std::string::npos);
    }
    CHECK(lines == kThreads * 300);
    std::filesystem::remove_all(dir);
}

TEST_CASE("threads: the credential is replaced while other threads reference it") {
    const long before = Credential::live_pages();
    Credential credential(page_with("Bearer sk-test-aaaaaaaaaaaaaaaa"));
    std::atomic<bool> done{false};
    std::atomic<long> bad{0}, appended{0};
    std::thread renewer([&] {
        for (int i = 0; i < 300; ++i) {
            const char c = static_cast<char>('a' + i % 26);
            credential.replace(page_with("Bearer sk-test-" + std::string(16, c)));
        }
        done = true;
    });
    in_threads([&](int) {
        while (!done.load()) {
            EvBufferPtr out(evbuffer_new());
            if (!credential.append_to(out.get())) continue;
            const std::size_t n = evbuffer_get_length(out.get());
            std::string value(n, '\0');
            evbuffer_copyout(out.get(), value.data(), n);
            // One whole value, one letter repeated: never a torn or freed page.
            const std::string tail = value.substr(value.size() - 16);
            if (value.rfind("Bearer sk-test-", 0) != 0 || tail != std::string(16, tail[0])) ++bad;
            ++appended;
        }
    });
    renewer.join();
    CHECK(bad.load() == 0);
    CHECK(appended.load() > 0);
    CHECK(Credential::live_pages() ==
          before + 1);  // the replaced pages went with their last reader
}
