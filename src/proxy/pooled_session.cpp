// The pooled client's life: login without a server, then a lease per transaction, then one close reason.
#include "pgfunnel/proxy/pooled_session.hpp"

#include <cstring>

#include "pgfunnel/admin/console.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/pool/internal_query.hpp"
#include "pgfunnel/proxy/client_login.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {
// The spelling PostgreSQL reports for values clients commonly send in another form, so the
// welcome matches what the server says after the SET (libpq, pgjdbc and psycopg check these).
std::string canonical_value(std::string_view name, std::string_view value, const session::parameter_set& defaults) {
  std::string v(value);
  if (session::iequals(name, "client_encoding")) {
    for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (v == "UTF-8" || v == "UTF_8" || v == "UNICODE") v = "UTF8";
  } else if (session::iequals(name, "DateStyle") && v.find(',') == std::string::npos) {
    // A style alone keeps the current field order (German implies DMY), as PostgreSQL does.
    std::string style = v;
    for (auto& c : style) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string order = "MDY";
    if (const std::string* d = defaults.find("DateStyle"); d != nullptr && d->find(", ") != std::string::npos)
      order = d->substr(d->find(", ") + 2);
    if (style == "GERMAN") order = "DMY";
    if (style == "ISO") v = "ISO, " + order;
    else if (style == "POSTGRES") v = "Postgres, " + order;
    else if (style == "SQL") v = "SQL, " + order;
    else if (style == "GERMAN") v = "German, " + order;
  }
  return v;
}
}  // namespace

std::string_view to_string(close_reason reason) noexcept {
  switch (reason) {
    case close_reason::client_terminate: return "client terminated";
    case close_reason::client_closed: return "client closed the connection";
    case close_reason::login_failed: return "login failed";
    case close_reason::protocol_error: return "protocol error";
    case close_reason::server_lost: return "server connection lost";
    case close_reason::pool_timeout: return "query_wait_timeout";
    case close_reason::upstream_error: return "upstream unavailable";
    case close_reason::too_many_clients: return "max_client_conn";
    case close_reason::idle_timeout: return "client_idle_timeout";
    case close_reason::message_timeout: return "client_message_timeout";
    case close_reason::idle_transaction_timeout: return "idle_transaction_timeout";
  }
  return "unknown";
}

pooled_session::pooled_session(net::tcp::socket client, std::shared_ptr<proxy_context> context, bool loopback_listener)
    : client_(std::move(client)),
      context_owner_(std::move(context)),
      context_(*context_owner_),
      loopback_listener_(loopback_listener),
      id_(log::client_id(++context_.next_client_id)) {
  entry_.connected_at = net::clock::now();
}

pooled_session::~pooled_session() {
  context_.clients.remove(entry_);  // before the socket closes: KILL_CLIENT may shut it until then
  if (pool_) pool_->detach_client();
  if (counted_) --context_.pooled_clients;
  if (cancel_) context_.cancels.remove(cancel_key_);
}

// 53300 from PostgreSQL (too many connections) is an exhaustion event: rate-limited, its own words.
void pooled_session::log_upstream_failure(const pool::server_error& error) {
  if (error.sqlstate == "53300") {
    if (const auto folded = context_.upstream_refused_log.allow(log::steady::now()))
      log::warn(id_, "upstream out of connections: PostgreSQL refused a server login with 53300 ({}){}",
                where(), *folded > 0 ? fmt::format("; {} more since the last warning", *folded) : std::string());
    return;
  }
  log::warn(id_, "no server for {}: {} ({})", where(), error.message, error.sqlstate);
}

std::string pooled_session::where() const {
  const std::string* app = params_.find("application_name");
  return fmt::format("pool {}/{}, application_name '{}', from {}", database_, user_, app != nullptr ? *app : "", peer_);
}

