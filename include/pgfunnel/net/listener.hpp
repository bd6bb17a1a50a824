// Accept loops: one per listening address, each accepted socket handed to a session on its own strand.
#pragma once

#include <functional>
#include <string>

#include "pgfunnel/config/config.hpp"
#include "pgfunnel/net/asio.hpp"

namespace pgfunnel::net {

using session_starter = std::function<void(tcp::socket)>;

// Binds (SO_REUSEADDR) and listens; throws boost::system::system_error with the address on failure.
tcp::acceptor open_listener(asio::io_context& io, const config::listen_address& address);

// Accepts until the acceptor is closed. With several worker threads each socket gets a strand of
// its own, so the session that owns it runs serialised; with one thread the io_context itself
// serialises everything and a strand would only cost memory per idle client.
awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::io_context& io, session_starter start, std::string name,
                            bool strand_per_session);

}  // namespace pgfunnel::net
