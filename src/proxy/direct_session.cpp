// The direct listener's session: startup packet to a fresh upstream connection, then a blind two-way copy.
#include "pgfunnel/proxy/direct_session.hpp"

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/pool/server_connection.hpp"
#include "pgfunnel/proxy/client_login.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {

constexpr std::size_t direct_buffer_size = 16 * 1024;

// Copies until EOF or error on either side, then shuts the write side of `to` so the peer sees it.
asio::awaitable<void> pipe(net::stream& from, net::stream& to) {
  std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[direct_buffer_size]);
  for (;;) {
    auto [rec, n] = co_await from.read_some(asio::buffer(buffer.get(), direct_buffer_size));
    if (rec || n == 0) break;
    const std::string_view chunk(reinterpret_cast<const char*>(buffer.get()), n);
    if (co_await to.write_all(chunk)) break;
  }
  to.send_close_notify();
  error_code ignored;
  to.socket().shutdown(net::tcp::socket::shutdown_send, ignored);
}

// How long the relayed login may take: the upstream must answer the startup packet within
// server_connect_timeout (an upstream that accepts TCP and never speaks is as down as one that
// refuses it), and the whole exchange, the client's password included, must end within
// client_login_timeout, as on the pooled listener. 0 is no limit, as in the settings.
struct login_deadlines {
  std::chrono::milliseconds first_answer;
  std::chrono::milliseconds whole_login;
};

// Tells the client why, then ends both directions (the client → server copy stops at its next read).
asio::awaitable<void> fail_relayed_login(net::stream& server, net::stream& client, const std::string& why,
                                         log::conn_id id) {
  log::warn(id, "direct session: {}", why);
  co_await send_error(client, {"FATAL", "08006", why});
  server.shutdown();
  client.shutdown();
}

// The upstream's side of the login, message by message until the first ReadyForQuery (then a
// blind copy). The one edit: SCRAM-SHA-256-PLUS leaves AuthenticationSASL's mechanism list. The
// upstream would bind the exchange to its own certificate, which the client never sees (it sees
// pgfunnel's), so a client choosing -PLUS could only fail.
asio::awaitable<void> relay_login_then_pipe(net::stream& server, net::stream& client, login_deadlines limits,
                                            std::string upstream, log::conn_id id) {
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::backend, 1u << 20);
  std::string buffer, edited;
  const auto started = net::clock::now();
  const auto login_ends = started + net::or_forever(limits.whole_login);
  for (bool first = true;; first = false) {
    protocol::frame msg;
    auto read = [&]() -> net::awaitable<error_code> { co_return co_await net::read_message(server, reader, buffer, msg); };
    const auto until = first ? std::min(login_ends, started + net::or_forever(limits.first_answer)) : login_ends;
    const error_code ec = co_await net::with_timeout(read(), until - net::clock::now());
    if (ec == asio::error::timed_out) {
      const std::string why =
          first ? fmt::format("the upstream server {} did not answer the login within {} ms (server_connect_timeout)",
                              upstream, limits.first_answer.count())
                : fmt::format("the login through the upstream server {} did not end within {} ms (client_login_timeout)",
                              upstream, limits.whole_login.count());
      co_await fail_relayed_login(server, client, why, id);
      co_return;
    }
    if (ec) {
      client.send_close_notify();
      error_code ignored;
      client.socket().shutdown(net::tcp::socket::shutdown_send, ignored);
      co_return;
    }
    std::string_view out = buffer;
    protocol::authentication request;
    if (msg.tag == 'R' && !protocol::decode_authentication(msg.body, request) &&
        request.type == protocol::auth_request::sasl) {
      std::vector<std::string_view> offered;
      if (!protocol::decode_sasl_mechanisms(request.data, offered)) {
        std::vector<std::string> kept;
        for (auto m : offered)
          if (!m.ends_with("-PLUS")) kept.emplace_back(m);
        edited.clear();
        protocol::encode_authentication_sasl(edited, kept);
        out = edited;
      }
    }
    if (co_await client.write_all(out)) co_return;
    if (msg.tag == 'Z') break;
  }
  co_await pipe(server, client);
}

