// The operators' HTTP listener (listen.http): /metrics, /healthz, /readyz and its upstream check.
#pragma once

#include <memory>

#include "pgfunnel/config/config.hpp"
#include "pgfunnel/http/metrics.hpp"
#include "pgfunnel/net/asio.hpp"

namespace pgfunnel::proxy {
struct proxy_context;
}

namespace pgfunnel::http {

// Everything pgfunnel counts, read now from the context and its pools. `upstream_reachable` is
// left false; the server fills it from its own check.
metrics_snapshot collect_metrics(proxy::proxy_context& context);

// Kept apart from the proxy listeners: a shutdown closes those at once, while this one keeps
// answering (/readyz says "draining") until the process exits. Boost.Beast is confined to
// server.cpp, so only that translation unit pays for it.
class server {
 public:
  // Binds `address` (SO_REUSEADDR); throws boost::system::system_error when it cannot.
  server(net::asio::io_context& io, std::shared_ptr<proxy::proxy_context> context,
         const config::listen_address& address);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  net::tcp::endpoint local_endpoint() const;
  // Starts accepting. The accept loop and the connections own the listener's state, so this
  // handle may be dropped once started; they end with the io_context.
  void start();
  // Stops accepting; connections being served end with the io_context. Any thread.
  void stop();

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace pgfunnel::http
