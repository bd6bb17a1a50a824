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
  const auto store = credentials();
  if (const credential* c = store->find(user); c != nullptr) login.password = c->password;
  return login;
}

void proxy_context::replace_settings(std::shared_ptr<const config::settings> s) {
  credentials_.store(std::make_shared<const credential_store>(*s));
  churn.set_rate(s->churn_warning_rate);
  settings_.store(std::move(s));
  const auto p = pool_settings();
  for (const auto& pool : pools.all()) pool->apply_settings(p);
}

}  // namespace pgfunnel::proxy