asio::awaitable<void> pooled_session::run() {
  net::set_socket_options(client_.socket());
  {
    error_code ec;
    const auto remote = client_.socket().remote_endpoint(ec);
    peer_ = ec ? std::string("?") : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  }
  const bool logged_in = co_await login();
  if (!logged_in) co_return;
  if (console_) {
    co_await admin::run_console(client_, context_, entry_, id_);
    co_return;
  }
  client_.socket().non_blocking(true);

  std::size_t pending = 0;  // client bytes read and not yet served (after a rejected request)
  while (!ended_) {
    if (pending == 0) {
      // Idle: no buffer, no server; only a readiness wait on the client socket (and a timer when
      // client_idle_timeout is set).
      error_code wec;
      const auto idle_limit = context_.settings()->client_idle_timeout;
      if (idle_limit.count() == 0) {
        wec = co_await client_.wait_readable();
      } else {
        using namespace asio::experimental::awaitable_operators;
        if (!idle_timer_) idle_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
        idle_timer_->expires_after(idle_limit);
        auto woke = co_await (client_.wait_readable() ||
                              idle_timer_->async_wait(net::use_nothrow));
        if (woke.index() == 1) {
          log::info(id_, "client_idle_timeout: no request for {} ms, closing", idle_limit.count());
          const std::string detail = fmt::format("pgfunnel client_idle_timeout is {} ms; client {}", idle_limit.count(),
                                                 log::to_string(id_));
          co_await send_error(client_, {"FATAL", "57P05", "terminating connection due to client_idle_timeout", detail});
          end(close_reason::idle_timeout);
          break;
        }
        wec = std::get<0>(woke);
      }
      if (wec) {
        end(close_reason::client_closed);
        break;
      }
      in_.acquire();
      error_code ec;
      pending = client_.read_now(asio::buffer(in_.data(), net::relay_buffer::capacity), ec);
      if (ec == asio::error::would_block) {
        in_.release();
        pending = 0;
        continue;
      }
      if (ec || pending == 0) {
        end(close_reason::client_closed);
        break;
      }
      // The relay counts what it reads during a lease; a transaction's first bytes arrive here.
      pool_->stats().bytes_received += pending;
      bytes_in_ += pending;
    }
    if (!co_await read_first_message(pending)) break;
    // A lone Terminate needs no server; nor does a client KILL_CLIENT ended whose request won
    // the race with the EOF it was given.
    if (entry_.killed.load(std::memory_order_relaxed)) {
      end(close_reason::client_closed);
      break;
    }
    if (pending == 5 && in_.data()[0] == 'X') {
      end(close_reason::client_terminate);
      break;
    }
    switch (co_await serve_transaction(pending)) {
      case outcome::served: pending = 0; break;
      case outcome::rejected: pending = co_await reject_request(pending); break;
      case outcome::ended: pending = 0; break;
    }
    if (pending == 0) {
      in_.release();
      out_.release();
    }
  }
  if (entry_.killed.load(std::memory_order_relaxed) &&
      (reason_ == close_reason::client_closed || reason_ == close_reason::client_terminate)) {
    log::info(id_, "client killed by an admin command");
    co_await send_error(client_, {"FATAL", "57P01", "terminating connection due to administrator command"});
  }
  if (logged_in_ && context_.settings()->log_connections) {
    const double seconds = std::chrono::duration<double>(net::clock::now() - connected_at_).count();
    log::info(id_, "closed: {} after {:.1f} s, {} transactions, {} bytes in, {} bytes out ({})", to_string(reason_),
              seconds, transactions_, bytes_in_, bytes_out_, where());
  } else {
    log::debug(id_, "client session closed: {}", to_string(reason_));
  }
}

namespace {

// The buffer starts with a whole message, or with a length no message can have (the relay
// refuses that one as a protocol error, with a server or without).
bool holds_first_message(const std::uint8_t* data, std::size_t have) {
  if (have < protocol::tagged_header_size) return false;
  const std::uint32_t length = (std::uint32_t{data[1]} << 24) | (std::uint32_t{data[2]} << 16) |
                               (std::uint32_t{data[3]} << 8) | std::uint32_t{data[4]};
  return length < 4 || std::size_t{length} + 1 <= have;
}

}  // namespace

