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

  pool::pool_settings pool_settings() const;
  // The upstream login for a pool of `user` on `database`.
  pool::server_login server_login_for(const std::string& database, const std::string& user) const;
};

}  // namespace pgfunnel::proxy
