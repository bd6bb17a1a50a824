// A client's way in: the startup-phase packets and the authentication exchange pgfunnel runs itself.
#pragma once

#include <string>
#include <string_view>

#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::proxy {

// The StartupMessage or CancelRequest a client opened with. `parsed` views into `packet`, so this
// is filled in place and never moved.
struct client_startup {
  std::string packet;  // the whole packet, length included (the direct listener passes it on)
  protocol::startup_packet parsed;
  client_startup() = default;
  client_startup(const client_startup&) = delete;
  client_startup& operator=(const client_startup&) = delete;
};

// Reads startup-phase packets until a StartupMessage or CancelRequest, answering SSLRequest and
// GSSENCRequest with 'N' (no encryption) as PostgreSQL does when it has none.
net::awaitable<net::error_code> read_client_startup(net::tcp::socket& socket, client_startup& out);

// Writes an ErrorResponse (severity FATAL unless given) and nothing else.
net::awaitable<void> send_error(net::tcp::socket& socket, const protocol::error_message& error);

// Runs the authentication exchange configured for the pooled listener. On failure the client has
// been sent PostgreSQL's own error (28P01 for a wrong password or an unknown user) and false is
// returned; on success nothing has been sent after the last SASL message (AuthenticationOk is the
// caller's, with the welcome). A verifier-only user's proved ClientKey goes to context.scram_keys.
net::awaitable<bool> authenticate_client(net::tcp::socket& socket, proxy_context& context, std::string_view user,
                                         bool loopback_listener, log::conn_id id);

// Handles a CancelRequest packet: forwards it to the server the matching client holds, if any.
net::awaitable<void> handle_cancel_request(proxy_context& context, const protocol::startup_packet& request,
                                           log::conn_id id);

}  // namespace pgfunnel::proxy
