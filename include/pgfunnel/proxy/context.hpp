// What every session shares: the settings snapshot, credentials, pools, cancel keys and counters.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "pgfunnel/auth/login_throttle.hpp"
#include "pgfunnel/config/config.hpp"
#include "pgfunnel/log/rate_limits.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/net/tls.hpp"
#include "pgfunnel/pool/registry.hpp"
#include "pgfunnel/proxy/auth_query.hpp"
#include "pgfunnel/proxy/cancel.hpp"
#include "pgfunnel/proxy/connection_registry.hpp"
#include "pgfunnel/proxy/credentials.hpp"
#include "pgfunnel/proxy/scram_keys.hpp"

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
      : io(io), pools(io), settings_(s), credentials_(std::make_shared<const credential_store>(*s)) {
    churn.set_rate(s->churn_warning_rate);
  }

  // The configuration in force: a snapshot, replaced whole by a reload (any thread may read it;
  // hold the pointer for as long as the values must stay consistent).
  std::shared_ptr<const config::settings> settings() const { return settings_.load(); }
  std::shared_ptr<const credential_store> credentials() const { return credentials_.load(); }
  // Applies a reloaded configuration: settings, credentials, every pool's limits and timeouts.
  void replace_settings(std::shared_ptr<const config::settings> s);

  net::asio::io_context& io;
  pool::registry pools;
  cancel_registry cancels;
  connection_registry clients;  // pooled clients past login, for the admin console
  // ClientKeys recovered from SCRAM logins of verifier-only users (key passthrough upstream).
  scram_key_store scram_keys;
  // auth_user/auth_query: users looked up in PostgreSQL, and the connections that look them up.
  auth_query_lookup auth_lookup{io};
  // auth_failure_limit: failed password logins per client address.
  auth::login_throttle login_throttle;

  std::atomic<unsigned> pooled_clients{0};  // logged in or logging in, pooled listener
  std::atomic<unsigned> direct_clients{0};
  std::atomic<std::uint64_t> next_client_id{0};
  error_counters errors;
  // Exhaustion warnings, one line per kind per 10 s; the churn warning per application_name.
  log::rate_limiter pool_timeout_log;
  log::rate_limiter max_client_conn_log;
  log::rate_limiter upstream_refused_log;
  log::churn_detector churn;
  // Set once a shutdown began: /readyz reports unready, new transactions may be held.
  std::atomic<bool> draining{false};
  // Hooks the process sets (app.cpp) for the admin console's RELOAD and SHUTDOWN.
  std::function<void()> reload_requested;
  std::function<void()> shutdown_requested;

  // Builds the TLS contexts from `s`: the client-facing one (client_tls*, read again at every
  // reload so renewed certificates apply to new connections while open ones keep theirs) and, at
  // startup, the upstream one (its URL needs a restart). False, with `error`, when a file is
  // unusable; nothing changes then.
  bool load_tls(const config::settings& s, bool upstream_too, std::string& error);
  // The client-facing TLS context in force; null when client_tls is disable.
  net::tls_context client_tls() const { return client_tls_.load(); }

  pool::pool_settings pool_settings() const;
  // The upstream login for a pool of `user` on `database`. For a user with only a SCRAM verifier
  // it carries a lookup of the passthrough keys, so it must not outlive this context.
  pool::server_login server_login_for(const std::string& database, const std::string& user) const;

 private:
  std::atomic<std::shared_ptr<const config::settings>> settings_;
  std::atomic<std::shared_ptr<const credential_store>> credentials_;
  std::atomic<net::tls_context> client_tls_;
  net::tls_context upstream_tls_;  // set once at startup, before any session
};

}  // namespace pgfunnel::proxy
