// libpq helpers for integration tests: an RAII connection, error fields of a failure, and running psql/pgbench.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

namespace pgfunnel::test {

class pg_server;

// An ErrorResponse as the client saw it. For a failed login libpq only has text, so the fields are
// parsed from its verbose message ("FATAL:  28P01: password authentication failed ...").
struct pq_error {
  std::string severity;  // FATAL, ERROR, ...; empty when the failure carried no ErrorResponse
  std::string sqlstate;
  std::string message;   // the primary message, or libpq's whole text when there was no ErrorResponse
  std::string detail;
  std::string text;      // libpq's full error text, for assertion messages
};

struct query_result {
  ExecStatusType status = PGRES_FATAL_ERROR;
  bool ok = false;  // PGRES_COMMAND_OK or PGRES_TUPLES_OK
  pq_error error;   // when !ok
  std::vector<std::vector<std::optional<std::string>>> rows;
  // Column 0 of row 0 ("" for NULL or no row).
  std::string value(std::size_t row = 0, std::size_t col = 0) const;
  // "ok" or "FATAL 08006 server closed the connection unexpectedly (detail)" for assertion messages.
  std::string describe() const;
};

// One libpq connection; closed (PQfinish, which sends Terminate) on destruction.
class pq_conn {
 public:
  pq_conn() = default;
  // Connects (blocking, at most `timeout`); check ok() and error() afterwards.
  explicit pq_conn(const std::string& conninfo, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~pq_conn();
  pq_conn(pq_conn&& other) noexcept;
  pq_conn& operator=(pq_conn&& other) noexcept;
  pq_conn(const pq_conn&) = delete;
  pq_conn& operator=(const pq_conn&) = delete;

  bool ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }
  PGconn* get() const { return conn_; }
  const pq_error& error() const { return error_; }  // why the login failed
  std::string error_message() const { return conn_ ? PQerrorMessage(conn_) : "no connection"; }
  int socket() const { return conn_ ? PQsocket(conn_) : -1; }
  int backend_pid() const { return conn_ ? PQbackendPID(conn_) : 0; }

  // PQsendQuery/PQsendQueryParams and every result read: the first error is kept (an ErrorResponse
  // followed by a closed connection still shows its SQLSTATE), else the last result.
  query_result exec(const std::string& sql);
  query_result exec_params(const std::string& sql, const std::vector<std::string>& params);
  // Plain PQexec, which returns only the last result: what PQexec-based drivers see.
  query_result pqexec(const std::string& sql);
  // The first value of `sql`; a failure is recorded as a gtest failure and "" returned.
  std::string value(const std::string& sql);

  // Ends the connection the way a crashing client would: no Terminate, the socket just shut down.
  void drop_abruptly();
  void close();  // PQfinish now

 private:
  PGconn* conn_ = nullptr;
  pq_error error_;
};

// Turns a result (may be null) into a query_result and frees it.
query_result take_result(PGconn* conn, PGresult* res);

// Waits until `conn`'s socket is readable, at most `timeout`; then PQconsumeInput. False on timeout.
bool wait_readable(PGconn* conn, std::chrono::milliseconds timeout);

// The one result of a query sent with PQsendQuery (drains until PQgetResult returns null).
query_result get_single_result(PGconn* conn);

// Sends a raw CancelRequest (as libpq's PQcancel would) for (process_id, secret) to host:port and
// waits for the other side to close the connection, at most 5 s.
bool send_raw_cancel(const std::string& host, std::uint16_t port, std::int32_t process_id, std::int32_t secret);

// The number of client backends of `user` in pg_stat_activity, counting the query's own session
// when it is that user (the fixture logs in as postgres).
int count_client_backends(pg_server& pg, std::string_view user = "postgres");

struct process_result {
  int exit_code = -1;  // 128+signal when killed, -1 when it could not run
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] (searched on PATH), PG* and locale variables removed from its environment, plus
// `extra_env` ("NAME=value"); killed after `timeout`.
process_result run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout = std::chrono::seconds(120),
                           const std::vector<std::string>& extra_env = {});

// A PostgreSQL client program: /usr/lib/postgresql/15/bin/<name> (or $PGFUNNEL_PG_BINDIR) if it
// exists, else <name> from PATH.
std::string pg_program(std::string_view name);

// "number of failed transactions: N" from pgbench's summary; nullopt when it is missing.
std::optional<long> pgbench_failed_transactions(const std::string& output);
// "number of transactions actually processed: N"; nullopt when it is missing.
std::optional<long> pgbench_processed_transactions(const std::string& output);

// One connection of `conninfo` logs in and runs as `user`: current_user outside a transaction,
// session_user inside three explicit ones. A failed login shows `log()` (the proxy's log by then).
void expect_session_runs_as(const std::string& conninfo, std::string_view user,
                            const std::function<std::string()>& log);

// `clients` connections of `conninfo` at once, each running `transactions` queries that must all
// report `user` as current_user. Returns how many clients got through; `failures` says why the
// others did not (one entry per client, empty when it passed).
int clients_running_as(const std::string& conninfo, std::string_view user, int clients, int transactions,
                       std::vector<std::string>& failures);

// The admin console's SHOW POOLS row of (database, user), by column name ("" for NULL); empty when
// the pool is not listed or the query fails. `console` is a connection to database pgbouncer.
std::map<std::string, std::string> show_pools_row(PGconn* console, std::string_view database, std::string_view user);

// Seconds since `start`, for "ends within N s" assertions.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace pgfunnel::test
