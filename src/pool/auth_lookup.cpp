// auth_query on a server connection: Parse/Bind/Execute/Sync with the user name as $1, and the secret it returns.
#include "pgfunnel/pool/auth_lookup.hpp"

#include <openssl/crypto.h>

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/protocol/encode.hpp"

namespace pgfunnel::pool {

namespace {

using net::error_code;

// The secret is column 1 of auth_query's row (usename, passwd), or column 0 of a one-column row.
// False when the row is malformed.
bool secret_of_row(protocol::byte_span body, std::optional<std::string>& secret) {
  protocol::data_row_column first;
  if (protocol::decode_data_row_column(body, 0, first)) return false;
  protocol::data_row_column wanted;
  if (protocol::decode_data_row_column(body, first.columns >= 2 ? 1 : 0, wanted)) return false;
  if (wanted.value)
    secret.emplace(reinterpret_cast<const char*>(wanted.value->data()), wanted.value->size());
  else
    secret.reset();
  return true;
}

}  // namespace

net::awaitable<error_code> run_lookup_query(server_connection& server, std::string_view sql, std::string_view parameter,
                                            std::uint32_t max_message, lookup_answer& answer) {
  // This Parse of "" replaces the server's unnamed statement, whichever client's it was.
  server.statements.set_unnamed(session::server_statements::unknown_unnamed);
  std::string out;
  protocol::encode_parse(out, "", sql, {}, 0);  // no types given: PostgreSQL infers $1's
  protocol::message_builder(out, 'B')
      .cstring("")  // unnamed portal
      .cstring("")  // unnamed statement
      .i16(0)       // every parameter in text format
      .i16(1)
      .i32(static_cast<std::int32_t>(parameter.size()))
      .raw(parameter)
      .i16(0);  // every result column in text format
  protocol::message_builder(out, 'E').cstring("").i32(0);
  protocol::encode_sync(out);
  if (auto ec = co_await net::write_all(server.stream, out)) co_return ec;

  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, max_message);
  std::string buffer;
  // The buffer held a secret: leave no copy of it in freed memory.
  struct wiper {
    std::string& b;
    ~wiper() { OPENSSL_cleanse(b.data(), b.size()); }
  } wipe{buffer};
  for (;;) {
    protocol::frame msg;
    if (auto ec = co_await net::read_message(server.stream, reader, buffer, msg)) co_return ec;
    switch (msg.tag) {
      case 'D':
        if (!answer.have_row) {
          if (!secret_of_row(msg.body, answer.secret))
            co_return error_code(make_error_code(boost::system::errc::protocol_error));
          answer.have_row = true;
        }
        break;
      case 'E': {
        protocol::error_fields fields;
        protocol::decode_error_response(msg.body, fields);
        answer.error.sqlstate = fields.code.empty() ? "XX000" : std::string(fields.code);
        answer.error.message = std::string(fields.message);
        answer.error.detail = std::string(fields.detail);
        break;
      }
      case 'S': {
        protocol::parameter_status ps;
        if (!protocol::decode_parameter_status(msg.body, ps)) server.params.set(ps.name, ps.value);
        break;
      }
      case 'Z': {
        protocol::transaction_status status;
        // A lookup that leaves a transaction open (a function that ran BEGIN?) taints the server.
        if (protocol::decode_ready_for_query(msg.body, status) || status != protocol::transaction_status::idle)
          co_return error_code(make_error_code(boost::system::errc::protocol_error));
        co_return error_code{};
      }
      default:
        break;  // ParseComplete, BindComplete, CommandComplete, NoticeResponse, ...
    }
  }
}

}  // namespace pgfunnel::pool
