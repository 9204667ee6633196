// The parent tries the addresses the upstream's name resolves to in order: one
// that refuses the connection is passed over for the next
// (UpstreamTransport::try_next_address in parent/upstream/upstream_transport_setup.cpp).
// The name resolves through a hosts file of the test's own, no name server
// involved; the rig is the hostile-worker one, here with a well-behaved worker.
#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/unit/parent/workers/hostile_worker_rig.hpp"

using namespace proxy;
using namespace hostile_worker;

namespace {

constexpr char kName[] = "upstream.fallback.test";

// A hosts file holding `text`, removed at the end of the test.
struct HostsFile {
    std::string path;
    explicit HostsFile(const std::string& text) {
        char name[] = "/tmp/proxy-test-hosts-XXXXXX";
        const int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        path = name;
        const bool written = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
        ::close(fd);
        REQUIRE(written);
    }
    ~HostsFile() { ::unlink(path.c_str()); }
};

// What `name` resolves to through the rig's resolver, asked as the transport
// asks, in the order the transport gets the addresses.
std::vector<std::string> resolve(Rig& rig, const char* name) {
    struct Answer {
        std::vector<std::string> addresses;
        bool done = false;
    } answer;
    evutil_addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    auto on_answer = [](int result, evutil_addrinfo* ai, void* arg) {
        auto* out = static_cast<Answer*>(arg);
        for (const evutil_addrinfo* a = ai; result == 0 && a != nullptr; a = a->ai_next) {
            char text[INET6_ADDRSTRLEN] = {};
            const void* addr = a->ai_family == AF_INET
                                   ? static_cast<const void*>(
                                         &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                   : static_cast<const void*>(
                                         &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
            ::inet_ntop(a->ai_family, addr, text, sizeof text);
            out->addresses.emplace_back(text);
        }
        if (ai != nullptr) evutil_freeaddrinfo(ai);
        out->done = true;
    };
    evdns_getaddrinfo(rig.dns.get(), name, "80", &hints, on_answer, &answer);
    for (int i = 0; i < 100 && !answer.done; ++i) event_base_loop(rig.base.get(), EVLOOP_ONCE);
    REQUIRE(answer.done);
    return answer.addresses;
}

void send_small_request(Rig& rig) {
    rig.send_open(1, codex_like_headers(), BodyFraming::Length, 2);
    rig.send(ipc::Type::ReqBody, 1, "{}");
    rig.send(ipc::Type::ReqEnd, 1);
}

}  // namespace

TEST_CASE("upstream fallback: an address that refuses is passed over for the next one") {
    // The stand-in listens on 127.0.0.1 only, so 127.0.0.2 refuses.
    HostsFile hosts(std::string("127.0.0.2 ") + kName + "\n127.0.0.1 " + kName + "\n");
    Rig rig(false, kName, hosts.path);
    // The case shows the fallback only if the refusing address comes first.
    REQUIRE(resolve(rig, kName) == std::vector<std::string>{"127.0.0.2", "127.0.0.1"});
    send_small_request(rig);
    rig.expect_served_once("{}");
    CHECK(rig.upstream.connections() == 1);
}

TEST_CASE("upstream fallback: when every address refuses, the stream gets an error, not a kill") {
    HostsFile hosts(std::string("127.0.0.2 ") + kName + "\n127.0.0.3 " + kName + "\n");
    Rig rig(false, kName, hosts.path);
    REQUIRE(resolve(rig, kName) == std::vector<std::string>{"127.0.0.2", "127.0.0.3"});
    send_small_request(rig);
    CHECK(rig.wait_message(ipc::Type::RespError, 1));
    CHECK_FALSE(rig.reaped);
    CHECK(rig.upstream.connections() == 0);
}
