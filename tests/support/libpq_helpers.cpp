// libpq helpers for integration tests: RAII connections, error fields, and child processes with captured output.
#include "libpq_helpers.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <regex>
#include <thread>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "bytes.hpp"
#include "pg_server.hpp"

extern char** environ;

namespace pgfunnel::test {

namespace {

using clock_type = std::chrono::steady_clock;

int remaining_ms(clock_type::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// libpq's text for a failed login, e.g.
//   connection to server at "127.0.0.1", port 5 failed: FATAL:  28P01: password authentication failed ...
//   DETAIL:  ...
pq_error parse_error_text(const std::string& text) {
  pq_error e;
  e.text = text;
  static const std::regex head(R"((FATAL|ERROR|PANIC):  ([0-9A-Z]{5}): ([^\n]*))");
  static const std::regex detail(R"(\nDETAIL:  ([^\n]*))");
  std::smatch m;
  if (std::regex_search(text, m, head)) {
    e.severity = m[1];
    e.sqlstate = m[2];
    e.message = m[3];
    std::smatch d;
    const std::string rest = m.suffix();
    if (std::regex_search(rest, d, detail)) e.detail = d[1];
  } else {
    e.message = text;
  }
  return e;
}

std::string field(const PGresult* res, int code) {
  const char* v = PQresultErrorField(res, code);
  return v ? v : "";
}

}  // namespace

std::string query_result::value(std::size_t row, std::size_t col) const {
  if (row >= rows.size() || col >= rows[row].size() || !rows[row][col]) return "";
  return *rows[row][col];
}

std::string query_result::describe() const {
  if (ok) return "ok";
  std::string s = error.severity + " " + error.sqlstate + " " + error.message;
  if (!error.detail.empty()) s += " (" + error.detail + ")";
  if (error.sqlstate.empty()) s += " [" + error.text + "]";
  return s;
}

query_result take_result(PGconn* conn, PGresult* res) {
  query_result r;
  if (res == nullptr) {
    r.status = PGRES_FATAL_ERROR;
    r.error = parse_error_text(conn ? PQerrorMessage(conn) : "no connection");
    return r;
  }
  r.status = PQresultStatus(res);
  r.ok = r.status == PGRES_COMMAND_OK || r.status == PGRES_TUPLES_OK;
  if (!r.ok) {
    r.error.severity = field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (r.error.severity.empty()) r.error.severity = field(res, PG_DIAG_SEVERITY);
    r.error.sqlstate = field(res, PG_DIAG_SQLSTATE);
    r.error.message = field(res, PG_DIAG_MESSAGE_PRIMARY);
    r.error.detail = field(res, PG_DIAG_MESSAGE_DETAIL);
    r.error.text = PQresultErrorMessage(res);
    if (r.error.message.empty()) r.error.message = r.error.text;
  }
  for (int i = 0; i < PQntuples(res); ++i) {
    std::vector<std::optional<std::string>> row;
    for (int j = 0; j < PQnfields(res); ++j) {
      if (PQgetisnull(res, i, j)) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(PQgetvalue(res, i, j), PQgetlength(res, i, j)));
    }
    r.rows.push_back(std::move(row));
  }
  PQclear(res);
  return r;
}

pq_conn::pq_conn(const std::string& conninfo, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  conn_ = PQconnectStart(conninfo.c_str());
  if (conn_ == nullptr) {
    error_.message = error_.text = "PQconnectStart: out of memory";
    return;
  }
  // Verbose: the login's ErrorResponse is then written with its SQLSTATE, which is all a failed
  // login leaves behind.
  PQsetErrorVerbosity(conn_, PQERRORS_VERBOSE);
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  if (PQstatus(conn_) == CONNECTION_BAD) state = PGRES_POLLING_FAILED;
  while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
    pollfd p{PQsocket(conn_), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n == 0) {
      error_.message = error_.text = "login timed out in the test after " + std::to_string(timeout.count()) + " ms";
      PQfinish(conn_);
      conn_ = nullptr;
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    state = PQconnectPoll(conn_);
  }
  if (state == PGRES_POLLING_FAILED) {
    error_ = parse_error_text(PQerrorMessage(conn_));
  } else {
    PQsetErrorVerbosity(conn_, PQERRORS_DEFAULT);
  }
}

pq_conn::~pq_conn() { close(); }

pq_conn::pq_conn(pq_conn&& other) noexcept : conn_(other.conn_), error_(std::move(other.error_)) { other.conn_ = nullptr; }

pq_conn& pq_conn::operator=(pq_conn&& other) noexcept {
  if (this != &other) {
    close();
    conn_ = other.conn_;
    error_ = std::move(other.error_);
    other.conn_ = nullptr;
  }
  return *this;
}

void pq_conn::close() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

void pq_conn::drop_abruptly() {
  if (conn_ == nullptr) return;
  const int fd = PQsocket(conn_);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  PQfinish(conn_);  // its Terminate cannot go out any more
  conn_ = nullptr;
}

query_result pq_conn::exec(const std::string& sql) {
  if (conn_ == nullptr) return take_result(nullptr, nullptr);
  if (PQsendQuery(conn_, sql.c_str()) != 1) return take_result(conn_, nullptr);
  return get_single_result(conn_);
}

query_result pq_conn::exec_params(const std::string& sql, const std::vector<std::string>& params) {
  if (conn_ == nullptr) return take_result(nullptr, nullptr);
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr,
                        0) != 1)
    return take_result(conn_, nullptr);
  return get_single_result(conn_);
}

query_result pq_conn::pqexec(const std::string& sql) {
  if (conn_ == nullptr) return take_result(nullptr, nullptr);
  return take_result(conn_, PQexec(conn_, sql.c_str()));
}