// A server is leased for a whole request, never for half of one: a client that stalls after a few
// bytes would otherwise hold a server (and the clients queued behind it) for as long as it likes.
asio::awaitable<bool> pooled_session::read_first_message(std::size_t& pending) {
  if (holds_first_message(in_.data(), pending) || pending == net::relay_buffer::capacity) co_return true;
  const auto limit = context_.settings()->client_message_timeout;
  if (!idle_timer_) idle_timer_ = std::make_unique<asio::steady_timer>(client_.get_executor());
  idle_timer_->expires_after(net::or_forever(limit));
  while (!holds_first_message(in_.data(), pending) && pending < net::relay_buffer::capacity) {
    using namespace asio::experimental::awaitable_operators;
    auto woke = co_await (client_.wait_readable() || idle_timer_->async_wait(net::use_nothrow));
    if (woke.index() == 1) {
      log::warn(id_, "client_message_timeout: {} bytes of a message and nothing more for {} ms, closing ({})", pending,
                limit.count(), where());
      const std::string detail = fmt::format("pgfunnel client_message_timeout is {} ms; client {}", limit.count(),
                                             log::to_string(id_));
      co_await send_error(client_, {"FATAL", "08P01",
                                    "terminating connection: incomplete message from client (client_message_timeout)",
                                    detail});
      end(close_reason::message_timeout);
      co_return false;
    }
    if (std::get<0>(woke)) {
      end(close_reason::client_closed);
      co_return false;
    }
    error_code ec;
    const std::size_t n = client_.read_now(asio::buffer(in_.data() + pending, net::relay_buffer::capacity - pending), ec);
    if (ec == asio::error::would_block) continue;
    if (ec || n == 0) {
      end(close_reason::client_closed);
      co_return false;
    }
    pending += n;
    pool_->stats().bytes_received += n;
    bytes_in_ += n;
  }
  idle_timer_->cancel();
  co_return true;
}

// client_login_timeout covers the whole login (startup packet, authentication, first server
// login): when it passes, the socket is shut down and whatever step is waiting fails.
asio::awaitable<bool> pooled_session::login() {
  const auto limit = context_.settings()->client_login_timeout;
  if (limit.count() == 0) co_return co_await login_steps();
  auto deadline = std::make_shared<asio::steady_timer>(client_.get_executor(), limit);
  auto expired = std::make_shared<bool>(false);
  deadline->async_wait([self = shared_from_this(), expired, limit](const error_code& ec) {
    if (ec) return;
    *expired = true;
    log::warn(self->id_, "client_login_timeout: not logged in after {} ms, closing", limit.count());
    ++self->context_.errors.login_failed;
    // PostgreSQL's words for its authentication_timeout. One attempt, never waiting: a client too
    // slow to log in may be too slow to read, and the connection closes either way.
    std::string goodbye;
    protocol::encode_error_response(
        goodbye, {"FATAL", "57014", "canceling authentication due to timeout",
                  fmt::format("pgfunnel's client_login_timeout ({} ms) passed before the login ended", limit.count())});
    self->client_.try_write(goodbye);
    self->client_.shutdown();
    self->client_.cancel();
  });
  const bool ok = co_await login_steps();
  deadline->cancel();
  co_return ok && !*expired;
}

