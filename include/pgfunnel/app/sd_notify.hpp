// systemd's readiness protocol without libsystemd: one datagram of "KEY=VALUE\n" lines to $NOTIFY_SOCKET.
#pragma once

#include <string>
#include <string_view>

namespace pgfunnel::app {

// Sends `state` (e.g. "READY=1") to the socket $NOTIFY_SOCKET names. Not under systemd (no variable)
// is not an error: returns false and does nothing. A name starting with '@' is an abstract socket.
bool sd_notify(std::string_view state);

// Same, to a given socket name (tests, and a NOTIFY_SOCKET read once).
bool sd_notify_to(std::string_view socket_name, std::string_view state, std::string* error = nullptr);

// "RELOADING=1\nMONOTONIC_USEC=...": systemd 253+ wants the clock reading with RELOADING=1.
std::string reloading_state();

}  // namespace pgfunnel::app
