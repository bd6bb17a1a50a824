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

// Reads startup-phase packets until a StartupMessage or CancelRequest. With client TLS on, an
// SSLRequest is answered 'S' and a direct-TLS connection (PostgreSQL 17, ALPN "postgresql") is
// accepted, both handshaking on `socket`; otherwise 'N', as PostgreSQL without TLS. GSSENCRequest
// gets 'N'. With client_tls require or stricter, a plaintext StartupMessage gets a FATAL error
// and asio::error::access_denied comes back (the error has been sent).
net::awaitable<net::error_code> read_client_startup(net::stream& socket, client_startup& out,
                                                    const proxy_context& context, log::conn_id id);

// Writes an ErrorResponse (severity FATAL unless given) and nothing else.
net::awaitable<void> send_error(net::stream& socket, const protocol::error_message& error);

// Runs the authentication exchange configured for the pooled listener. On failure the client has
// been sent PostgreSQL's own error (28P01 for a wrong password or an unknown user, counted against
// its address; 28000 when its address is over auth_failure_limit) and false is returned; on success
// nothing has been sent after the last SASL message (AuthenticationOk is the caller's, with the
// welcome). A verifier-only user's proved ClientKey goes to context.scram_keys. A user not
// configured is looked up with auth_query (in `database`) when auth_user is set.
net::awaitable<bool> authenticate_client(net::stream& socket, proxy_context& context, std::string_view user,
                                         std::string_view database, bool loopback_listener, log::conn_id id);
// The same without auth_query: only users pgfunnel is configured with (the direct listener's case).
net::awaitable<bool> authenticate_client(net::stream& socket, proxy_context& context, std::string_view user,
                                         bool loopback_listener, log::conn_id id);

// client_tls verify-full and auth_type cert: the TLS client certificate's CN must be the user name.
// On failure the client has been sent a 28000 error and false is returned.
net::awaitable<bool> check_client_certificate(net::stream& socket, proxy_context& context, std::string_view user,
                                              log::conn_id id);

// Handles a CancelRequest packet: forwards it to the server the matching client holds, if any.
net::awaitable<void> handle_cancel_request(proxy_context& context, const protocol::startup_packet& request,
                                           log::conn_id id);

}  // namespace pgfunnel::proxy