asio::awaitable<bool> pooled_session::login_steps() {
  client_startup startup;
  if (auto ec = co_await read_client_startup(client_, startup, context_, id_)) {
    end(close_reason::login_failed);  // a packet it could not use was answered there
    co_return false;
  }
  if (startup.parsed.kind == protocol::startup_kind::cancel_request) {
    co_await handle_cancel_request(context_, startup.parsed, id_);
    end(close_reason::client_terminate);
    co_return false;
  }
  // max_client_conn counts clients past their startup packet, so the refusal reaches them.
  counted_ = true;
  if (++context_.pooled_clients > context_.settings()->max_client_conn) {
    ++context_.errors.max_client_conn;
    if (const auto folded = context_.max_client_conn_log.allow(log::steady::now()))
      log::warn(id_, "too many clients: refused {} (max_client_conn {} reached){}", peer_,
                context_.settings()->max_client_conn,
                *folded > 0 ? fmt::format("; {} more refused since the last warning", *folded) : std::string());
    co_await send_error(client_, {"FATAL", "53300", "no more connections allowed (max_client_conn)"});
    end(close_reason::too_many_clients);
    co_return false;
  }
  const auto& p = startup.parsed;
  user_ = std::string(p.parameter("user"));
  database_ = std::string(p.parameter("database"));
  if (database_.empty()) database_ = user_;
  if (user_.empty()) {
    co_await send_error(client_, {"FATAL", "28000", "no PostgreSQL user name specified in startup packet"});
    end(close_reason::login_failed);
    co_return false;
  }
  if (!p.parameter("replication").empty() && p.parameter("replication") != "false") {
    co_await send_error(client_, {"FATAL", "08P01", "replication connections are not supported by the pooled listener",
                                  "", "Use the direct listener (DIRECT_DATABASE_URL) for replication."});
    end(close_reason::login_failed);
    co_return false;
  }

  if (!co_await authenticate_client(client_, context_, user_, database_, loopback_listener_, id_)) {
    ++context_.errors.login_failed;
    end(close_reason::login_failed);
    co_return false;
  }
  entry_.id = id_.n;
  entry_.user = &user_;
  entry_.database = &database_;
  entry_.fd = client_.socket().native_handle();
  entry_.application_name = std::string(p.parameter("application_name"));
  entry_.tls = client_.tls_summary();
  // The virtual database pgbouncer (or pgfunnel): the admin console, no server involved.
  if (admin::is_console_database(database_) && !context_.pools.has_database(database_)) {
    console_ = true;  // run() serves it, past client_login_timeout
    co_return true;
  }

  pool_ = context_.pools.get(database_, user_,
                             [context = &context_, database = database_, user = user_] {
                               return context->server_login_for(database, user);
                             },
                             context_.pool_settings());
  entry_.pool = pool_.get();
  context_.clients.add(entry_);
  pool::server_error error;
  if (!co_await pool_->wait_for_defaults(error)) {
    ++(error.sqlstate == "53300" ? context_.errors.upstream_refused : context_.errors.upstream_error);
    log_upstream_failure(error);
    co_await send_error(client_, {"FATAL", error.sqlstate, error.message, error.detail});
    end(close_reason::upstream_error);
    co_return false;
  }
  // Startup parameters and `options -c name=value` become settings that follow the client.
  session::parameter_set wanted;
  session::parse_options(p.parameter("options"), wanted);
  for (const auto& [name, value] : p.parameters)
    if (!session::is_connection_parameter(name)) wanted.set(name, value);
  for (const auto& [name, value] : wanted) params_.set(name, canonical_value(name, value, pool_->defaults()));
  startup_ = params_;
  cancel_ = std::make_shared<cancel_target>();
  cancel_key_ = context_.cancels.add(cancel_);

  const std::string welcome = welcome_messages();
  if (co_await net::write_all(client_, welcome)) {
    end(close_reason::client_closed);
    co_return false;
  }
  logged_in_ = true;
  if (context_.settings()->log_connections)
    log::info(id_, "login: {}@{} from {}, application_name '{}'", user_, database_, peer_,
              entry_.application_name);
  if (const auto seen = context_.churn.on_connect(entry_.application_name, log::steady::now()))
    log::warn(id_,
              "connection churn: application_name '{}' opened {} connections in the last 10 s (churn_warning_rate "
              "{}/s). Its database client is probably created per request instead of once per instance: create "
              "the pool/client outside the request handler",
              entry_.application_name, *seen, context_.settings()->churn_warning_rate);
  co_return true;
}

std::string pooled_session::welcome_messages() const {
  std::string out;
  protocol::encode_authentication_ok(out);
  const auto& defaults = pool_->defaults();
  for (const auto& [name, value] : defaults) {
    const std::string* own = session::is_tracked_parameter(name) ? params_.find(name) : nullptr;
    protocol::encode_parameter_status(out, name, own != nullptr ? *own : value);
  }
  for (const auto& [name, value] : params_)
    if (session::is_tracked_parameter(name) && defaults.find(name) == nullptr)
      protocol::encode_parameter_status(out, name, value);
  protocol::encode_backend_key_data(out, cancel_key_.process_id, cancel_key_.secret_key);
  protocol::encode_ready_for_query(out, protocol::transaction_status::idle);
  return out;
}

