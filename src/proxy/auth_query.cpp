// auth_query / auth_user: look a client's secret up in PostgreSQL on small pools of auth_user connections.
#include "pgfunnel/proxy/auth_query.hpp"

#include "pgfunnel/admin/commands.hpp"
#include "pgfunnel/auth/md5.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/pool/auth_lookup.hpp"
#include "pgfunnel/proxy/context.hpp"

namespace pgfunnel::proxy {

namespace {

// Enough for concurrent logins to share without queueing long, few enough to leave PostgreSQL's
// connection slots to the pools that run queries.
constexpr unsigned lookup_connections = 2;

pool::pool_settings lookup_settings(const proxy_context& context, const config::settings& s) {
  pool::pool_settings p = context.pool_settings();
  p.limits.pool_size = lookup_connections;
  p.limits.min_pool_size = 0;
  // A lookup is part of a client's login: it waits for a connection no longer than a login may take.
  p.query_wait_timeout = s.client_login_timeout;
  return p;
}

// The admin console's virtual database does not exist upstream: its users are looked up in the
// upstream URL's database.
std::string lookup_database(const proxy_context& context, const std::string& database, const config::settings& s) {
  if (admin::is_console_database(database) && !context.pools.has_database(database))
    return s.upstream.dbname.empty() ? s.upstream.user : s.upstream.dbname;
  return database;
}

// What the client is told when auth_user itself cannot log in: not 28xxx, which would read as the
// client's own password being wrong, but 08004 (the server rejected the connection).
pool::server_error client_error(const pool::server_error& upstream, const std::string& auth_user) {
  pool::server_error e = upstream;
  if (e.sqlstate.empty()) e.sqlstate = "08006";
  if (e.sqlstate.starts_with("28")) {
    e.sqlstate = "08004";
    e.message =
        fmt::format("auth_user \"{}\" cannot log in upstream to look users up: {}", auth_user, upstream.message);
  }
  return e;
}

// Why a secret cannot be used, in words for the log (never the secret itself).
std::string unusable_secret(const std::optional<std::string>& secret, bool have_row) {
  if (!have_row) return "no such user (auth_query returned no row)";
  if (!secret) return "user has no password (auth_query returned NULL)";
  if (auth::is_md5_hash(*secret))
    return "not a SCRAM verifier: PostgreSQL stores an md5 password for the user (auth_query needs "
           "scram-sha-256 passwords)";
  return "not a SCRAM verifier (auth_query returned a secret pgfunnel cannot use)";
}

}  // namespace

std::shared_ptr<pool::pool> auth_query_lookup::pool_for(proxy_context& context, const std::string& database,
                                                        const std::string& auth_user) {
  const auto s = context.settings();
  // Before the lock: server_login_for() may ask this object for passthrough keys.
  const pool::server_login login = context.server_login_for(database, auth_user);
  std::lock_guard lock(mutex_);
  if (applied_ != s) {
    // A reload: lookups follow its timeouts like every pool.
    applied_ = s;
    const auto p = lookup_settings(context, *s);
    for (auto& [key, entry] : pools_) entry.pool->apply_settings(p);
  }
  auto& entry = pools_[{database, auth_user}];
  if (entry.pool && entry.password != login.password) {
    // auth_user's password changed in a reload: new connections log in with the new one. The old
    // pool closes its servers and is kept (a pool is never destroyed while it may be closing one).
    entry.pool->reconnect();
    entry.pool->stop();
    retired_.push_back(std::move(entry.pool));
    entry = pool_entry{};
  }
  if (!entry.pool) {
    entry.pool = std::make_shared<pool::pool>(io_, database, auth_user, [login] { return login; }, lookup_settings(context, *s));
    entry.pool->start();
    entry.password = login.password;
    log::debug("auth_query pool {}/{} created", database, auth_user);
  }
  ++entry.users;
  return entry.pool;
}

void auth_query_lookup::done_with(const std::string& database, const std::string& auth_user,
                                  const std::shared_ptr<pool::pool>& p) {
  std::lock_guard lock(mutex_);
  const auto it = pools_.find({database, auth_user});
  if (it == pools_.end() || it->second.pool != p) return;
  --it->second.users;
  // A pool whose auth_user never logged in (a database that does not exist, say) is dropped, so
  // clients naming made-up databases leave nothing behind. One that did is kept: its database is real.
  if (it->second.users == 0 && !p->ever_logged_in()) {
    p->stop();
    pools_.erase(it);
  }
}

void auth_query_lookup::remember(const std::string& user, const std::optional<auth::scram_verifier>& v) {
  std::lock_guard lock(mutex_);
  if (v)
    verifiers_.insert_or_assign(user, *v);
  else
    verifiers_.erase(user);
}

std::optional<auth::scram_verifier> auth_query_lookup::verifier(std::string_view user) const {
  std::lock_guard lock(mutex_);
  const auto it = verifiers_.find(user);
  if (it == verifiers_.end()) return std::nullopt;
  return it->second;
}

std::function<std::optional<auth::scram_client_keys>()> auth_query_lookup::passthrough_keys(
    const scram_key_store& keys, const std::string& user) const {
  if (!verifier(user)) return {};
  return [this, &keys, user]() -> std::optional<auth::scram_client_keys> {
    const auto v = verifier(user);
    if (!v) return std::nullopt;
    return keys.find(user, *v);
  };
}

void auth_query_lookup::apply_settings(const config::settings& s) {
  if (!s.auth_user.empty()) return;
  std::lock_guard lock(mutex_);
  verifiers_.clear();
}

net::awaitable<lookup_result> auth_query_lookup::lookup(proxy_context& context, std::string database, std::string user,
                                                        log::conn_id id) {
  const auto s = context.settings();
  const std::string auth_user = s->auth_user;
  const std::string sql = s->auth_query;
  const std::string db = lookup_database(context, database, *s);
  lookup_result result;
  const auto failed = [&](const pool::server_error& upstream) {
    result.result = lookup_result::outcome::failed;
    result.error = client_error(upstream, auth_user);
    ++context.errors.upstream_error;
    if (const auto folded = failure_log_.allow(log::steady::now()))
      log::warn(id, "auth_query lookup of user \"{}\" in database \"{}\" as auth_user \"{}\" failed: {} ({}){}", user,
                db, auth_user, upstream.message, upstream.sqlstate.empty() ? "08006" : upstream.sqlstate,
                *folded > 0 ? fmt::format("; {} more failed since the last warning", *folded) : std::string());
  };

  const auto p = pool_for(context, db, auth_user);
  struct release_guard {
    auth_query_lookup& self;
    const std::string& db;
    const std::string& auth_user;
    const std::shared_ptr<pool::pool>& p;
    ~release_guard() { self.done_with(db, auth_user, p); }
  } guard{*this, db, auth_user, p};

  const pool::acquire_result lease = co_await p->acquire(id);
  if (lease.server == nullptr) {
    pool::server_error why = lease.error;
    if (lease.failure == pool::acquire_failure::wait_timeout)
      why = {"08006", fmt::format("timeout waiting for an auth_query connection to database \"{}\"", db), {}};
    failed(why);
    co_return result;
  }

  pool::lookup_answer answer;
  auto query = pool::run_lookup_query(*lease.server, sql, user, s->max_message_size, answer);
  const auto ec = co_await net::with_timeout(std::move(query), net::or_forever(s->server_connect_timeout));
  // Any failure closes the connection: its state is unknown.
  p->release(lease.server, !ec);
  if (ec) {
    const std::string what =
        ec == net::asio::error::timed_out
            ? fmt::format("no answer within server_connect_timeout ({} ms)", s->server_connect_timeout.count())
            : ec.message();
    failed({"08006", fmt::format("auth_query connection to database \"{}\" failed: {}", db, what), {}});
    co_return result;
  }
  if (!answer.error.sqlstate.empty()) {
    pool::server_error e = answer.error;
    e.message = fmt::format("auth_query failed: {}", answer.error.message);
    failed(e);
    co_return result;
  }

  auth::scram_verifier v;
  if (answer.secret && !auth::parse_scram_verifier(*answer.secret, v)) {
    result.result = lookup_result::outcome::found;
    result.cred.user = user;
    result.cred.verifier = v;
    remember(user, v);
  } else {
    result.result = lookup_result::outcome::no_secret;
    result.why = unusable_secret(answer.secret, answer.have_row);
    remember(user, std::nullopt);
  }
  co_return result;
}

}  // namespace pgfunnel::proxy
