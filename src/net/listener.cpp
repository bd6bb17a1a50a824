// Listening sockets and their accept loops.
#include "pgfunnel/net/listener.hpp"

#include "pgfunnel/log/log.hpp"

namespace pgfunnel::net {

tcp::acceptor open_listener(asio::io_context& io, const config::listen_address& address) {
  tcp::resolver resolver(io);
  auto results = resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive);
  tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::io_context& io, session_starter start, std::string name,
                            bool strand_per_session) {
  for (;;) {
    const asio::any_io_executor executor =
        strand_per_session ? asio::any_io_executor(asio::make_strand(io)) : asio::any_io_executor(io.get_executor());
    auto [ec, socket] = co_await acceptor.async_accept(executor, use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: say so, breathe, go on; the listener must not die.
      log::error("{} listener: accept failed: {}", name, ec.message());
      asio::steady_timer pause(io, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    start(std::move(socket));
  }
}

}  // namespace pgfunnel::net
