// Test support: instants from civil UTC times, and a loaded time zone.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "policy/time_zone.hpp"

namespace proxy::test {

// Unix seconds of y-m-d hh:mm:ss UTC.
inline std::int64_t utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
    using namespace std::chrono;
    return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count() * 86400 + hh * 3600 +
           mm * 60 + ss;
}

// The zone `name` from the system's zoneinfo; the test fails if it cannot load.
inline std::shared_ptr<const TimeZone> zone(const char* name) {
    auto loaded = load_time_zone(name);
    if (auto* error = std::get_if<std::string>(&loaded)) FAIL(*error);
    return std::get<std::shared_ptr<const TimeZone>>(loaded);
}

}  // namespace proxy::test