// A TLS client whose credentials pgfunnel holds: authenticated here, as on the pooled listener
// (SCRAM-SHA-256-PLUS bound to pgfunnel's certificate), then given a server connection of its own,
// logged in with pgfunnel's secret (or the SCRAM key the client just proved) and the client's own
// startup parameters. A passed-through exchange could not carry channel binding: the upstream binds
// to its certificate, not pgfunnel's.
asio::awaitable<void> serve_authenticated(net::stream& client, proxy_context& context, const client_startup& startup,
                                          pool::server_login login, log::conn_id id) {
  const std::string_view user = startup.parsed.parameter("user");
  const bool loopback = context.settings()->listen_direct.is_loopback();
  if (!co_await authenticate_client(client, context, user, loopback, id)) co_return;
  // Taken again: a verifier-only user's key lookup sees the key this login just recorded.
  login = context.server_login_for(std::string(startup.parsed.parameter("database")), std::string(user));
  for (const auto& [name, value] : startup.parsed.parameters) login.extra_startup.emplace_back(name, value);
  pool::server_connection server(client.get_executor(), pool::next_server_number(), 1);
  pool::server_error error;
  auto log_in = [&]() -> net::awaitable<error_code> { co_return co_await pool::connect_and_login(server, login, error); };
  if (auto ec = co_await net::with_timeout(log_in(), net::or_forever(context.settings()->server_connect_timeout))) {
    const std::string message = error.message.empty() ? fmt::format("pgfunnel could not log in to the upstream server "
                                                                    "{}:{}: {}",
                                                                    login.host, login.port, ec.message())
                                                      : error.message;
    const std::string sqlstate = error.sqlstate.empty() ? std::string("08006") : error.sqlstate;
    log::warn(log::conn_ids{id, server.id}, "direct session: {}", message);
    co_await send_error(client, {"FATAL", sqlstate, message, error.detail});
    co_return;
  }
  std::string welcome;
  protocol::encode_authentication_ok(welcome);
  for (const auto& [name, value] : server.params) protocol::encode_parameter_status(welcome, name, value);
  // The server's real key: a cancel on the direct listener is forwarded as is.
  protocol::encode_backend_key_data(welcome, server.key.process_id, server.key.secret_key);
  protocol::encode_ready_for_query(welcome, protocol::transaction_status::idle);
  if (co_await client.write_all(welcome)) co_return;
  log::debug(log::conn_ids{id, server.id}, "direct session for {} authenticated by pgfunnel ({} {})", user,
             client.tls_version(), server.stream.is_tls() ? "TLS upstream" : "plaintext upstream");
  using namespace asio::experimental::awaitable_operators;
  co_await (pipe(client, server.stream) && pipe(server.stream, client));
  log::debug(id, "direct session closed");
}

struct direct_counter {
  std::atomic<unsigned>& n;
  ~direct_counter() { --n; }
};

}  // namespace

asio::awaitable<void> run_direct_session(net::tcp::socket client_socket, std::shared_ptr<proxy_context> context_owner) {
  proxy_context& context = *context_owner;
  const auto id = log::client_id(++context.next_client_id);
  net::set_socket_options(client_socket);
  net::stream client(std::move(client_socket));
  client_startup startup;
  auto read = [&]() -> net::awaitable<error_code> {
    co_return co_await read_client_startup(client, startup, context, id);
  };
  // A packet it could not use was answered there.
  if (auto ec = co_await net::with_timeout(read(), net::or_forever(context.settings()->client_login_timeout))) co_return;
  if (startup.parsed.kind == protocol::startup_kind::cancel_request) {
    // Direct clients hold the server's real key (BackendKeyData passed through): forward as is.
    const auto& up = context.settings()->upstream;
    net::tcp::resolver resolver(client.get_executor());
    auto [rec, endpoints] = co_await resolver.async_resolve(up.host, std::to_string(up.port), net::use_nothrow);
    if (!rec && !endpoints.empty())
      co_await send_cancel(endpoints.begin()->endpoint(), {startup.parsed.process_id, startup.parsed.secret_key},
                           std::chrono::seconds(5));
    co_return;
  }
  ++context.direct_clients;
  direct_counter counter{context.direct_clients};
  if (context.direct_clients.load() > context.settings()->direct_max_client_conn) {
    log::warn(id, "no more connections allowed on the direct listener (direct.max_client_conn {})",
              context.settings()->direct_max_client_conn);
    co_await send_error(client, {"FATAL", "53300", "no more connections allowed (direct.max_client_conn)"});
    co_return;
  }

  const auto login = context.server_login_for(std::string(startup.parsed.parameter("database")),
                                              std::string(startup.parsed.parameter("user")));
  // verify-full: the client certificate names the user (the password exchange stays upstream's).
  if (client.is_tls()) {
    const std::string_view user = startup.parsed.parameter("user");
    if (!co_await check_client_certificate(client, context, user, id)) co_return;
  }
  if (client.is_tls() && context.credentials()->find(startup.parsed.parameter("user")) != nullptr) {
    co_await serve_authenticated(client, context, startup, login, id);
    co_return;
  }
  net::stream server(client.get_executor());
  pool::server_error tls_failure;
  auto connect = [&]() -> net::awaitable<error_code> {
    net::tcp::resolver resolver(client.get_executor());
    auto [rec, endpoints] = co_await resolver.async_resolve(login.host, std::to_string(login.port), net::use_nothrow);
    if (rec) co_return rec;
    auto [cec, endpoint] = co_await asio::async_connect(server.socket(), endpoints, net::use_nothrow);
    if (cec) co_return cec;
    net::set_socket_options(server.socket());
    co_return co_await pool::negotiate_upstream_tls(server, login, tls_failure);
  };
  if (auto ec = co_await net::with_timeout(connect(), net::or_forever(context.settings()->server_connect_timeout))) {
    const std::string why = tls_failure.message.empty()
                                ? fmt::format("pgfunnel could not connect to the upstream server {}:{}: {}", login.host,
                                              login.port, ec.message())
                                : tls_failure.message;
    log::warn(id, "direct session: {}", why);
    co_await send_error(client, {"FATAL", "08006", why});
    co_return;
  }
  if (co_await net::write_all(server, startup.packet)) co_return;
  log::debug(id, "direct session for {} on {} relayed to {}:{}", startup.parsed.parameter("user"),
             startup.parsed.parameter("database"), login.host, login.port);

  const auto s = context.settings();
  const login_deadlines limits{s->server_connect_timeout, s->client_login_timeout};
  const std::string upstream = fmt::format("{}:{}", login.host, login.port);
  using namespace asio::experimental::awaitable_operators;
  co_await (pipe(client, server) && relay_login_then_pipe(server, client, limits, upstream, id));
  log::debug(id, "direct session closed");
}

}  // namespace pgfunnel::proxy
