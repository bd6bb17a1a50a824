// A pool of server connections for one (database, user): leases, FIFO waiters, limits and upkeep.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/pool/pool_state.hpp"
#include "pgfunnel/pool/pool_stats.hpp"
#include "pgfunnel/pool/server_connection.hpp"

namespace pgfunnel::pool {

struct pool_settings {
  pool_limits limits;
  std::chrono::milliseconds query_wait_timeout{120'000};
  std::chrono::milliseconds server_connect_timeout{15'000};
  std::chrono::milliseconds server_idle_timeout{600'000};
  std::chrono::milliseconds server_lifetime{3'600'000};
  std::size_t max_prepared_statements = 200;  // per server connection
  // After a failed login, acquire() fails at once with that error for this long (no new attempt).
  std::chrono::milliseconds server_login_retry{0};
  // server_check_delay, or nullopt when server_check_query is empty (servers are never checked).
  // The pool only counts with it (PgBouncer's "used" servers); the session runs the check.
  std::optional<std::chrono::milliseconds> server_check_delay;
  // A pool with no client and no server for this long is removed (PgBouncer's autodb_idle_timeout);
  // one that never logged a server in (a database that does not exist) is removed at once.
  std::chrono::milliseconds autodb_idle_timeout{3'600'000};
};

// PgBouncer's "used" server: idle, but idle for server_check_delay or longer, so server_check_query
// runs before a client gets it (pooled_session::server_passes_check). A server no client has had
// yet is never checked (its login just proved it), so it stays "idle".
inline bool due_check(const pool_settings& s, net::clock::time_point created, net::clock::time_point last_used,
                      net::clock::time_point now) {
  return s.server_check_delay && last_used != created && now - last_used >= *s.server_check_delay;
}

// Why acquire() came back without a server.
enum class acquire_failure { none, wait_timeout, upstream_error };

struct acquire_result {
  server_connection* server = nullptr;
  acquire_failure failure = acquire_failure::none;
  server_error error;  // upstream_error: what the last login attempt said
};

// Counters for logs, SHOW POOLS and metrics.
struct pool_counts {
  unsigned idle = 0, active = 0, connecting = 0, waiting = 0;
  unsigned used = 0;  // of the idle ones, those due_check(): PgBouncer's sv_used (and not its sv_idle)
};

// Named prepared statements and pinned servers, summed over leases; any thread updates them.
struct statement_stats {
  std::atomic<std::uint64_t> hits{0};       // the statement was already on the leased server
  std::atomic<std::uint64_t> misses{0};     // a Parse went to the server (the client's or injected)
  std::atomic<std::uint64_t> injected{0};   // ... injected because the statement moved servers
  std::atomic<std::uint64_t> evictions{0};  // Close sent to keep a server under max_prepared_statements
  std::atomic<int> pinned{0};               // servers held by one client for its session objects
  std::atomic<int> pinned_objects{0};       // ... of which for more than advisory locks (temp tables, ...)
};

// pool_stats' totals as plain numbers: at one moment, or what changed over a stats period.
struct stats_totals {
  std::uint64_t xact_count = 0, query_count = 0, bytes_received = 0, bytes_sent = 0;
  std::uint64_t xact_time_us = 0, query_time_us = 0, wait_time_us = 0, server_assignments = 0;
};

// The last full stats period (60 s, PgBouncer's default stats_period), for SHOW STATS' averages.
struct stats_period {
  stats_totals delta;
  std::chrono::microseconds length{0};  // 0 until the first period has ended
};

// One open server as SHOW SERVERS lists it.
struct server_info {
  log::conn_id id;
  bool active = false;        // leased to a client; otherwise idle
  bool close_needed = false;  // RECONNECT or KILL: closed when next released
  net::clock::time_point created{};
  net::clock::time_point last_used{};  // idle servers only
  std::int32_t backend_pid = 0;
  net::tcp::endpoint peer;
  net::tcp::endpoint local;
  std::size_t prepared_statements = 0;  // idle servers only: a leased one is its client's to read
  std::string application_name;         // idle servers only, likewise
  std::string tls;                      // as server_connection::tls
};

class pool : public std::enable_shared_from_this<pool> {
 public:
  // Asked again at every server login, so a reload that rotates a password (or a verifier) is what
  // the next server logs in with. The upstream's host and port are restart-only.
  using login_source = std::function<server_login()>;
  pool(net::asio::io_context& io, std::string database, std::string user, login_source login, pool_settings settings);
  ~pool();

  // Starts the upkeep loop (idle timeout, lifetime, min_pool_size). Call once after construction.
  void start();
  void stop();

  // Waits (FIFO, up to query_wait_timeout) for a server. The caller owns the lease until release().
  net::awaitable<acquire_result> acquire(log::conn_id client);
  // Returns a leased server: parked or handed to the next waiter when `reusable`, closed otherwise.
  // Any thread.
  void release(server_connection* server, bool reusable);

  // The ParameterStatus set a fresh server reports, for welcoming clients: known after the first
  // successful login, which this starts (and waits for, up to server_connect_timeout) if needed.
  net::awaitable<bool> wait_for_defaults(server_error& error);
  // Valid once wait_for_defaults() returned true; never changes afterwards.
  const session::parameter_set& defaults() const { return defaults_; }
  // Whether a server of this pool ever logged in. One that never did has had no server to close,
  // so once stop()ped nothing of it runs on (auth_query drops such pools).
  bool ever_logged_in() const {
    std::lock_guard lock(mutex_);
    return have_defaults_;
  }

  void apply_settings(const pool_settings& settings);
  pool_counts counts() const;
  const std::string& database() const { return database_; }
  const std::string& user() const { return user_; }
  std::string name() const { return database_ + "/" + user_; }
  pool_settings settings() const {  // a copy: a reload may change them meanwhile
    std::lock_guard lock(mutex_);
    return settings_;
  }
  statement_stats& statements() { return statements_; }
  pool_stats& stats() { return stats_; }
  stats_totals totals() const;
  stats_period last_stats_period() const;

  // ---- its clients, for retirement --------------------------------------------------------------
  // The registry attaches a client under its own lock when it hands the pool out; the session
  // detaches when it ends. A pool with none attached may be retired (see autodb_idle_timeout).
  void attach_client() { clients_.fetch_add(1, std::memory_order_relaxed); }
  void detach_client() { clients_.fetch_sub(1, std::memory_order_relaxed); }
  unsigned attached_clients() const { return clients_.load(std::memory_order_relaxed); }
  // Upkeep found it unused: no client, no server, no waiter, and either no server ever logged in
  // or none for autodb_idle_timeout. The registry removes it once it still has no client.
  bool retirable() const { return retirable_.load(std::memory_order_relaxed); }

  // ---- the admin console -------------------------------------------------------------------
  // PAUSE: no server is handed out (clients queue); leased ones come back as their transactions
  // end. The console waits for counts().active to reach 0. RESUME undoes PAUSE and KILL.
  void pause();
  void resume();
  bool paused() const;
  // RECONNECT: idle servers close now, leased ones when released; new ones open on demand.
  void reconnect();
  // KILL: paused, queued clients failed with `why`, servers closed as by reconnect().
  void kill(const server_error& why);
  // Servers RECONNECT or KILL marked that are still open (WAIT_CLOSE waits for none).
  unsigned close_needed_count() const;
  std::vector<server_info> servers() const;

 private:
  struct waiter;
  using state_type = pool_state<server_connection, waiter>;

  void launch_connects(unsigned n);
  bool login_retry_pending() const;  // mutex held
  net::awaitable<void> connect_one();
  net::awaitable<void> upkeep();
  void log_statement_stats();
  void grant(waiter* w, server_connection* server);
  void fail(waiter* w, const server_error& error);
  // Says Terminate and hands the server to finish_close(); the caller has counted it as closing.
  // Mutex held.
  void close_locked(server_connection* server);
  net::awaitable<void> finish_close(std::unique_ptr<server_connection> server);
  static bool looks_alive(server_connection& server);

  net::asio::io_context& io_;
  // Upkeep and its timer live here, so stop() from another thread never races the loop.
  net::asio::strand<net::asio::io_context::executor_type> strand_;
  const std::string database_;
  const std::string user_;
  const login_source login_;
  const std::string upstream_;  // "host:port", for log lines
  pool_settings settings_;

  mutable std::mutex mutex_;
  state_type state_;
  std::vector<std::unique_ptr<server_connection>> servers_;  // every open server, idle or leased
  bool have_defaults_ = false;
  session::parameter_set defaults_;
  std::vector<std::shared_ptr<waiter>> default_waiters_;
  server_error last_error_;
  net::clock::time_point retry_after_{};  // no new server login before this (server_login_retry)
  bool stopped_ = false;
  std::unique_ptr<net::asio::steady_timer> upkeep_timer_;
  statement_stats statements_;
  pool_stats stats_;
  unsigned upkeep_ticks_ = 0;
  std::atomic<unsigned> clients_{0};
  std::atomic<bool> retirable_{false};
  std::optional<net::clock::time_point> unused_since_;  // upkeep's strand only
  // RECONNECT/KILL: servers created at or before this are not reused. Mutex held.
  net::clock::time_point reconnect_before_{};
  // Stats periods (upkeep's strand writes, under the mutex).
  stats_totals period_start_totals_;
  net::clock::time_point period_start_ = net::clock::now();
  stats_period last_period_;
  void roll_stats_period();
  std::uint64_t logged_misses_ = 0, logged_hits_ = 0;
};

}  // namespace pgfunnel::pool
