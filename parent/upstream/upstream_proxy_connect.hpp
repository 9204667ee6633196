// The HTTP CONNECT exchange that opens a tunnel to the upstream through a
// proxy: UpstreamTransport's Tunneling state (defined in the .cpp) and the
// parser of the proxy's answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace proxy {

struct ConnectAnswer {
    int status = 0;
    std::string reason;  // printable ASCII only, shortened: it goes to the log
};

// The status line of a proxy's answer head (which ends with CRLF CRLF);
// nullopt when it is not HTTP/1.x with a three-digit status.
std::optional<ConnectAnswer> parse_connect_answer(std::string_view head);

}  // namespace proxy
