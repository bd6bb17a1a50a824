// The direct listener's session: startup packet to a fresh upstream connection, then a blind two-way copy.
#include "pgfunnel/proxy/direct_session.hpp"

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/proxy/client_login.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {

constexpr std::size_t direct_buffer_size = 16 * 1024;

// Copies until EOF or error on either side, then shuts the write side of `to` so the peer sees it.
asio::awaitable<void> pipe(net::tcp::socket& from, net::tcp::socket& to) {
  std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[direct_buffer_size]);
  for (;;) {
    auto [rec, n] = co_await from.async_read_some(asio::buffer(buffer.get(), direct_buffer_size), net::use_nothrow);
    if (rec || n == 0) break;
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buffer.get(), n), net::use_nothrow);
    if (wec) break;
  }
  error_code ignored;
  to.shutdown(net::tcp::socket::shutdown_send, ignored);
}

struct direct_counter {
  std::atomic<unsigned>& n;
  ~direct_counter() { --n; }
};

}  // namespace

asio::awaitable<void> run_direct_session(net::tcp::socket client, std::shared_ptr<proxy_context> context_owner) {
  proxy_context& context = *context_owner;
  const auto id = log::client_id(++context.next_client_id);
  net::set_socket_options(client);
  client_startup startup;
  auto read = [&]() -> net::awaitable<error_code> { co_return co_await read_client_startup(client, startup); };
  if (auto ec = co_await net::with_timeout(read(), std::chrono::seconds(60))) {
    if (ec.category() == protocol::error_category()) {
      const std::string message = fmt::format("invalid startup packet: {}", ec.message());
      co_await send_error(client, {"FATAL", "08P01", message});
    }
    co_return;
  }
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
  net::tcp::socket server(client.get_executor());
  auto connect = [&]() -> net::awaitable<error_code> {
    net::tcp::resolver resolver(client.get_executor());
    auto [rec, endpoints] = co_await resolver.async_resolve(login.host, std::to_string(login.port), net::use_nothrow);
    if (rec) co_return rec;
    auto [cec, endpoint] = co_await asio::async_connect(server, endpoints, net::use_nothrow);
    co_return cec;
  };
  if (auto ec = co_await net::with_timeout(connect(), net::or_forever(context.settings()->server_connect_timeout))) {
    log::warn(id, "direct session: cannot reach upstream {}:{}: {}", login.host, login.port, ec.message());
    co_await send_error(client, {"FATAL", "08006",
                                 fmt::format("pgfunnel could not connect to the upstream server {}:{}: {}", login.host,
                                             login.port, ec.message())});
    co_return;
  }
  net::set_socket_options(server);
  if (co_await net::write_all(server, startup.packet)) co_return;
  log::debug(id, "direct session for {} on {} relayed to {}:{}", startup.parsed.parameter("user"),
             startup.parsed.parameter("database"), login.host, login.port);

  using namespace asio::experimental::awaitable_operators;
  co_await (pipe(client, server) && pipe(server, client));
  log::debug(id, "direct session closed");
}

}  // namespace pgfunnel::proxy
