// Queries pgfunnel itself runs on a server between clients (checks, advisory-lock counts, unlocks).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/pool/server_connection.hpp"

namespace pgfunnel::pool {

// Runs `sql` as a simple Query. `first_value` gets the first column of the first row; `error` the
// server's error message. False when the connection failed or was left inside a transaction: it
// cannot be reused.
net::awaitable<bool> internal_query(server_connection& server, std::string_view sql, std::uint32_t max_message,
                                    std::string& first_value, std::string& error);

}  // namespace pgfunnel::pool
