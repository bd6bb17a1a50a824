// auth_query on a server connection: one parameterised lookup through the extended protocol.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/pool/server_connection.hpp"

namespace pgfunnel::pool {

// What a lookup returned: the first row's secret column, or the server's error.
struct lookup_answer {
  bool have_row = false;
  // The second column of the first row (PgBouncer's `usename, passwd` shape), or the only column
  // of a one-column result; nullopt for SQL NULL or no row.
  std::optional<std::string> secret;
  server_error error;  // sqlstate set when the server answered with an ErrorResponse
};

// Runs `sql` with `parameter` bound as $1 (text) through Parse/Bind/Execute/Sync: the value never
// becomes part of the SQL text, so no user name can change what the query does. An SQL error is
// returned in `answer.error` with a usable connection; a returned error_code means the connection
// is not reusable (network or protocol failure, or the query left a transaction open).
net::awaitable<net::error_code> run_lookup_query(server_connection& server, std::string_view sql,
                                                 std::string_view parameter, std::uint32_t max_message,
                                                 lookup_answer& answer);

}  // namespace pgfunnel::pool
