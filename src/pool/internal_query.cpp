// Queries pgfunnel itself runs on a server between clients (checks, advisory-lock counts, unlocks).
#include "pgfunnel/pool/internal_query.hpp"

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/encode.hpp"

namespace pgfunnel::pool {

namespace asio = net::asio;

asio::awaitable<bool> internal_query(pool::server_connection &server, std::string_view sql, std::uint32_t max_message,
                                     std::string &first_value, std::string &error) {
  // A simple Query drops the server's unnamed statement, whichever client's it was.
  server.statements.set_unnamed(session::server_statements::no_unnamed);
  std::string query;
  protocol::encode_query(query, sql);
  if (co_await net::write_all(server.stream, query)) co_return false;
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, max_message);
  std::string buffer;
  bool have_row = false;
  for (;;) {
    protocol::frame msg;
    if (co_await net::read_message(server.stream, reader, buffer, msg)) co_return false;
    if (msg.tag == 'D' && !have_row) {
      // DataRow: int16 column count, then int32 length + bytes per column.
      const auto &b = msg.body;
      if (b.size() >= 6) {
        const std::int32_t len = static_cast<std::int32_t>((std::uint32_t(b[2]) << 24) | (std::uint32_t(b[3]) << 16) |
                                                           (std::uint32_t(b[4]) << 8) | std::uint32_t(b[5]));
        if (len >= 0 && static_cast<std::size_t>(len) <= b.size() - 6)
          first_value.assign(reinterpret_cast<const char *>(b.data()) + 6, static_cast<std::size_t>(len));
      }
      have_row = true;
    } else if (msg.tag == 'E') {
      protocol::error_fields fields;
      protocol::decode_error_response(msg.body, fields);
      error = fmt::format("{} (SQLSTATE {})", fields.message, fields.code);
    } else if (msg.tag == 'S') {
      protocol::parameter_status ps;
      if (!protocol::decode_parameter_status(msg.body, ps)) server.params.set(ps.name, ps.value);
    } else if (msg.tag == 'Z') {
      protocol::transaction_status status;
      // Anything but idle means the query left state behind: not a server to
      // reuse.
      co_return !protocol::decode_ready_for_query(msg.body, status) && status == protocol::transaction_status::idle;
    }
  }
}

}  // namespace pgfunnel::pool
