// The pieces of the systemd service protocol the parent uses, without
// libsystemd: socket activation (sd_listen_fds), readiness notification
// (sd_notify), the watchdog (sd_watchdog_enabled) and credentials
// (LoadCredential=). Each is a no-op outside systemd, so the same binary runs
// by hand and as a unit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proxy {

// First fd systemd hands over (SD_LISTEN_FDS_START).
inline constexpr int systemd_listen_fds_start = 3;

// Sockets passed by socket activation: if LISTEN_PID is our pid and LISTEN_FDS
// is n > 0, returns fds 3 .. 3+n-1 with FD_CLOEXEC and O_NONBLOCK set;
// otherwise (or if a variable is malformed or an fd is not open) an empty
// vector. O_NONBLOCK because systemd passes blocking sockets, and a blocking
// accept(2) in an event loop stalls a worker whenever another worker took the
// connection first. Like sd_listen_fds(1) it always unsets LISTEN_PID,
// LISTEN_FDS and LISTEN_FDNAMES, so that nothing we start takes the fds for
// its own. Call once, before anything that closes stray fds.
std::vector<int> systemd_listen_fds();

// Sends `state` ("READY=1\nMAINPID=123", "STOPPING=1", ...) as one datagram to
// $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
// Returns false without NOTIFY_SOCKET or if the datagram could not be sent;
// callers ignore that outside systemd. NOTIFY_SOCKET is left set because
// STOPPING=1 and RELOADING=1 come later.
bool systemd_notify(std::string_view state);

// Opens the datagram socket systemd_notify() uses, now, so that later
// notifications need only sendto(2) and the parent's seccomp allowlist need not
// permit socket(AF_UNIX, SOCK_DGRAM). Optional; a no-op without NOTIFY_SOCKET.
// Returns whether the socket is open.
bool systemd_notify_prepare();

// "RELOADING=1\nMONOTONIC_USEC=<now>": systemd >= 253 wants the timestamp with
// RELOADING=1 to tell this reload from an earlier one; older ones ignore it.
// Send READY=1 when the reload is done.
std::string systemd_reloading_state();

// How often to send "WATCHDOG=1" when the unit has WatchdogSec=: half of
// $WATCHDOG_USEC (as sd_watchdog_enabled(3) advises), if that is a positive
// decimal and $WATCHDOG_PID is unset or our pid; 0 (no watchdog) otherwise.
std::uint64_t systemd_watchdog_period_usec();

// Path of credential `name` loaded with LoadCredential=/SetCredential=:
// $CREDENTIALS_DIRECTORY/name, or empty if that variable is unset or not
// absolute, or `name` is not a plain file name.
std::string systemd_credential_path(std::string_view name);

}  // namespace proxy
