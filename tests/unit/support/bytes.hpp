// Test support: a string's bytes as the span the IPC codecs take.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace proxy::test {

inline std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace proxy::test
