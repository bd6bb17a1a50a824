// auth_query / auth_user: secrets of users pgfunnel is not configured with, looked up in PostgreSQL at login.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"
#include "pgfunnel/log/log.hpp"
#include "pgfunnel/log/rate_limits.hpp"
#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/pool/pool.hpp"
#include "pgfunnel/proxy/credentials.hpp"

namespace pgfunnel::proxy {

struct proxy_context;
class scram_key_store;

// What auth_query said about a user.
struct lookup_result {
  enum class outcome {
    found,      // `cred` holds the user's SCRAM verifier (no password)
    no_secret,  // no row, NULL, or a secret that is not a SCRAM verifier: the login fails as for an unknown user
    failed,     // the lookup could not run: `error` is what the client is told
  };
  outcome result = outcome::failed;
  credential cred;
  std::string why;  // no_secret: for the log line (never the secret itself)
  pool::server_error error;
};

// Looks users up with auth_query, run as auth_user on small pools of its own: per database, at
// most two server connections, shared by concurrent logins (they queue FIFO for a connection),
// closed on any error and after server_idle_timeout like any pool's. They are not in SHOW POOLS.
//
// Answers are not cached: every login of a looked-up user runs the query (one round trip on an
// open connection), so a password changed or a role dropped in PostgreSQL applies to the next
// login. Only the verifier of each user's last successful lookup is kept, as the one its SCRAM
// passthrough keys must match when its pool logs in upstream.
//
// Thread-safe. Lives in proxy_context.
class auth_query_lookup {
 public:
  explicit auth_query_lookup(net::asio::io_context& io) : io_(io) {}
  auth_query_lookup(const auth_query_lookup&) = delete;
  auth_query_lookup& operator=(const auth_query_lookup&) = delete;

  // Runs auth_query for `user` as the client logs in to `database`. Call only with auth_user set.
  net::awaitable<lookup_result> lookup(proxy_context& context, std::string database, std::string user, log::conn_id id);

  // The verifier the last lookup of `user` found; nullopt when it found none or never ran.
  std::optional<auth::scram_verifier> verifier(std::string_view user) const;
  // For server_login_for(): the passthrough keys of a looked-up user, read at each server login so
  // they follow the latest lookup. An empty function when `user` has not been looked up.
  std::function<std::optional<auth::scram_client_keys>()> passthrough_keys(const scram_key_store& keys,
                                                                           const std::string& user) const;
  // On reload: with auth_user unset, looked-up users are forgotten (their keys are pruned).
  void apply_settings(const config::settings& s);

 private:
  // The lookup pool for (database, auth_user), counted as in use until done_with().
  std::shared_ptr<pool::pool> pool_for(proxy_context& context, const std::string& database,
                                       const std::string& auth_user);
  void done_with(const std::string& database, const std::string& auth_user, const std::shared_ptr<pool::pool>& p);
  void remember(const std::string& user, const std::optional<auth::scram_verifier>& v);

  struct pool_entry {
    std::shared_ptr<pool::pool> pool;
    unsigned users = 0;    // lookups holding it
    std::string password;  // what its servers log in with, to notice a reload changing it
  };

  net::asio::io_context& io_;
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, pool_entry> pools_;  // (database, auth_user)
  std::vector<std::shared_ptr<pool::pool>> retired_;  // stopped after a password change, closing their servers
  std::map<std::string, auth::scram_verifier, std::less<>> verifiers_;
  std::shared_ptr<const config::settings> applied_;  // the settings the pools were last given
  log::rate_limiter failure_log_;
};

}  // namespace pgfunnel::proxy
