// The Asio side of a pool: the state machine under a mutex, logins, waiter wake-ups and upkeep.
#include "pgfunnel/pool/pool.hpp"

#include <array>
#include <sys/socket.h>

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"

namespace pgfunnel::pool {

namespace asio = net::asio;
using net::clock;
using net::error_code;

// A client (or a welcome) waiting for the pool. The timer doubles as the wake-up signal: whoever
// grants or fails the waiter cancels it, on the waiter's own executor.
struct pool::waiter : std::enable_shared_from_this<pool::waiter> {
  explicit waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  server_connection* granted = nullptr;
  bool failed = false;
  server_error error;

  void wake() {
    asio::post(timer.get_executor(), [self = shared_from_this()] { self->timer.cancel(); });
  }
};

namespace {
std::atomic<std::uint64_t> next_server_id{0};
}  // namespace

std::uint64_t next_server_number() { return ++next_server_id; }

pool::pool(asio::io_context& io, std::string database, std::string user, login_source login, pool_settings settings)
    : io_(io),
      strand_(asio::make_strand(io)),
      database_(std::move(database)),
      user_(std::move(user)),
      login_(std::move(login)),
      upstream_([this] {
        const server_login now = login_();
        return fmt::format("{}:{}", now.host, now.port);
      }()),
      settings_(settings),
      state_(settings.limits) {}

pool::~pool() = default;

void pool::start() {
  upkeep_timer_ = std::make_unique<asio::steady_timer>(strand_);
  asio::co_spawn(strand_, [self = shared_from_this()] { return self->upkeep(); }, asio::detached);
}

void pool::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  if (upkeep_timer_) asio::post(strand_, [self = shared_from_this()] { self->upkeep_timer_->cancel(); });
}

void pool::apply_settings(const pool_settings& settings) {
  unsigned n = 0;
  {
    std::lock_guard lock(mutex_);
    settings_ = settings;
    state_.set_limits(settings.limits);
    n = state_.connects_to_start();
  }
  launch_connects(n);
}

bool pool::login_retry_pending() const {
  return clock::now() < retry_after_ && state_.active_count() == 0 && state_.idle_count() == 0 &&
         state_.connecting_count() == 0;
}

pool_counts pool::counts() const {
  std::lock_guard lock(mutex_);
  pool_counts c{state_.idle_count(), state_.active_count(), state_.connecting_count(), state_.waiting_count(), 0};
  // Idle servers' times are written before they are parked (release() under this mutex): safe to read.
  const auto now = clock::now();
  for (const server_connection* s : state_.idle())
    if (due_check(settings_, s->created, s->last_used, now)) ++c.used;
  return c;
}

