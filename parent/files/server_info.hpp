#pragma once

#include <string>

#include "common/result.hpp"

namespace proxy {

// --server-info: {"port":N,"pid":P} and a newline, written to a temporary
// file with an unpredictable name (parent/files/atomic_file.hpp) and renamed into
// place, so readers never see a partial file. Mode 0644:
// unprivileged users read it to find the port.
Result<void> write_server_info(const std::string& path, unsigned port, long pid);

}  // namespace proxy
