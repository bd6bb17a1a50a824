// On lease: one SET batch that gives the server the client's session parameters, before any client byte.
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"
#include "pgfunnel/proxy/client_login.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {
struct query_failure {
  std::string code;
  std::string message;
};
}  // namespace

// Sends `queries` as simple Queries at once and reads every reply: ParameterStatus is recorded
// (and queued for the client in `to_client`), each Query's error kept in `failures` (empty when it
// succeeded). False: the server connection failed.
static asio::awaitable<bool> run_sync_queries(pool::server_connection& server, std::uint32_t max_message_size,
                                              const std::vector<std::string>& queries,
                                              std::vector<query_failure>& failures, std::string& to_client,
                                              session::parameter_set& client_params) {
  std::string wire;
  for (const auto& q : queries) protocol::encode_query(wire, q);
  failures.assign(queries.size(), {});
  if (co_await net::write_all(server.stream, wire)) co_return false;
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, max_message_size);
  std::string buffer;
  for (std::size_t answered = 0; answered < queries.size();) {
    protocol::frame msg;
    if (co_await net::read_message(server.stream, reader, buffer, msg)) co_return false;
    if (msg.tag == 'S') {
      protocol::parameter_status ps;
      if (!protocol::decode_parameter_status(msg.body, ps)) {
        server.params.set(ps.name, ps.value);
        if (session::is_tracked_parameter(ps.name)) client_params.set(ps.name, ps.value);
        to_client.append(buffer);
      }
    } else if (msg.tag == 'E') {
      protocol::error_fields fields;
      protocol::decode_error_response(msg.body, fields);
      failures[answered] = {std::string(fields.code), std::string(fields.message)};
    } else if (msg.tag == 'Z') {
      ++answered;
    }
  }
  co_return true;
}

asio::awaitable<bool> pooled_session::sync_parameters() {
  // An earlier client's role and SETs go first (the parameters then run as the login user), then
  // the client's startup and reported parameters, then its own SQL SETs.
  const std::string resets = settings_.resets_from(server_->settings);
  std::string head = resets;
  const std::string params = session::build_set_batch(params_, server_->params, pool_->defaults());
  if (!params.empty()) head += head.empty() ? params : "; " + params;
  const std::string sets = settings_.sets_from(server_->settings);
  if (head.empty() && sets.empty()) co_return true;
  server_->statements.set_unnamed(session::server_statements::no_unnamed);  // a simple Query drops it
  std::string batch = head;
  if (!sets.empty()) batch += batch.empty() ? sets : "; " + sets;
  log::trace(log::conn_ids{id_, server_->id}, "parameter sync: {}", batch);
  // What the server had: a failed batch rolls back to it.
  const session::session_settings server_settings = server_->settings;
  const session::parameter_set server_params = server_->params;
  // Record the values first: settings PostgreSQL does not report would otherwise look unset, and
  // the ParameterStatus replies below overwrite reported ones with the server's spelling.
  auto record = [&] {
    server_->settings = settings_;
    for (const auto& [name, value] : params_) server_->params.set(name, value);
    for (auto it = server_->params.begin(); it != server_->params.end();) {
      const auto& name = it->first;
      if (params_.find(name) == nullptr && !session::is_tracked_parameter(name) &&
          pool_->defaults().find(name) == nullptr) {
        const std::string doomed = name;
        server_->params.erase(doomed);
        it = server_->params.begin();
        continue;
      }
      ++it;
    }
    for (const auto& [name, value] : pool_->defaults())
      if (session::is_tracked_parameter(name) && params_.find(name) == nullptr) server_->params.set(name, value);
  };
  record();

  const auto max_message = context_.settings()->max_message_size;
  std::string to_client;  // ParameterStatus replies: the client learns the server's spelling
  std::string notices;    // WARNINGs for SETs this server refused
  std::vector<query_failure> failures;
  std::vector<std::string> queries{batch};
  bool ok = co_await run_sync_queries(*server_, max_message, queries, failures, to_client, params_);
  // The first Query holds the resets and parameters: its failure ends the session.
  bool head_failed = ok && !failures[0].code.empty();
  if (head_failed && !sets.empty()) {
    // The batch rolled back whole. Again, one Query per SET of the client's: PostgreSQL keeps a
    // session whose setting stopped working (a dropped text search configuration, a dropped
    // role), so the client keeps its session here too; it is told which SET was lost.
    server_->settings = server_settings;
    server_->params = server_params;
    const auto set_list = settings_.set_statements_from(server_settings);
    queries.clear();
    if (!head.empty()) queries.push_back(head);
    for (const auto& [name, statement] : set_list) queries.push_back(statement);
    record();
    ok = co_await run_sync_queries(*server_, max_message, queries, failures, to_client, params_);
    head_failed = ok && !head.empty() && !failures[0].code.empty();
    if (ok && !head_failed) {
      bool authorization_lost = false;
      const std::size_t first = head.empty() ? 0 : 1;
      for (std::size_t i = 0; i < set_list.size(); ++i) {
        const auto& f = failures[first + i];
        if (f.code.empty()) continue;
        const auto& [name, statement] = set_list[i];
        log::warn(log::conn_ids{id_, server_->id}, "client's setting not restored on this server: {}: {} ({})",
                  statement, f.message, where());
        const std::string message =
            fmt::format("pgfunnel could not restore the setting {} on this server connection: {}", name, f.message);
        const std::string detail = fmt::format("{} failed; the setting is back to its default", statement);
        protocol::encode_notice_response(notices, {"WARNING", f.code, message, detail});
        if (name == "session_authorization") authorization_lost = true;
        session::setting_change lost;
        lost.kind = session::setting_change::reset;
        lost.name = name;
        settings_.apply(lost);
        server_->settings.apply(lost);
      }
      // A lost SESSION AUTHORIZATION takes the role with it in the record, not on the server.
      if (authorization_lost) server_dirty_ = true;
    }
  }
  if (!ok) {
    server_broken_ = true;
    co_await send_error(client_, {"FATAL", "08006", "server closed the connection unexpectedly"});
    end(close_reason::server_lost);
    co_return false;
  }
  if (head_failed) {
    // A startup parameter the server refuses: PostgreSQL would have refused the login.
    const std::string failure = fmt::format("{} (SQLSTATE {})", failures[0].message, failures[0].code);
    log::warn(log::conn_ids{id_, server_->id}, "session parameters rejected by the server: {}", failure);
    server_broken_ = true;  // its settings are now unknown
    const std::string message = fmt::format("invalid session parameter: {}", failure);
    co_await send_error(client_, {"FATAL", "22023", message});
    end(close_reason::login_failed);
    co_return false;
  }
  to_client += notices;
  if (!to_client.empty() && co_await write_client(to_client)) {
    client_gone_ = true;
  }
  co_return true;
}

}  // namespace pgfunnel::proxy