bool pool::looks_alive(server_connection& server) {
  // An idle server has nothing to say: readable means it closed (EOF) or sent an error before
  // dying (e.g. an administrator's pg_terminate_backend).
  if (server.stream.is_tls()) {
    // Records that are not data (a TLS 1.3 session ticket) may wait on the socket: let OpenSSL
    // consume them; any data, EOF or error means the server is not fit to serve.
    char byte;
    error_code ec;
    const std::size_t n = server.stream.read_now(asio::buffer(&byte, 1), ec);
    return n == 0 && ec == asio::error::would_block;
  }
  char byte;
  const ssize_t n = ::recv(server.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void pool::close_locked(server_connection* server) {
  auto it = std::find_if(servers_.begin(), servers_.end(), [&](const auto& p) { return p.get() == server; });
  if (it == servers_.end()) return;
  // Say goodbye so the backend exits at once instead of logging an unexpected EOF.
  if (server->stream.is_open()) {
    std::string terminate;
    protocol::encode_terminate(terminate);
    server->stream.try_write(terminate);  // one non-blocking attempt
    server->stream.send_close_notify();
  }
  log::debug(server->id, "server connection closing ({} transactions)", server->transactions);
  std::unique_ptr<server_connection> owned = std::move(*it);
  servers_.erase(it);
  asio::co_spawn(strand_, finish_close(std::move(owned)), asio::detached);
}

asio::awaitable<void> pool::finish_close(std::unique_ptr<server_connection> server) {
  // The backend closes its end when it has exited; until then it still takes a connection slot
  // on PostgreSQL, so it still counts in this pool.
  auto drain = [&]() -> asio::awaitable<error_code> {
    std::array<char, 512> sink;
    for (;;) {
      auto [ec, n] = co_await server->stream.read_some(asio::buffer(sink));
      if (ec) co_return ec;
    }
  };
  co_await net::with_timeout(drain(), std::chrono::seconds(5));
  server.reset();
  unsigned to_connect = 0;
  {
    std::lock_guard lock(mutex_);
    state_.closed();
    to_connect = stopped_ ? 0 : state_.connects_to_start();
  }
  launch_connects(to_connect);
}

void pool::grant(waiter* w, server_connection* server) {
  w->granted = server;
  w->wake();
}

void pool::fail(waiter* w, const server_error& error) {
  w->failed = true;
  w->error = error;
  w->wake();
}

void pool::launch_connects(unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    asio::co_spawn(io_, [self = shared_from_this()] { return self->connect_one(); }, asio::detached);
}

asio::awaitable<void> pool::connect_one() {
  const pool_settings cfg = settings();  // a reload may change settings_ on another thread
  auto server = std::make_unique<server_connection>(io_.get_executor(), next_server_number(), cfg.max_prepared_statements);
  server_error error;
  const server_login login = login_();  // the credentials in force now, not at pool creation
  auto ec = co_await net::with_timeout(connect_and_login(*server, login, error),
                                       net::or_forever(cfg.server_connect_timeout));
  if (ec == asio::error::timed_out) {
    error.sqlstate = "08006";
    error.message =
        fmt::format("timeout after {} ms connecting to server {}", cfg.server_connect_timeout.count(), upstream_);
  }
  std::unique_lock lock(mutex_);
  if (!ec && !stopped_) {
    log::debug(server->id, "server login ok, pool {} ({} pid {})", name(), upstream_, server->key.process_id);
    if (!have_defaults_) {
      defaults_ = server->params;
      have_defaults_ = true;
      for (auto& w : default_waiters_) w->wake();
      default_waiters_.clear();
    }
    retry_after_ = {};
    server_connection* raw = server.get();
    servers_.push_back(std::move(server));
    if (waiter* w = state_.connected(raw)) grant(w, raw);
    co_return;
  }
  state_.connect_failed();
  last_error_ = error;
  retry_after_ = clock::now() + cfg.server_login_retry;
  const bool too_many = error.sqlstate == "53300";
  if (too_many) {
    log::error(server->id,
               "upstream refused a connection for pool {}: {} (53300). The pool may open {} servers "
               "({} open now); PostgreSQL's max_connections (minus reserved slots) is lower than what "
               "all its clients ask for",
               name(), error.message, state_.limits().pool_size, state_.total());
  } else {
    log::warn(server->id, "server login failed for pool {}: {}{}{}", name(), error.message,
              error.sqlstate.empty() ? "" : " SQLSTATE ", error.sqlstate);
  }
  for (auto& w : default_waiters_) fail(w.get(), error);
  default_waiters_.clear();
  // With no server open or about to be, nobody queued can be served soon: tell them now rather
  // than at query_wait_timeout.
  if (state_.active_count() == 0 && state_.idle_count() == 0 && state_.connecting_count() == 0) {
    for (waiter* w : state_.take_waiters()) fail(w, error);
  }
}

asio::awaitable<acquire_result> pool::acquire(log::conn_id client) {
  acquire_result result;
  // Most leases find an idle server: that path allocates nothing (no waiter, no timer).
  auto take_idle_alive = [&](waiter* w) -> server_connection* {
    for (;;) {
      server_connection* server = w != nullptr ? state_.acquire(w) : state_.take_idle();
      if (server == nullptr) return nullptr;
      if (looks_alive(*server)) {
        ++server->transactions;
        return server;
      }
      log::info(server->id, "idle server connection found closed by the server, pool {}", name());
      state_.release_closing();
      close_locked(server);
    }
  };
  {
    std::lock_guard lock(mutex_);
    if ((result.server = take_idle_alive(nullptr)) != nullptr) co_return result;
  }
  auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
  unsigned to_connect = 0;
  {
    std::lock_guard lock(mutex_);
    if ((result.server = take_idle_alive(w.get())) != nullptr) co_return result;
    if (login_retry_pending()) {
      // The upstream refused a login moments ago and nothing is open or on its way: the same
      // answer now, rather than another login per client against a server that just said no.
      state_.cancel_wait(w.get());
      result.failure = acquire_failure::upstream_error;
      result.error = last_error_;
      co_return result;
    }
    to_connect = state_.connects_to_start();
  }
  launch_connects(to_connect);

  // If this coroutine is abandoned while queued (shutdown), leave no dangling waiter behind.
  struct dequeue_guard {
    pool* self;
    waiter* w;
    bool armed = true;
    ~dequeue_guard() {
      if (!armed) return;
      std::lock_guard lock(self->mutex_);
      self->state_.cancel_wait(w);
    }
  } guard{this, w.get()};

  const auto deadline = clock::now() + net::or_forever(settings().query_wait_timeout);
  w->timer.expires_at(deadline);
  for (;;) {
    co_await w->timer.async_wait(net::use_nothrow);
    std::lock_guard lock(mutex_);
    if (w->granted) {
      guard.armed = false;
      ++w->granted->transactions;
      result.server = w->granted;
      co_return result;
    }
    if (w->failed) {
      guard.armed = false;
      result.failure = acquire_failure::upstream_error;
      result.error = w->error;
      co_return result;
    }
    if (clock::now() >= deadline && state_.cancel_wait(w.get())) {
      guard.armed = false;
      result.failure = acquire_failure::wait_timeout;
      co_return result;
    }
    // A stale wake-up: wait on.
  }
}

void pool::release(server_connection* server, bool reusable) {
  const auto now = clock::now();
  server->last_used = now;
  unsigned to_connect = 0;
  {
    // settings_ under the lock too: a reload writes it under this mutex.
    std::lock_guard lock(mutex_);
    if (reusable && settings_.server_lifetime.count() > 0 && now - server->created >= settings_.server_lifetime)
      reusable = false;
    if (reusable && !stopped_ && server->created > reconnect_before_) {
      if (waiter* w = state_.release(server)) grant(w, server);
      return;
    }
    // Replacements start once it is gone (finish_close), so PostgreSQL never sees more than
    // pool_size backends for this pool.
    state_.release_closing();
    close_locked(server);
    to_connect = state_.connects_to_start();
  }
  launch_connects(to_connect);
}

asio::awaitable<bool> pool::wait_for_defaults(server_error& error) {
  auto w = std::make_shared<waiter>(co_await asio::this_coro::executor);
  bool start_login = false;
  {
    std::lock_guard lock(mutex_);
    if (have_defaults_) co_return true;
    if (login_retry_pending()) {
      error = last_error_;
      co_return false;
    }
    default_waiters_.push_back(w);
    start_login = state_.reserve_connect();
  }
  if (start_login) asio::co_spawn(io_, [self = shared_from_this()] { return self->connect_one(); }, asio::detached);

  const auto deadline = clock::now() + net::or_forever(settings().server_connect_timeout) + std::chrono::seconds(1);
  w->timer.expires_at(deadline);
  for (;;) {
    co_await w->timer.async_wait(net::use_nothrow);
    std::lock_guard lock(mutex_);
    if (have_defaults_) co_return true;
    if (w->failed) {
      error = w->error;
      co_return false;
    }
    if (clock::now() >= deadline) {
      std::erase(default_waiters_, w);
      error = {"08006", fmt::format("timeout waiting for a server login to {}", upstream_), {}};
      co_return false;
    }
  }
}

// Once a minute, when anything moved: the prepared-statement cache and pinning figures.
void pool::log_statement_stats() {
  const auto hits = statements_.hits.load(), misses = statements_.misses.load();
  if (hits == logged_hits_ && misses == logged_misses_ && statements_.pinned.load() == 0) return;
  logged_hits_ = hits;
  logged_misses_ = misses;
  log::info("pool {}: prepared statements {} hits, {} misses ({} re-prepared on another server), {} evictions; "
            "{} servers pinned ({} by session objects)",
            name(), hits, misses, statements_.injected.load(), statements_.evictions.load(), statements_.pinned.load(),
            statements_.pinned_objects.load());
}

asio::awaitable<void> pool::upkeep() {
  for (;;) {
    upkeep_timer_->expires_after(std::chrono::seconds(1));
    co_await upkeep_timer_->async_wait(net::use_nothrow);
    unsigned to_connect = 0;
    {
      std::lock_guard lock(mutex_);
      if (stopped_) co_return;
      const auto now = clock::now();
      // Oldest-used first, so the idle timeout trims the cold end of the idle list.
      std::vector<server_connection*> to_close;
      unsigned open = state_.total();
      for (server_connection* s : state_.idle()) {
        const bool idle_too_long = settings_.server_idle_timeout.count() > 0 &&
                                   now - s->last_used >= settings_.server_idle_timeout &&
                                   open > state_.limits().min_pool_size;
        const bool too_old = settings_.server_lifetime.count() > 0 && now - s->created >= settings_.server_lifetime;
        if (idle_too_long || too_old || !looks_alive(*s)) {
          to_close.push_back(s);
          --open;
        }
      }
      for (server_connection* s : to_close) {
        state_.remove_idle(s);
        state_.begin_close();
        close_locked(s);
      }
      to_connect = state_.connects_to_start();
      const bool unused = clients_.load(std::memory_order_relaxed) == 0 && state_.total() == 0 &&
                          state_.waiting_count() == 0 && default_waiters_.empty() && to_connect == 0;
      if (!unused) {
        unused_since_.reset();
      } else if (!unused_since_) {
        unused_since_ = now;
      }
      // A pool that never had a server (its database does not exist, say) is worth nothing kept.
      const bool retire = unused && (!have_defaults_ || (settings_.autodb_idle_timeout.count() > 0 &&
                                                         now - *unused_since_ >= settings_.autodb_idle_timeout));
      retirable_.store(retire, std::memory_order_relaxed);
    }
    launch_connects(to_connect);
    if (++upkeep_ticks_ % 60 == 0) {
      log_statement_stats();
      roll_stats_period();
    }
  }
}

stats_totals pool::totals() const {
  stats_totals t;
  t.xact_count = stats_.xact_count.load(std::memory_order_relaxed);
  t.query_count = stats_.query_count.load(std::memory_order_relaxed);
  t.bytes_received = stats_.bytes_received.load(std::memory_order_relaxed);
  t.bytes_sent = stats_.bytes_sent.load(std::memory_order_relaxed);
  t.xact_time_us = stats_.xact_time_us.load(std::memory_order_relaxed);
  t.query_time_us = stats_.query_time_us.load(std::memory_order_relaxed);
  t.wait_time_us = stats_.wait_time_us.load(std::memory_order_relaxed);
  t.server_assignments = stats_.server_assignments.load(std::memory_order_relaxed);
  return t;
}

void pool::roll_stats_period() {
  const stats_totals now = totals();
  const auto at = clock::now();
  std::lock_guard lock(mutex_);
  const stats_totals& old = period_start_totals_;
  last_period_.delta = {now.xact_count - old.xact_count,         now.query_count - old.query_count,
                        now.bytes_received - old.bytes_received, now.bytes_sent - old.bytes_sent,
                        now.xact_time_us - old.xact_time_us,     now.query_time_us - old.query_time_us,
                        now.wait_time_us - old.wait_time_us,     now.server_assignments - old.server_assignments};
  last_period_.length = std::chrono::duration_cast<std::chrono::microseconds>(at - period_start_);
  period_start_totals_ = now;
  period_start_ = at;
}

stats_period pool::last_stats_period() const {
  std::lock_guard lock(mutex_);
  return last_period_;
}

void pool::pause() {
  std::lock_guard lock(mutex_);
  state_.pause();
}

bool pool::paused() const {
  std::lock_guard lock(mutex_);
  return state_.paused();
}

void pool::resume() {
  unsigned to_connect = 0;
  {
    std::lock_guard lock(mutex_);
    for (auto [w, server] : state_.resume()) grant(w, server);
    to_connect = state_.connects_to_start();
  }
  launch_connects(to_connect);
}

void pool::reconnect() {
  unsigned to_connect = 0;
  {
    std::lock_guard lock(mutex_);
    reconnect_before_ = clock::now();
    const std::vector<server_connection*> idle = state_.idle();
    for (server_connection* s : idle) {
      state_.remove_idle(s);
      state_.begin_close();
      close_locked(s);
    }
    to_connect = stopped_ ? 0 : state_.connects_to_start();
  }
  launch_connects(to_connect);
}

void pool::kill(const server_error& why) {
  {
    std::lock_guard lock(mutex_);
    state_.pause();
    for (waiter* w : state_.take_waiters()) fail(w, why);
  }
  reconnect();
}

unsigned pool::close_needed_count() const {
  std::lock_guard lock(mutex_);
  unsigned n = 0;
  for (const auto& s : servers_) n += s->created <= reconnect_before_ ? 1 : 0;
  return n + state_.closing_count();
}

std::vector<server_info> pool::servers() const {
  std::lock_guard lock(mutex_);
  std::vector<server_info> out;
  out.reserve(servers_.size());
  const auto& idle = state_.idle();
  for (const auto& s : servers_) {
    server_info i;
    i.id = s->id;
    i.active = std::find(idle.begin(), idle.end(), s.get()) == idle.end();
    i.close_needed = s->created <= reconnect_before_;
    i.created = s->created;
    if (!i.active) i.last_used = s->last_used;  // a lease holder writes it without the mutex
    i.backend_pid = s->key.process_id;
    i.tls = s->tls;
    i.peer = s->peer;
    error_code ec;
    i.local = s->stream.socket().local_endpoint(ec);  // getsockname: safe beside the lease holder's I/O
    if (!i.active) {
      i.prepared_statements = s->statements.size();
      if (const std::string* app = s->params.find("application_name")) i.application_name = *app;
    }
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace pgfunnel::pool
