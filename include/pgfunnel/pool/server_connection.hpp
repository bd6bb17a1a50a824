// One logged-in connection to PostgreSQL and what the pooler knows about it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/net/stream.hpp"
#include "pgfunnel/net/tls.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/session/parameters.hpp"
#include "pgfunnel/session/prepared_statements.hpp"
#include "pgfunnel/session/session_settings.hpp"

namespace pgfunnel::pool {

// Where and as whom a pool's servers log in.
struct server_login {
  std::string host;
  std::uint16_t port = 5432;
  std::string user;
  std::string password;  // empty: the server must not ask for one (unless scram_keys has keys)
  std::string database;
  std::string sslmode = "prefer";
  net::tls_context tls;             // from the upstream URL (sslrootcert, sslcert); null for sslmode=disable
  std::string channel_binding = "prefer";  // the URL's channel_binding: disable, prefer, require
  std::string options;              // the URL's options (e.g. "endpoint=ep-cool-name-123"), sent as is
  // More startup parameters (the direct listener passes a client's own: application_name, options,
  // DateStyle...). A client's options replace the URL's.
  std::vector<std::pair<std::string, std::string>> extra_startup;
  // SCRAM key passthrough, used when `password` is empty: the keys a client proved for this user.
  // A function, not a value, so each connect sees keys recorded after the pool was created and
  // stops using keys whose verifier a reload replaced. Empty function or nullopt: no keys. Last, so
  // positional initializers of the fields above still work.
  std::function<std::optional<auth::scram_client_keys>()> scram_keys;
};

// Why a login failed: the server's own ErrorResponse (sqlstate set) or our description of a
// network/protocol failure (sqlstate "08006").
struct server_error {
  std::string sqlstate;
  std::string message;
  std::string detail;
};

class server_connection {
 public:
  server_connection(net::asio::any_io_executor executor, std::uint64_t id, std::size_t max_prepared_statements)
      : stream(executor), id(log::server_id(id)), statements(max_prepared_statements) {}

  net::stream stream;  // plaintext or TLS, as the upstream sslmode and the server decided
  log::conn_id id;
  protocol::backend_key_data key{};      // the real key, for forwarding cancels
  net::tcp::endpoint peer;               // where a cancel for this server goes
  session::parameter_set params;         // current values: reported by the server or SET by us
  std::string tls;                       // "TLSv1.3/TLS_AES_256_GCM_SHA384" once logged in over TLS; fixed after
  net::clock::time_point created{};
  net::clock::time_point last_used{};
  std::uint64_t transactions = 0;        // leases served
  session::server_statements statements; // pgfunnel's named prepared statements it holds
  session::session_settings settings;    // SQL-level SETs replayed on it (what it differs from a fresh login by)
};

// A fresh number for a server connection's id ("s42"), unique across pools and the direct listener.
std::uint64_t next_server_number();

// On a connected socket: SSLRequest and the TLS handshake as login.sslmode asks (nothing for
// disable/allow; 'N' is accepted for prefer). SNI carries the host name, never an IP literal (RFC
// 6066); verify-full also checks that the certificate names the host.
net::awaitable<net::error_code> negotiate_upstream_tls(net::stream& stream, const server_login& login,
                                                       server_error& error);

// Connects and logs in (cleartext, md5 or SCRAM-SHA-256 as the server asks; SCRAM also with
// passthrough keys instead of a password). On failure `error` says why in words a client can be shown.
net::awaitable<net::error_code> connect_and_login(server_connection& server, const server_login& login,
                                                   server_error& error);

}  // namespace pgfunnel::pool
