// Settings-derived pieces of the proxy context: pool settings, upstream logins, and applying a reload.
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::proxy {

pool::pool_settings proxy_context::pool_settings() const {
  const auto s = settings();
  pool::pool_settings p;
  p.limits.pool_size = s->pool_size;
  p.limits.min_pool_size = s->min_pool_size;
  p.query_wait_timeout = s->query_wait_timeout;
  p.server_connect_timeout = s->server_connect_timeout;
  p.server_idle_timeout = s->server_idle_timeout;
  p.server_lifetime = s->server_lifetime;
  p.max_prepared_statements = s->max_prepared_statements;
  p.server_login_retry = s->server_login_retry;
  p.autodb_idle_timeout = s->autodb_idle_timeout;
  if (!s->server_check_query.empty()) p.server_check_delay = s->server_check_delay;
  return p;
}

pool::server_login proxy_context::server_login_for(const std::string& database, const std::string& user) const {
  const auto s = settings();
  const auto& up = s->upstream;
  pool::server_login login;
  login.host = up.host;
  if (auto it = up.params.find("host"); it != up.params.end()) login.host = it->second;
  login.port = up.port;
  login.user = user;
  login.database = database;
  login.sslmode = up.sslmode();
  login.tls = upstream_tls_;
  if (auto it = up.params.find("channel_binding"); it != up.params.end()) login.channel_binding = it->second;
  if (auto it = up.params.find("options"); it != up.params.end()) login.options = it->second;
  const auto store = credentials();
  const credential* c = store->find(user);
  if (c != nullptr) login.password = c->password;
  if (c != nullptr && c->password.empty() && c->verifier) {
    // Looked up at each server login, in the credentials then in force: a reload may have replaced
    // the verifier, and the key must come from the one clients are checked against now.
    login.scram_keys = [this, user]() -> std::optional<auth::scram_client_keys> {
      const auto current = credentials();
      const credential* now = current->find(user);
      if (now == nullptr || !now->password.empty() || !now->verifier) return std::nullopt;
      return scram_keys.find(user, *now->verifier);
    };
  } else if (c == nullptr) {
    // A user auth_query found: its keys belong to the verifier PostgreSQL returned.
    login.scram_keys = auth_lookup.passthrough_keys(scram_keys, user);
  }
  return login;
}

bool proxy_context::load_tls(const config::settings& s, bool upstream_too, std::string& error) {
  net::tls_context client_facing = net::make_client_facing_context(s, error);
  if (!error.empty()) return false;
  if (upstream_too) {
    net::tls_context upstream = net::make_upstream_context(s.upstream, error);
    if (!error.empty()) return false;
    upstream_tls_ = std::move(upstream);
  }
  client_tls_.store(std::move(client_facing));
  return true;
}

void proxy_context::replace_settings(std::shared_ptr<const config::settings> s) {
  auto store = std::make_shared<const credential_store>(*s);
  auth_lookup.apply_settings(*s);
  // Keys proved against a verifier that is no longer configured (or looked up) are useless now: drop them.
  scram_keys.prune([&](std::string_view user, const auth::scram_verifier& v) {
    const credential* c = store->find(user);
    if (c == nullptr) return auth_lookup.verifier(user) == v;
    return c->password.empty() && c->verifier && *c->verifier == v;
  });
  credentials_.store(std::move(store));
  churn.set_rate(s->churn_warning_rate);
  settings_.store(std::move(s));
  const auto p = pool_settings();
  for (const auto& pool : pools.all()) pool->apply_settings(p);
}

}  // namespace pgfunnel::proxy
