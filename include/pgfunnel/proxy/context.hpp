// What every session shares: the settings snapshot, credentials, pools, cancel keys and counters.
#pragma once

#include <atomic>
#include <memory>

#include "pgfunnel/config/config.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/pool/registry.hpp"
#include "pgfunnel/proxy/cancel.hpp"
#include "pgfunnel/proxy/credentials.hpp"

namespace pgfunnel::proxy {

// Failures clients were shown, by kind: the exhaustion and login events an operator alerts on.
struct error_counters {
  std::atomic<std::uint64_t> pool_timeout{0};      // query_wait_timeout: no server in time
  std::atomic<std::uint64_t> max_client_conn{0};   // refused at the door
  std::atomic<std::uint64_t> upstream_refused{0};  // PostgreSQL said 53300 (too many connections) to a server login
  std::atomic<std::uint64_t> upstream_error{0};    // any other failed server login a client saw
  std::atomic<std::uint64_t> login_failed{0};      // a client's own login failed (password, user, startup)
  std::atomic<std::uint64_t> server_lost{0};       // a leased server failed under its client
};

struct proxy_context {
  proxy_context(net::asio::io_context& io, std::shared_ptr<const config::settings> s)
      : io(io), settings(std::move(s)), credentials(*settings), pools(io) {}

  net::asio::io_context& io;
  std::shared_ptr<const config::settings> settings;
  credential_store credentials;
  pool::registry pools;
  cancel_registry cancels;

  std::atomic<unsigned> pooled_clients{0};  // logged in or logging in, pooled listener
  std::atomic<unsigned> direct_clients{0};
  std::atomic<std::uint64_t> next_client_id{0};
  error_counters errors;

  pool::pool_settings pool_settings() const;
  // The upstream login for a pool of `user` on `database`.
  pool::server_login server_login_for(const std::string& database, const std::string& user) const;
};

}  // namespace pgfunnel::proxy
