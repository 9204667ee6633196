// The listening socket: handed over by systemd, or bound on 127.0.0.1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

struct Listener {
    UniqueFd fd;
    std::uint16_t port = 0;
    bool from_systemd = false;
};

Result<Listener> open_listener(std::optional<std::uint16_t> port);

}  // namespace proxy
