// On lease: one SET batch that gives the server the client's session parameters, before any client byte.
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/proxy/client_login.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

asio::awaitable<bool> pooled_session::sync_parameters() {
  std::string batch = session::build_set_batch(params_, server_->params, pool_->defaults());
  // The client's own SQL SETs (search_path and the like), and RESETs of what an earlier client left.
  const std::string replay = settings_.replay_from(server_->settings);
  if (!replay.empty()) batch += batch.empty() ? replay : "; " + replay;
  if (batch.empty()) co_return true;
  server_->statements.set_unnamed(session::server_statements::no_unnamed);  // a simple Query drops it
  server_->settings = settings_;
  log::trace(log::conn_ids{id_, server_->id}, "parameter sync: {}", batch);
  // Record the values first: settings PostgreSQL does not report would otherwise look unset, and
  // the ParameterStatus replies below overwrite reported ones with the server's spelling.
  for (const auto& [name, value] : params_) server_->params.set(name, value);
  for (auto it = server_->params.begin(); it != server_->params.end();) {
    const auto& name = it->first;
    if (params_.find(name) == nullptr && !session::is_tracked_parameter(name) && pool_->defaults().find(name) == nullptr) {
      const std::string doomed = name;
      server_->params.erase(doomed);
      it = server_->params.begin();
      continue;
    }
    ++it;
  }
  for (const auto& [name, value] : pool_->defaults())
    if (session::is_tracked_parameter(name) && params_.find(name) == nullptr) server_->params.set(name, value);

  std::string query;
  protocol::encode_query(query, batch);
  if (co_await net::write_all(server_->stream, query)) {
    server_broken_ = true;
    co_await send_error(client_, {"FATAL", "08006", "server closed the connection unexpectedly"});
    end(close_reason::server_lost);
    co_return false;
  }
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, context_.settings()->max_message_size);
  std::string buffer;
  std::string to_client;  // ParameterStatus replies: the client learns the server's spelling
  std::string failure;
  for (;;) {
    protocol::frame msg;
    if (co_await net::read_message(server_->stream, reader, buffer, msg)) {
      server_broken_ = true;
      co_await send_error(client_, {"FATAL", "08006", "server closed the connection unexpectedly"});
      end(close_reason::server_lost);
      co_return false;
    }
    if (msg.tag == 'S') {
      protocol::parameter_status ps;
      if (!protocol::decode_parameter_status(msg.body, ps)) {
        server_->params.set(ps.name, ps.value);
        if (session::is_tracked_parameter(ps.name)) params_.set(ps.name, ps.value);
        to_client.append(buffer);
      }
    } else if (msg.tag == 'E') {
      protocol::error_fields fields;
      protocol::decode_error_response(msg.body, fields);
      failure = fmt::format("{} (SQLSTATE {})", fields.message, fields.code);
    } else if (msg.tag == 'Z') {
      break;
    }
  }
  if (!failure.empty()) {
    // A startup parameter the server refuses: PostgreSQL would have refused the login.
    log::warn(log::conn_ids{id_, server_->id}, "session parameters rejected by the server: {}", failure);
    server_broken_ = true;  // its settings are now unknown
    const std::string message = fmt::format("invalid session parameter: {}", failure);
    co_await send_error(client_, {"FATAL", "22023", message});
    end(close_reason::login_failed);
    co_return false;
  }
  if (!to_client.empty() && co_await write_client(to_client)) {
    client_gone_ = true;
  }
  co_return true;
}

}  // namespace pgfunnel::proxy
