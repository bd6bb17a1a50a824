// Settings-derived pieces of the proxy context: pool settings and upstream logins.
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::proxy {

pool::pool_settings proxy_context::pool_settings() const {
  pool::pool_settings p;
  p.limits.pool_size = settings->pool_size;
  p.limits.min_pool_size = settings->min_pool_size;
  p.query_wait_timeout = settings->query_wait_timeout;
  p.server_connect_timeout = settings->server_connect_timeout;
  p.server_idle_timeout = settings->server_idle_timeout;
  p.server_lifetime = settings->server_lifetime;
  p.max_prepared_statements = settings->max_prepared_statements;
  return p;
}

pool::server_login proxy_context::server_login_for(const std::string& database, const std::string& user) const {
  const auto& up = settings->upstream;
  pool::server_login login;
  login.host = up.host;
  if (auto it = up.params.find("host"); it != up.params.end()) login.host = it->second;
  login.port = up.port;
  login.user = user;
  login.database = database;
  login.sslmode = up.sslmode();
  if (const credential* c = credentials.find(user); c != nullptr) login.password = c->password;
  return login;
}

}  // namespace pgfunnel::proxy
