// The proxy process: binds the listeners, runs the worker threads, stops on SIGINT/SIGTERM.
#include "pgfunnel/app/app.hpp"

#include <boost/asio/signal_set.hpp>
#include <thread>
#include <vector>

#include "pgfunnel/log/log.hpp"
#include "pgfunnel/net/listener.hpp"
#include "pgfunnel/proxy/direct_session.hpp"
#include "pgfunnel/proxy/pooled_session.hpp"

namespace pgfunnel::app {

namespace asio = net::asio;

namespace {
// The address actually bound (port 0 in the config means the system picked one; tests read it here).
std::string endpoint_text(const net::tcp::endpoint& e) {
  const auto a = e.address();
  return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), e.port()) : fmt::format("{}:{}", a.to_string(), e.port());
}
}  // namespace

int run(std::shared_ptr<const config::settings> settings) {
  // One thread: the io_context may skip its internal locking.
  asio::io_context io(settings->workers == 1 ? 1 : static_cast<int>(settings->workers));
  // Sessions and pools share the context; whatever io still holds at exit keeps it alive while
  // io's destructor tears them down.
  auto context = std::make_shared<proxy::proxy_context>(io, settings);

  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors;
  try {
    if (settings->listen_pooled.enabled()) {
      auto& acceptor = acceptors.emplace_back(
          std::make_unique<net::tcp::acceptor>(net::open_listener(io, settings->listen_pooled)));
      const bool loopback = settings->listen_pooled.is_loopback();
      asio::co_spawn(io,
                     net::accept_loop(*acceptor, io,
                                      [context, loopback](net::tcp::socket socket) {
                                        auto executor = socket.get_executor();
                                        auto session = std::make_shared<proxy::pooled_session>(std::move(socket), context,
                                                                                               loopback);
                                        asio::co_spawn(executor, [session] { return session->run(); }, asio::detached);
                                      },
                                      "pooled", settings->workers > 1),
                     asio::detached);
      log::info("pooled listener (transaction mode) on {}", endpoint_text(acceptor->local_endpoint()));
    }
    if (settings->listen_direct.enabled()) {
      auto& acceptor = acceptors.emplace_back(
          std::make_unique<net::tcp::acceptor>(net::open_listener(io, settings->listen_direct)));
      asio::co_spawn(io,
                     net::accept_loop(*acceptor, io,
                                      [context](net::tcp::socket socket) {
                                        auto executor = socket.get_executor();
                                        asio::co_spawn(executor, proxy::run_direct_session(std::move(socket), context),
                                                       asio::detached);
                                      },
                                      "direct", settings->workers > 1),
                     asio::detached);
      log::info("direct listener (session passthrough) on {}", endpoint_text(acceptor->local_endpoint()));
    }
  } catch (const boost::system::system_error& e) {
    log::critical("cannot listen: {}", e.what());
    return 1;
  }
  log::info("upstream {}, pool_size {}, max_client_conn {}, {} worker thread{}", settings->upstream.redacted(),
            settings->pool_size, settings->max_client_conn, settings->workers, settings->workers == 1 ? "" : "s");

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::info("received signal {}, shutting down", signal);
    for (auto& a : acceptors) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    context->pools.stop_all();
    io.stop();
  });

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < settings->workers; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  acceptors.clear();
  context.reset();
  log::info("pgfunnel stopped");
  log::flush();
  return 0;
}

}  // namespace pgfunnel::app