std::string pq_conn::value(const std::string& sql) {
  query_result r = exec(sql);
  EXPECT_TRUE(r.ok) << sql << ": " << r.describe();
  return r.value();
}

bool wait_readable(PGconn* conn, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    pollfd p{PQsocket(conn), POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) {
      PQconsumeInput(conn);
      return true;
    }
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

query_result get_single_result(PGconn* conn) {
  query_result first;
  bool have = false;
  while (PGresult* res = PQgetResult(conn)) {
    query_result r = take_result(conn, res);
    // Keep the first error if there is one, else the last result.
    if (!have || (first.ok && !r.ok)) first = std::move(r);
    have = true;
  }
  if (!have) return take_result(conn, nullptr);
  return first;
}

bool send_raw_cancel(const std::string& host, std::uint16_t port, std::int32_t process_id, std::int32_t secret) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok) {
    const std::string packet = fe::cancel(process_id, secret);
    ok = ::send(fd, packet.data(), packet.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(packet.size());
  }
  if (ok) {
    // The other side closes once it has acted on (or dropped) the request.
    pollfd p{fd, POLLIN, 0};
    ok = ::poll(&p, 1, 5000) > 0;
    char byte;
    if (ok) ok = ::recv(fd, &byte, 1, 0) == 0;
  }
  ::close(fd);
  return ok;
}

int count_client_backends(pg_server& pg, std::string_view user) {
  // The fixture's earlier query sessions may still be exiting: count none of them, then this one.
  // (The query runs as the superuser: its own session counts only when that is `user`.)
  return std::stoi(pg.query_value("SELECT count(*) FILTER (WHERE application_name IS DISTINCT FROM 'pgfunnel_fixture')"
                                  " + CASE WHEN current_user = '" + std::string(user) + "' THEN 1 ELSE 0 END"
                                  " FROM pg_stat_activity WHERE usename = '" + std::string(user) +
                                  "' AND backend_type = 'client backend'"));
}

std::string pg_program(std::string_view name) {
  std::string dir = "/usr/lib/postgresql/15/bin";
  if (const char* d = std::getenv("PGFUNNEL_PG_BINDIR"); d != nullptr && *d != '\0') dir = d;
  const std::string path = dir + "/" + std::string(name);
  if (::access(path.c_str(), X_OK) == 0) return path;
  return std::string(name);
}

process_result run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                           const std::vector<std::string>& extra_env) {
  process_result r;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("PG") || kv.starts_with("LC_") || kv.starts_with("LANG")) continue;
    env_strings.emplace_back(kv);
  }
  env_strings.emplace_back("LC_ALL=C");
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args_copy = argv;
  std::vector<char*> args;
  for (auto& a : args_copy) args.push_back(a.data());
  args.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    r.output = "pipe failed";
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    r.output = "cannot run " + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  const auto deadline = clock_type::now() + timeout;
  char buf[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n == 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got > 0) {
      r.output.append(buf, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  return r;
}

namespace {
std::optional<long> find_count(const std::string& output, const std::regex& re) {
  std::smatch m;
  if (!std::regex_search(output, m, re)) return std::nullopt;
  return std::stol(m[1]);
}
}  // namespace

std::optional<long> pgbench_failed_transactions(const std::string& output) {
  static const std::regex re(R"(number of failed transactions: (\d+))");
  return find_count(output, re);
}

std::optional<long> pgbench_processed_transactions(const std::string& output) {
  static const std::regex re(R"(number of transactions actually processed: (\d+))");
  return find_count(output, re);
}

std::map<std::string, std::string> show_pools_row(PGconn* console, std::string_view database, std::string_view user) {
  std::map<std::string, std::string> found;
  PGresult* res = PQexec(console, "SHOW POOLS");
  if (PQresultStatus(res) == PGRES_TUPLES_OK) {
    const int db_col = PQfnumber(res, "database"), user_col = PQfnumber(res, "user");
    for (int r = 0; r < PQntuples(res) && found.empty(); ++r) {
      if (db_col < 0 || user_col < 0 || PQgetvalue(res, r, db_col) != database || PQgetvalue(res, r, user_col) != user)
        continue;
      for (int c = 0; c < PQnfields(res); ++c) found[PQfname(res, c)] = PQgetvalue(res, r, c);
    }
  }
  PQclear(res);
  return found;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void expect_session_runs_as(const std::string& conninfo, std::string_view user,
                            const std::function<std::string()>& log) {
  pq_conn c(conninfo);
  ASSERT_TRUE(c.ok()) << c.error().text << "\n" << log();
  EXPECT_EQ(c.value("SELECT current_user"), user);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.exec("BEGIN").ok);
    EXPECT_EQ(c.value("SELECT session_user"), user);
    ASSERT_TRUE(c.exec("COMMIT").ok);
  }
}

int clients_running_as(const std::string& conninfo, std::string_view user, int clients, int transactions,
                       std::vector<std::string>& failures) {
  std::atomic<int> ok{0};
  failures.assign(static_cast<std::size_t>(clients), std::string());
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      pq_conn c(conninfo);
      if (!c.ok()) {
        failures[t] = c.error().text;
        return;
      }
      for (int i = 0; i < transactions; ++i) {
        const query_result r = c.exec("SELECT current_user, pg_sleep(0.01)");
        if (!r.ok || r.value() != user) {
          failures[t] = r.describe() + " value=" + r.value();
          return;
        }
      }
      ++ok;
    });
  }
  for (auto& th : threads) th.join();
  return ok.load();
}

}  // namespace pgfunnel::test