asio::awaitable<pooled_session::outcome> pooled_session::serve_transaction(std::size_t first_bytes) {
  const auto wait_start = net::clock::now();
  entry_.request_at.store(wait_start.time_since_epoch().count(), std::memory_order_relaxed);
  entry_.state.store(client_state::waiting, std::memory_order_relaxed);
  if (pool_->counts().idle == 0) start_wait_notice();
  pool::acquire_result lease;
  for (;;) {
    lease = co_await pool_->acquire(id_);
    if (lease.server == nullptr) break;
    // A server terminated, restarted or failed over while it sat idle has said so (FATAL, then
    // EOF) or vanished: take another before the client's request is spent on it.
    if (lease.server->stream.idle_peer_gone()) {
      log::info(log::conn_ids{id_, lease.server->id}, "server closed the connection while idle: taking another");
    } else if (co_await server_passes_check(*lease.server)) {
      break;
    }
    pool_->release(lease.server, false);
  }
  if (wait_notice_timer_) wait_notice_timer_->cancel();
  const auto leased_at = net::clock::now();
  auto& stats = pool_->stats();
  const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(leased_at - wait_start);
  stats.wait_time_us += static_cast<std::uint64_t>(waited.count());
  stats.wait_time.observe(waited);
  entry_.state.store(lease.server ? client_state::active : client_state::idle, std::memory_order_relaxed);
  if (lease.server == nullptr) {
    if (lease.failure == pool::acquire_failure::wait_timeout) co_return outcome::rejected;
    ++(lease.error.sqlstate == "53300" ? context_.errors.upstream_refused : context_.errors.upstream_error);
    log_upstream_failure(lease.error);
    // Named locals, not temporaries in the co_await expression (g++ 12 destroys a conditional's
    // temporary twice there).
    const std::string sqlstate = lease.error.sqlstate.empty() ? std::string("08006") : lease.error.sqlstate;
    const std::string detail =
        fmt::format("pgfunnel could not get a server for pool {}; client {}", pool_->name(), log::to_string(id_));
    co_await send_error(client_, {"FATAL", sqlstate, lease.error.message, detail});
    end(close_reason::upstream_error);
    co_return outcome::ended;
  }
  lease_ = session::lease_scratch::take(context_.settings()->max_message_size, net::relay_buffer::capacity);
  lease_->in_have = first_bytes;
  server_ = lease.server;
  entry_.link.store(server_->id.n, std::memory_order_relaxed);
  cancel_->attach(server_->key, server_->peer);
  releasing_ = server_broken_ = server_dirty_ = client_gone_ = false;
  busy_since_.reset();
  cancelled_at_.reset();
  idle_in_transaction_since_.reset();
  ++lease_number_;
  lease_->rewriter.emplace(statements_, server_->statements);
  log::trace(log::conn_ids{id_, server_->id}, "server leased");

  if (!co_await sync_parameters()) {
    end_lease_statements();
    release_server();
    lease_.reset();
    co_return outcome::ended;
  }
  out_.acquire();
  start_query_watchdog();
  for (;;) {
    using namespace asio::experimental::awaitable_operators;
    co_await (client_to_server() && server_to_client());
    // Both halves stopped. A Flush racing the release may leave the server busy again: go on
    // relaying for as long as client and server are both there. So does a client holding
    // session objects (advisory locks, temp tables, ...): the server is pinned to it until they
    // are gone.
    if (server_broken_ || client_gone_) break;
    if (at_transaction_boundary()) {
      if (pin_check_due_) co_await check_pin();
      if (server_broken_ || !pinned_) break;
    }
    releasing_ = false;
  }
  if (client_gone_ && !server_broken_ && (pinned_ || pin_check_due_) && at_transaction_boundary())
    co_await remove_session_objects();
  if (server_broken_) set_pinned(0);
  if (!server_broken_ && !server_dirty_ && at_transaction_boundary()) co_await run_server_reset_query();
  const bool lost = server_broken_ && !client_gone_;
  end_lease_statements();
  release_server();
  lease_.reset();
  const auto held = std::chrono::duration_cast<std::chrono::microseconds>(net::clock::now() - leased_at);
  ++stats.server_assignments;
  stats.xact_time_us += static_cast<std::uint64_t>(held.count());
  stats.xact_time.observe(held);
  if (lost) ++context_.errors.server_lost;
  if (lost) {
    const std::string detail = fmt::format(
        "the server pgfunnel relayed this transaction to closed or failed; client {}", log::to_string(id_));
    co_await send_error(client_, {"FATAL", "08006", "server closed the connection unexpectedly", detail});
    end(close_reason::server_lost);
    co_return outcome::ended;
  }
  if (client_gone_) {
    if (!ended_) end(close_reason::client_closed);
    co_return outcome::ended;
  }
  co_return outcome::served;
}

