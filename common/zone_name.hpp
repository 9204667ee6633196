// Time zone names as the tz database spells them, checked without reading
// it: what the command line (--budget-timezone) and the policy's reader
// (policy/time_zone.hpp) both accept.
#pragma once

#include <string_view>

namespace proxy {

// "Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires": components of
// letters, digits, '.', '_', '+' and '-', no "." or ".." component, not
// absolute. Whether the zone exists is load_time_zone()'s question.
bool valid_zone_name(std::string_view name);

}  // namespace proxy
