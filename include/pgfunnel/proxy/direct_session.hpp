// A client of the direct listener: its own server connection for the whole session, bytes passed through.
#pragma once

#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::proxy {

// Reads the client's startup packet, opens a new upstream connection, passes the packet on and
// relays both directions untouched until either side closes. PostgreSQL runs the authentication
// itself, so every session feature (SET, LISTEN, advisory locks, temp tables) is the server's own.
net::awaitable<void> run_direct_session(net::tcp::socket client, std::shared_ptr<proxy_context> context_owner);

}  // namespace pgfunnel::proxy