asio::awaitable<std::size_t> pooled_session::reject_request(std::size_t have) {
  ++context_.errors.pool_timeout;
  const auto c = pool_->counts();
  const auto s = pool_->settings();
  if (const auto folded = context_.pool_timeout_log.allow(log::steady::now()))
    log::warn(id_,
              "pool exhausted: query_wait_timeout, no server within {} ms (pool_size {}, {} active, {} waiting; "
              "{}){}",
              s.query_wait_timeout.count(), s.limits.pool_size, c.active, c.waiting, where(),
              *folded > 0 ? fmt::format("; {} more timed out since the last warning", *folded) : std::string());
  // Find the end of the first request: the server would skip to its Sync (or answer the Query).
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::frontend, context_.settings()->max_message_size);
  std::size_t end_of_request = 0;
  for (std::size_t pos = 0;;) {
    const auto r = reader.next(protocol::byte_span(in_.data() + pos, have - pos));
    if (r.status == protocol::frame_status::error) {
      const std::string message = fmt::format("invalid frontend message: {}", r.ec.message());
      co_await send_error(client_, {"FATAL", "08P01", message});
      end(close_reason::protocol_error);
      co_return 0;
    }
    if (r.status == protocol::frame_status::complete) {
      pos += r.msg.size;
      if (r.msg.tag == 'X') {
        end(close_reason::client_terminate);
        co_return 0;
      }
      if (r.msg.tag == 'Q' || r.msg.tag == 'S' || r.msg.tag == 'F') {
        end_of_request = pos;
        break;
      }
      continue;
    }
    // The request goes on past what was read: drop what is skipped, read more.
    std::memmove(in_.data(), in_.data() + pos, have - pos);
    have -= pos;
    pos = 0;
    if (r.needed > net::relay_buffer::capacity) {
      // Too large to skip in place; closing is the honest answer.
      co_await send_error(client_, {"FATAL", "53300", "query_wait_timeout"});
      end(close_reason::pool_timeout);
      co_return 0;
    }
    auto wec = co_await client_.wait_readable();
    error_code ec;
    const std::size_t n =
        wec ? 0 : client_.read_now(asio::buffer(in_.data() + have, net::relay_buffer::capacity - have), ec);
    if (ec == asio::error::would_block) continue;
    if (wec || ec || n == 0) {
      end(close_reason::client_closed);
      co_return 0;
    }
    have += n;
  }
  const std::string detail = fmt::format(
      "pgfunnel pool {} (pool_size {}) had no free server within {} ms; {} clients waiting; client {}",
      pool_->name(), s.limits.pool_size, s.query_wait_timeout.count(), c.waiting, log::to_string(id_));
  std::string reply;
  protocol::encode_error_response(reply, {"ERROR", "53300", "query_wait_timeout", detail});
  protocol::encode_ready_for_query(reply, protocol::transaction_status::idle);
  if (co_await net::write_all(client_, reply)) {
    end(close_reason::client_closed);
    co_return 0;
  }
  std::memmove(in_.data(), in_.data() + end_of_request, have - end_of_request);
  co_return have - end_of_request;
}

// server_check_delay / server_check_query: a server idle for a while proves it still works
// before a client gets it. False: it failed (it is closed by the caller; another is taken).
asio::awaitable<bool> pooled_session::server_passes_check(pool::server_connection& server) {
  const auto s = context_.settings();
  // A server that never served anyone was just logged in: nothing to check (and a check query
  // that always fails cannot loop through fresh servers forever).
  if (s->server_check_query.empty() || server.last_used == server.created ||
      net::clock::now() - server.last_used < s->server_check_delay)
    co_return true;
  std::string value, error;
  const bool ok =
      co_await pool::internal_query(server, s->server_check_query, s->max_message_size, value, error) && error.empty();
  if (!ok)
    log::warn(log::conn_ids{id_, server.id}, "server_check_query failed{}: server closed, taking another",
              error.empty() ? std::string() : " (" + error + ")");
  co_return ok;
}

bool pooled_session::at_transaction_boundary() const {
  return lease_->tracker.releasable() && lease_->in_have == 0 && lease_->client_scan.at_boundary() &&
         lease_->out_have == 0 && lease_->server_scan.at_boundary() && !client_writing_;
}

bool pooled_session::server_reusable() const {
  return !server_broken_ && !server_dirty_ && at_transaction_boundary();
}

void pooled_session::release_server() {
  if (server_ == nullptr) return;
  const bool reusable = server_reusable();
  cancel_->detach();
  // A cancel on its way to this server could land after the next client's query started there;
  // such a server is closed rather than reused. (detach() comes first: a cancel that counted
  // itself in flight before it is either seen here or finds no server.)
  if (cancel_->in_flight.load() > 0) {
    log::debug(log::conn_ids{id_, server_->id}, "cancel in flight: server closed instead of reused");
    pool_->release(server_, false);
  } else {
    log::trace(log::conn_ids{id_, server_->id}, "server released ({})", reusable ? "reused" : "closed");
    pool_->release(server_, reusable);
  }
  server_ = nullptr;
  entry_.link.store(0, std::memory_order_relaxed);
  entry_.state.store(client_state::idle, std::memory_order_relaxed);
  entry_.prepared_statements.store(static_cast<std::uint32_t>(statements_.size()), std::memory_order_relaxed);
}

}  // namespace pgfunnel::proxy
