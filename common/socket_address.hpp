#pragma once

#include <cstdint>

namespace proxy {

// The local port a socket is bound to (IPv4 or IPv6), or 0.
std::uint16_t local_port(int fd);

}  // namespace proxy
