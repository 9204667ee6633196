#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#include "parent/systemd.hpp"

namespace {

// Sets (or unsets) one environment variable for a test and puts the old
// value back afterwards, so tests do not leak state into each other.
class EnvVar {
  public:
    EnvVar(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value != nullptr) {
            ::setenv(name, value, 1);
        } else {
            ::unsetenv(name);
        }
    }
    ~EnvVar() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    EnvVar(const EnvVar&) = delete;
    EnvVar& operator=(const EnvVar&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

// Runs `body` in a child process and returns its exit status. The
// socket-activation tests need fds 3 and 4 to be exactly what they say, which
// the test runner's own fds must not be disturbed for.
int in_child(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// Puts an open socket at `fd` without FD_CLOEXEC, as systemd leaves it.
bool place_socket_at(int fd) {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return false;
    if (s == fd) return true;
    bool ok = ::dup2(s, fd) == fd;
    ::close(s);
    return ok;
}

bool listen_env_cleared() {
    return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
           std::getenv("LISTEN_FDNAMES") == nullptr;
}

struct Receiver {
    int fd = -1;
    std::string path;  // empty for an abstract socket
    ~Receiver() {
        if (fd >= 0) ::close(fd);
        if (!path.empty()) ::unlink(path.c_str());
    }
    std::string receive() const {
        char buf[512];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<size_t>(n));
    }
};

void bind_receiver(Receiver& r, const std::string& sun_path, socklen_t len) {
    r.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(r.fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, sun_path.data(), sun_path.size());
    REQUIRE(::bind(r.fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
}

std::string temp_socket_path() {
    char dir[] = "/tmp/proxy-systemd-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    return std::string(dir) + "/notify";
}

}  // namespace

TEST_CASE("systemd_listen_fds takes fds 3.. when LISTEN_PID is ours") {
    int status = in_child([] {
        if (!place_socket_at(3) || !place_socket_at(4)) return 10;
        std::string pid = std::to_string(::getpid());
        ::setenv("LISTEN_PID", pid.c_str(), 1);
        ::setenv("LISTEN_FDS", "2", 1);
        ::setenv("LISTEN_FDNAMES", "http:http", 1);
        auto fds = proxy::systemd_listen_fds();
        if (fds != std::vector<int>{3, 4}) return 11;
        for (int fd : fds) {
            if ((::fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) return 12;
            if ((::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0) return 15;
        }
        if (!listen_env_cleared()) return 13;
        // A second call finds nothing: the environment is gone.
        if (!proxy::systemd_listen_fds().empty()) return 14;
        return 0;
    });
    CHECK(status == 0);
}

TEST_CASE("systemd_listen_fds ignores fds meant for another process") {
    int status = in_child([] {
        if (!place_socket_at(3)) return 10;
        std::string other = std::to_string(::getpid() + 1);
        ::setenv("LISTEN_PID", other.c_str(), 1);
        ::setenv("LISTEN_FDS", "1", 1);
        if (!proxy::systemd_listen_fds().empty()) return 11;
        // Still unset, so our own children cannot mistake them either.
        if (!listen_env_cleared()) return 12;
        return 0;
    });
    CHECK(status == 0);
}

TEST_CASE("systemd_listen_fds without socket activation") {
    int status = in_child([] {
        ::unsetenv("LISTEN_PID");
        ::unsetenv("LISTEN_FDS");
        if (!proxy::systemd_listen_fds().empty()) return 11;
        std::string pid = std::to_string(::getpid());
        ::setenv("LISTEN_PID", pid.c_str(), 1);  // LISTEN_FDS missing
        if (!proxy::systemd_listen_fds().empty()) return 12;
        return 0;
    });
    CHECK(status == 0);
}

TEST_CASE("systemd_listen_fds refuses malformed or lying variables") {
    for (const char* fds_value : {"0", "-1", "2x", "", " 1", "+1", "99999999999999999999"}) {
        CAPTURE(fds_value);
        int status = in_child([fds_value] {
            if (!place_socket_at(3)) return 10;
            std::string pid = std::to_string(::getpid());
            ::setenv("LISTEN_PID", pid.c_str(), 1);
            ::setenv("LISTEN_FDS", fds_value, 1);
            if (!proxy::systemd_listen_fds().empty()) return 11;
            return listen_env_cleared() ? 0 : 12;
        });
        CHECK(status == 0);
    }
}

TEST_CASE("systemd_listen_fds refuses a malformed LISTEN_PID or a missing fd") {
    SUBCASE("malformed LISTEN_PID") {
        int status = in_child([] {
            if (!place_socket_at(3)) return 10;
            std::string pid = std::to_string(::getpid()) + "x";
            ::setenv("LISTEN_PID", pid.c_str(), 1);
            ::setenv("LISTEN_FDS", "1", 1);
            return proxy::systemd_listen_fds().empty() ? 0 : 11;
        });
        CHECK(status == 0);
    }
    SUBCASE("an fd that is not open") {
        int status = in_child([] {
            if (!place_socket_at(3)) return 10;
            ::close(4);
            std::string pid = std::to_string(::getpid());
            ::setenv("LISTEN_PID", pid.c_str(), 1);
            ::setenv("LISTEN_FDS", "2", 1);
            return proxy::systemd_listen_fds().empty() ? 0 : 11;
        });
        CHECK(status == 0);
    }
}

TEST_CASE("systemd_notify without NOTIFY_SOCKET is a no-op") {
    EnvVar unset("NOTIFY_SOCKET", nullptr);
    CHECK_FALSE(proxy::systemd_notify("READY=1"));
}

TEST_CASE("systemd_notify refuses unusable NOTIFY_SOCKET values") {
    for (const char* value : {"", "relative/path", "@", "/", "vsock:2:1234"}) {
        CAPTURE(value);
        EnvVar env("NOTIFY_SOCKET", value);
        CHECK_FALSE(proxy::systemd_notify("READY=1"));
    }
    std::string too_long = "/" + std::string(sizeof(sockaddr_un::sun_path), 'a');
    EnvVar env("NOTIFY_SOCKET", too_long.c_str());
    CHECK_FALSE(proxy::systemd_notify("READY=1"));
}

TEST_CASE("systemd_notify sends one datagram to a path socket") {
    Receiver r;
    r.path = temp_socket_path();
    bind_receiver(r, r.path, static_cast<socklen_t>(sizeof(sockaddr_un)));
    EnvVar env("NOTIFY_SOCKET", r.path.c_str());

    std::string ready = "READY=1\nMAINPID=" + std::to_string(::getpid());
    CHECK(proxy::systemd_notify(ready));
    CHECK(r.receive() == ready);
    CHECK(proxy::systemd_notify("STOPPING=1"));
    CHECK(r.receive() == "STOPPING=1");
    CHECK_FALSE(proxy::systemd_notify(""));
    CHECK(r.receive() == "<nothing>");
    // The variable stays: STOPPING=1 and RELOADING=1 need it later.
    CHECK(std::getenv("NOTIFY_SOCKET") != nullptr);

    std::string dir = r.path.substr(0, r.path.rfind('/'));
    ::unlink(r.path.c_str());
    r.path.clear();
    ::rmdir(dir.c_str());
    // Nobody listening any more: reported, not fatal.
    CHECK_FALSE(proxy::systemd_notify("READY=1"));
}

TEST_CASE("systemd_notify reaches an abstract socket named with '@'") {
    std::string name = "proxy-systemd-test-" + std::to_string(::getpid());
    std::string sun_path = std::string(1, '\0') + name;
    Receiver r;
    bind_receiver(r, sun_path,
                  static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sun_path.size()));
    std::string env_value = "@" + name;
    EnvVar env("NOTIFY_SOCKET", env_value.c_str());

    std::string state = proxy::systemd_reloading_state();
    CHECK(proxy::systemd_notify(state));
    CHECK(r.receive() == state);

    SUBCASE("through the socket opened in advance") {
        CHECK(proxy::systemd_notify_prepare());
        CHECK(proxy::systemd_notify_prepare());  // idempotent
        CHECK(proxy::systemd_notify("READY=1"));
        CHECK(r.receive() == "READY=1");
    }
}

TEST_CASE("systemd_notify_prepare without NOTIFY_SOCKET") {
    int status = in_child([] {
        ::unsetenv("NOTIFY_SOCKET");
        return proxy::systemd_notify_prepare() ? 11 : 0;
    });
    CHECK(status == 0);
}

TEST_CASE("systemd_reloading_state carries a monotonic timestamp") {
    std::string state = proxy::systemd_reloading_state();
    std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    REQUIRE(state.rfind(prefix, 0) == 0);
    std::string usec = state.substr(prefix.size());
    CHECK_FALSE(usec.empty());
    CHECK(usec.find_first_not_of("0123456789") == std::string::npos);
}

TEST_CASE("systemd_watchdog_period_usec: half of WATCHDOG_USEC, for us only") {
    const std::string ours = std::to_string(::getpid());
    SUBCASE("no watchdog") {
        EnvVar usec("WATCHDOG_USEC", nullptr);
        EnvVar pid("WATCHDOG_PID", nullptr);
        CHECK(proxy::systemd_watchdog_period_usec() == 0);
    }
    SUBCASE("WatchdogSec=30s, no WATCHDOG_PID") {
        EnvVar usec("WATCHDOG_USEC", "30000000");
        EnvVar pid("WATCHDOG_PID", nullptr);
        CHECK(proxy::systemd_watchdog_period_usec() == 15000000);
    }
    SUBCASE("WATCHDOG_PID is ours") {
        EnvVar usec("WATCHDOG_USEC", "3000000");
        EnvVar pid("WATCHDOG_PID", ours.c_str());
        CHECK(proxy::systemd_watchdog_period_usec() == 1500000);
    }
    SUBCASE("a tiny interval still pings") {
        EnvVar usec("WATCHDOG_USEC", "1");
        EnvVar pid("WATCHDOG_PID", nullptr);
        CHECK(proxy::systemd_watchdog_period_usec() == 1);
    }
    SUBCASE("meant for another process, or not understood") {
        for (const char* other_pid : {"1", "", "12x", "-5"}) {
            EnvVar usec("WATCHDOG_USEC", "3000000");
            EnvVar pid("WATCHDOG_PID", other_pid);
            CHECK_MESSAGE(proxy::systemd_watchdog_period_usec() == 0, other_pid);
        }
        for (const char* bad_usec : {"0", "-1", "", "1s", " 5", "99999999999999999999999"}) {
            EnvVar usec("WATCHDOG_USEC", bad_usec);
            EnvVar pid("WATCHDOG_PID", nullptr);
            CHECK_MESSAGE(proxy::systemd_watchdog_period_usec() == 0, bad_usec);
        }
    }
}

TEST_CASE("systemd_credential_path") {
    SUBCASE("no CREDENTIALS_DIRECTORY") {
        EnvVar env("CREDENTIALS_DIRECTORY", nullptr);
        CHECK(proxy::systemd_credential_path("openai-api-key").empty());
    }
    SUBCASE("a credential directory") {
        EnvVar env("CREDENTIALS_DIRECTORY", "/run/credentials/proxy.service");
        CHECK(proxy::systemd_credential_path("openai-api-key") ==
              "/run/credentials/proxy.service/openai-api-key");
        CHECK(proxy::systemd_credential_path("").empty());
        CHECK(proxy::systemd_credential_path("..").empty());
        CHECK(proxy::systemd_credential_path(".").empty());
        CHECK(proxy::systemd_credential_path("../etc/shadow").empty());
        CHECK(proxy::systemd_credential_path(std::string_view("a\0b", 3)).empty());
    }
    SUBCASE("a trailing slash") {
        EnvVar env("CREDENTIALS_DIRECTORY", "/run/credentials/x/");
        CHECK(proxy::systemd_credential_path("k") == "/run/credentials/x/k");
    }
    SUBCASE("a relative directory is not trusted") {
        EnvVar env("CREDENTIALS_DIRECTORY", "credentials");
        CHECK(proxy::systemd_credential_path("k").empty());
    }
}
