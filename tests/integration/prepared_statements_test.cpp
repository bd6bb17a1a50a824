// Integration: named prepared statements through the transaction-pooled listener — per-client names, statements following clients across servers, the bounded server cache, DEALLOCATE/DISCARD/Close, errors of injected Parses.
//
// PGFUNNEL_PST_TARGET=direct runs the same clients against the direct listener (one PostgreSQL
// session per client): what PostgreSQL itself does, to check the tests' expectations. Tests of
// pooling mechanics (a statement on another server, the server cache bound, shared server
// statements) skip themselves there.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bytes.hpp"
#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "program_runner.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

bool direct_target() {
  const char* t = std::getenv("PGFUNNEL_PST_TARGET");
  return t != nullptr && std::string_view(t) == "direct";
}

// ---- libpq wrappers: one result each (PQexec-style calls return the last one) ----------------------

query_result prepare(pq_conn& c, const std::string& name, const std::string& sql, int nparams = 0) {
  return take_result(c.get(), PQprepare(c.get(), name.c_str(), sql.c_str(), nparams, nullptr));
}

query_result exec_prepared(pq_conn& c, const std::string& name, const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  return take_result(c.get(), PQexecPrepared(c.get(), name.c_str(), static_cast<int>(values.size()), values.data(),
                                             nullptr, nullptr, 0));
}

// PQexec with the command tag, for DEALLOCATE's "DEALLOCATE".
std::pair<query_result, std::string> exec_with_tag(pq_conn& c, const std::string& sql) {
  PGresult* res = PQexec(c.get(), sql.c_str());
  std::string tag = res ? PQcmdStatus(res) : "";
  return {take_result(c.get(), res), tag};
}

// The backend the next transaction of `c` runs on is only known inside that transaction.
std::string backend_pid(pq_conn& c) { return c.value("SELECT pg_backend_pid()"); }

// ---- pipeline mode --------------------------------------------------------------------------------

// Reads results until `syncs` PGRES_PIPELINE_SYNC have come (each sync is in the list too), or the
// queue runs dry / the connection breaks.
std::vector<query_result> read_pipeline(PGconn* conn, int syncs) {
  std::vector<query_result> out;
  int seen = 0;
  int nulls = 0;
  while (seen < syncs && PQstatus(conn) == CONNECTION_OK) {
    PGresult* res = PQgetResult(conn);
    if (res == nullptr) {
      // One NULL ends each query's results; two in a row: nothing is queued any more.
      if (++nulls == 2) break;
      continue;
    }
    nulls = 0;
    if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) ++seen;
    out.push_back(take_result(conn, res));
  }
  return out;
}

std::string statuses(const std::vector<query_result>& rs) {
  std::string s;
  for (const auto& r : rs) {
    if (!s.empty()) s += ", ";
    s += PQresStatus(r.status);
    if (r.status == PGRES_FATAL_ERROR) s += " " + r.error.sqlstate + " " + r.error.message;
    if (r.status == PGRES_TUPLES_OK) s += " " + r.value();
  }
  return s;
}

// ---- raw protocol on a libpq-authenticated connection -----------------------------------------------
// libpq has no Close of a statement before PostgreSQL 17, and cannot show the exact reply sequence.
// Once libpq is idle (it read everything up to ReadyForQuery), bytes written straight to its socket
// are a frontend's messages; reading up to the same number of ReadyForQuery leaves libpq idle again.

struct be_msg {
  char tag;
  std::string body;
};

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 30000) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

std::uint32_t be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) | u[3];
}

// Sends `bytes` and returns every backend message up to the `ready`-th ReadyForQuery (fewer if the
// connection ends or nothing comes for 30 s: the caller's assertions show what was missing).
std::vector<be_msg> raw_exchange(pq_conn& c, const std::string& bytes, int ready) {
  std::vector<be_msg> out;
  const int fd = c.socket();
  if (fd < 0 || !send_all(fd, bytes)) return out;
  std::string buf;
  int seen = 0;
  while (seen < ready) {
    while (buf.size() >= 5) {
      const std::uint32_t len = be32(buf.data() + 1);
      if (buf.size() < 1 + static_cast<std::size_t>(len)) break;
      out.push_back({buf[0], buf.substr(5, len - 4)});
      buf.erase(0, 1 + len);
      if (out.back().tag == 'Z' && ++seen == ready) break;
    }
    if (seen == ready) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) break;
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    if (n > 0) buf.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
}

// The reply tags in order, asynchronous ones (NoticeResponse, ParameterStatus) left out: "12DCZ".
std::string tags(const std::vector<be_msg>& msgs) {
  std::string s;
  for (const auto& m : msgs)
    if (m.tag != 'N' && m.tag != 'S' && m.tag != 'A') s += m.tag;
  return s;
}

// A field of an ErrorResponse ('C' SQLSTATE, 'M' message); "" when absent.
std::string error_field(const be_msg& m, char code) {
  std::size_t pos = 0;
  while (pos < m.body.size() && m.body[pos] != '\0') {
    const char type = m.body[pos++];
    const std::size_t end = m.body.find('\0', pos);
    if (end == std::string::npos) break;
    if (type == code) return m.body.substr(pos, end - pos);
    pos = end + 1;
  }
  return "";
}

// The errors of a reply, "SQLSTATE message; ..." for assertions.
std::string errors(const std::vector<be_msg>& msgs) {
  std::string s;
  for (const auto& m : msgs)
    if (m.tag == 'E') s += (s.empty() ? "" : "; ") + error_field(m, 'C') + " " + error_field(m, 'M');
  return s;
}

// The first column of every DataRow, in order.
std::vector<std::string> data_values(const std::vector<be_msg>& msgs) {
  std::vector<std::string> out;
  for (const auto& m : msgs) {
    if (m.tag != 'D' || m.body.size() < 6) continue;
    const auto len = static_cast<std::int32_t>(be32(m.body.data() + 2));
    out.push_back(len < 0 ? "NULL" : m.body.substr(6, static_cast<std::size_t>(len)));
  }
  return out;
}

// ---- the fixture ----------------------------------------------------------------------------------

class PreparedStatements : public ::testing::Test {
 protected:
  // Starts pgfunnel; false (with a test failure naming the reason) when it does not come up.
  bool start(int pool_size, std::vector<std::string> extra = {}) {
    pool_size_ = pool_size;
    std::vector<std::string> args{"--upstream", shared_pg().url(), "--pool-size", std::to_string(pool_size)};
    args.insert(args.end(), extra.begin(), extra.end());
    try {
      funnel_ = std::make_unique<pgfunnel_process>(args);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "pgfunnel did not start: " << e.what();
      return false;
    }
    return true;
  }

  std::string conninfo() const { return direct_target() ? funnel_->direct_conninfo() : funnel_->pooled_conninfo(); }

  pq_conn connect() {
    pq_conn c(conninfo());
    EXPECT_TRUE(c.ok()) << c.error().text << log();
    return c;
  }

  std::string log() const { return funnel_ ? "\n--- pgfunnel log:\n" + log_excerpt(funnel_->log(), 60) : ""; }

  // Opens a transaction on every server of the pool and keeps only the one on backend `pid`: the
  // other servers are free at once, so the next transaction of anyone else runs on one of them.
  // Not ok() when no server of the pool is that backend (always so on the direct listener).
  pq_conn hold_server(const std::string& pid) {
    pq_conn keep;
    std::vector<pq_conn> others;
    for (int i = 0; i < pool_size_; ++i) {
      pq_conn c = connect();
      if (!c.ok()) break;
      EXPECT_TRUE(c.exec("BEGIN").ok);
      if (backend_pid(c) == pid && !keep.ok()) keep = std::move(c);
      else others.push_back(std::move(c));
    }
    for (auto& c : others) EXPECT_TRUE(c.exec("COMMIT").ok);
    return keep;
  }

  std::unique_ptr<pgfunnel_process> funnel_;
  int pool_size_ = 0;
};

// ---- one name, many clients -----------------------------------------------------------------------

TEST_F(PreparedStatements, SameNameWithDifferentTextsInAHundredClients) {
  ASSERT_TRUE(start(2));
  constexpr int clients = 100;
  constexpr int threads = 4;
  constexpr int rounds = 20;
  std::vector<pq_conn> conns;
  for (int i = 0; i < clients; ++i) {
    conns.push_back(connect());
    ASSERT_TRUE(conns.back().ok());
  }
  // Every client calls its statement "s"; the texts differ, so the results tell them apart.
  for (int i = 0; i < clients; ++i) {
    const query_result r = prepare(conns[i], "s", "SELECT " + std::to_string(i * 1000) + "::int + $1::int", 1);
    ASSERT_TRUE(r.ok) << "client " << i << ": " << r.describe() << log();
  }

  std::atomic<int> wrong{0};
  std::mutex first_mutex;
  std::string first;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int round = 0; round < rounds; ++round) {
        for (int i = t; i < clients; i += threads) {
          const query_result r = exec_prepared(conns[i], "s", {std::to_string(round)});
          const std::string want = std::to_string(i * 1000 + round);
          if (!r.ok || r.value() != want) {
            if (wrong++ == 0) {
              std::lock_guard lock(first_mutex);
              first = "client " + std::to_string(i) + " round " + std::to_string(round) + ": want " + want + ", got " +
                      (r.ok ? r.value() : r.describe());
            }
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(wrong.load(), 0) << "first: " << first << log();

  // Describe goes to a server too: each client's statement has one int parameter and one column.
  for (int i = 0; i < clients; i += 9) {
    PGresult* d = PQdescribePrepared(conns[i].get(), "s");
    ASSERT_EQ(PQresultStatus(d), PGRES_COMMAND_OK) << PQresultErrorMessage(d);
    EXPECT_EQ(PQnparams(d), 1);
    EXPECT_EQ(PQnfields(d), 1);
    PQclear(d);
  }
}

TEST_F(PreparedStatements, ClientsPreparingTheSameTextShareOneServerStatement) {
  if (direct_target()) GTEST_SKIP() << "each direct client has its own session";
  ASSERT_TRUE(start(1));
  const std::string text = "SELECT 'shared-text-" + std::to_string(::getpid()) + "'::text";
  std::vector<pq_conn> conns;
  for (int i = 0; i < 10; ++i) {
    conns.push_back(connect());
    ASSERT_TRUE(conns.back().ok());
    // Different client names for the same text.
    const std::string name = "n" + std::to_string(i);
    ASSERT_TRUE(prepare(conns.back(), name, text).ok) << log();
    const query_result r = exec_prepared(conns.back(), name);
    ASSERT_TRUE(r.ok) << r.describe() << log();
  }
  // One server: the statement is there once, not once per client.
  pq_conn c = connect();
  const query_result n =
      c.exec_params("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", {text});
  ASSERT_TRUE(n.ok) << n.describe();
  EXPECT_EQ(n.value(), "1");
}

// pgbench -M prepared: 50 clients with the same statement names and texts on a few servers. pgbench
// only logs a failed Prepare and carries on, so its output is checked for errors too.
// The TPC-B-like script runs with one thread per client: pgbench 15 prepares with a blocking
// PQprepare, so a thread serving several clients waits for a server while its other clients hold
// every server in open transactions (a deadlock through any transaction pooler, until
// query_wait_timeout).
TEST_F(PreparedStatements, PgbenchPreparedModeThroughThePool) {
  ASSERT_TRUE(start(5));
  const auto init = run_process({pg_program("pgbench"), "-i", "-s", "1", "-q", funnel_->direct_conninfo()}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  for (const auto& [script, threads] : {std::pair{"select-only", "2"}, std::pair{"tpcb-like", "50"}}) {
    SCOPED_TRACE(script);
    const auto r = run_process({pg_program("pgbench"), "-b", script, "-M", "prepared", "-c", "50", "-j", threads, "-T",
                                "4", "--no-vacuum", conninfo()},
                               90s);
    EXPECT_EQ(r.exit_code, 0) << r.output << log();
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("ERROR"))) << r.output;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("aborted"))) << r.output;
    const auto failed = pgbench_failed_transactions(r.output);
    ASSERT_TRUE(failed.has_value()) << r.output;
    EXPECT_EQ(*failed, 0);
    const auto processed = pgbench_processed_transactions(r.output);
    ASSERT_TRUE(processed.has_value()) << r.output;
    EXPECT_GT(*processed, 50);
  }
}

// ---- statements follow the client across servers ------------------------------------------------

TEST_F(PreparedStatements, StatementFollowsItsClientToAnotherServer) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  const std::string text = "SELECT $1::int * 7 AS v, 'moved'::text AS w";
  // Prepared inside a transaction, so we know which server has it.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(prepare(a, "q", text, 1).ok) << log();
  ASSERT_EQ(exec_prepared(a, "q", {"1"}).value(), "7");
  const std::string first_pid = backend_pid(a);
  ASSERT_TRUE(a.exec("COMMIT").ok);

  pq_conn holder = hold_server(first_pid);
  if (!direct_target()) {
    ASSERT_TRUE(holder.ok()) << "no server of the pool is backend " << first_pid;
  }

  // A Describe first: it needs the statement on the new server as much as a Bind does.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  PGresult* d = PQdescribePrepared(a.get(), "q");
  ASSERT_EQ(PQresultStatus(d), PGRES_COMMAND_OK) << PQresultErrorMessage(d) << log();
  EXPECT_EQ(PQnparams(d), 1);
  EXPECT_EQ(PQparamtype(d, 0), 23u);  // int4
  EXPECT_EQ(PQnfields(d), 2);
  PQclear(d);
  const query_result r = exec_prepared(a, "q", {"6"});
  EXPECT_TRUE(r.ok) << r.describe() << log();
  EXPECT_EQ(r.value(), "42");
  EXPECT_EQ(r.value(0, 1), "moved");
  const std::string second_pid = backend_pid(a);
  // The new server now holds the statement once (it was prepared there for this client).
  const query_result held = a.exec_params("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", {text});
  EXPECT_EQ(held.value(), "1") << held.describe();
  ASSERT_TRUE(a.exec("COMMIT").ok);
  if (!direct_target()) {
    EXPECT_NE(second_pid, first_pid) << "the test meant to run q on the other server";
  }

  // Back on the first server (the holder lets go, the other one is held now): still the same statement.
  if (holder.ok()) {
    EXPECT_TRUE(holder.exec("COMMIT").ok);
  }
  holder.close();
  pq_conn holder2 = hold_server(second_pid);
  if (!direct_target()) {
    ASSERT_TRUE(holder2.ok());
  }
  for (int i = 0; i < 5; ++i) {
    const query_result again = exec_prepared(a, "q", {std::to_string(i)});
    EXPECT_TRUE(again.ok) << again.describe() << log();
    EXPECT_EQ(again.value(), std::to_string(i * 7));
  }
}

TEST_F(PreparedStatements, StatementSurvivesPoolChurnAndPipelinedBatches) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(prepare(a, "c", "SELECT $1::int + 1000", 1).ok) << log();
  ASSERT_TRUE(prepare(a, "d", "SELECT $1::text || '-d'", 1).ok) << log();
  ASSERT_EQ(exec_prepared(a, "c", {"1"}).value(), "1001") << log();

  // Other clients churn the pool, with statements of their own, some called "c" too.
  std::atomic<bool> stop{false};
  std::atomic<int> churn_errors{0};
  std::atomic<int> churn_done{0};
  std::vector<std::thread> churners;
  for (int t = 0; t < 4; ++t) {
    churners.emplace_back([&, t] {
      pq_conn o(conninfo());
      if (!o.ok()) {
        ++churn_errors;
        return;
      }
      if (!prepare(o, "c", "SELECT $1::int + " + std::to_string(2000 + t), 1).ok) ++churn_errors;
      for (int i = 0; !stop && i < 2000; ++i) {
        const query_result r = i % 3 == 0 ? o.exec("BEGIN; SELECT pg_backend_pid(); COMMIT")
                                          : exec_prepared(o, "c", {std::to_string(i)});
        if (!r.ok || (i % 3 != 0 && r.value() != std::to_string(2000 + t + i))) ++churn_errors;
        ++churn_done;
      }
    });
  }

  // Plain round trips while the pool churns.
  for (int i = 0; i < 50; ++i) {
    const query_result r = exec_prepared(a, "c", {std::to_string(i)});
    ASSERT_TRUE(r.ok) << "execution " << i << ": " << r.describe() << log();
    ASSERT_EQ(r.value(), std::to_string(1000 + i));
  }

  // Pipeline mode: several Bind/Execute + Sync batches, and a new statement's Parse in the middle,
  // all sent before any answer is read.
  ASSERT_EQ(PQenterPipelineMode(a.get()), 1);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> expected;
    const std::string x = std::to_string(round);
    const char* xs[] = {x.c_str()};
    for (int batch = 0; batch < 4; ++batch) {
      ASSERT_EQ(PQsendQueryPrepared(a.get(), "c", 1, xs, nullptr, nullptr, 0), 1);
      expected.push_back(std::to_string(1000 + round));
      ASSERT_EQ(PQsendQueryPrepared(a.get(), "d", 1, xs, nullptr, nullptr, 0), 1);
      expected.push_back(x + "-d");
      if (batch == 2) {
        const std::string name = "p" + std::to_string(round);
        ASSERT_EQ(PQsendPrepare(a.get(), name.c_str(), ("SELECT 'new-" + x + "'::text").c_str(), 0, nullptr), 1);
        expected.push_back("(prepare)");
        ASSERT_EQ(PQsendQueryPrepared(a.get(), name.c_str(), 0, nullptr, nullptr, nullptr, 0), 1);
        expected.push_back("new-" + x);
      }
      ASSERT_EQ(PQpipelineSync(a.get()), 1);
      expected.push_back("(sync)");
    }
    const auto results = read_pipeline(a.get(), 4);
    ASSERT_EQ(results.size(), expected.size()) << statuses(results) << log();
    for (std::size_t i = 0; i < results.size(); ++i) {
      SCOPED_TRACE("round " + x + ", result " + std::to_string(i) + ": " + statuses(results));
      if (expected[i] == "(sync)") {
        EXPECT_EQ(results[i].status, PGRES_PIPELINE_SYNC);
      } else if (expected[i] == "(prepare)") {
        EXPECT_EQ(results[i].status, PGRES_COMMAND_OK);
      } else {
        EXPECT_EQ(results[i].status, PGRES_TUPLES_OK);
        EXPECT_EQ(results[i].value(), expected[i]);
      }
    }
    std::this_thread::sleep_for(20ms);  // let the churners take the servers in between
  }
  ASSERT_EQ(PQexitPipelineMode(a.get()), 1);
  stop = true;
  for (auto& t : churners) t.join();
  EXPECT_EQ(churn_errors.load(), 0) << log();
  EXPECT_GT(churn_done.load(), 0);
  EXPECT_EQ(exec_prepared(a, "c", {"5"}).value(), "1005");
}

TEST_F(PreparedStatements, PipelinedBatchesOnAServerThatLacksTheStatements) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(prepare(a, "x", "SELECT $1::int + 1", 1).ok) << log();
  ASSERT_TRUE(prepare(a, "y", "SELECT $1::int + 2", 1).ok) << log();
  const std::string first_pid = backend_pid(a);
  ASSERT_TRUE(a.exec("COMMIT").ok);
  pq_conn holder = hold_server(first_pid);
  if (!direct_target()) {
    ASSERT_TRUE(holder.ok());
  }

  // Three batches, not waiting: x and y have to be prepared on the other server before their Binds,
  // and only the client's own replies come back.
  ASSERT_EQ(PQenterPipelineMode(a.get()), 1);
  const char* ten[] = {"10"};
  ASSERT_EQ(PQsendQueryPrepared(a.get(), "x", 1, ten, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(a.get(), "SELECT pg_backend_pid()::text", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(a.get()), 1);
  ASSERT_EQ(PQsendQueryPrepared(a.get(), "y", 1, ten, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryPrepared(a.get(), "x", 1, ten, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(a.get()), 1);
  ASSERT_EQ(PQsendPrepare(a.get(), "z", "SELECT $1::int + 3", 1, nullptr), 1);
  ASSERT_EQ(PQsendQueryPrepared(a.get(), "z", 1, ten, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryPrepared(a.get(), "y", 1, ten, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(a.get()), 1);
  const auto r = read_pipeline(a.get(), 3);
  ASSERT_EQ(r.size(), 10u) << statuses(r) << log();
  EXPECT_EQ(r[0].value(), "11") << statuses(r) << log();
  const std::string pid_in_batch = r[1].value();
  EXPECT_EQ(r[2].status, PGRES_PIPELINE_SYNC) << statuses(r);
  EXPECT_EQ(r[3].value(), "12") << statuses(r);
  EXPECT_EQ(r[4].value(), "11") << statuses(r);
  EXPECT_EQ(r[5].status, PGRES_PIPELINE_SYNC) << statuses(r);
  EXPECT_EQ(r[6].status, PGRES_COMMAND_OK) << statuses(r);
  EXPECT_EQ(r[7].value(), "13") << statuses(r);
  EXPECT_EQ(r[8].value(), "12") << statuses(r);
  EXPECT_EQ(r[9].status, PGRES_PIPELINE_SYNC) << statuses(r);
  ASSERT_EQ(PQexitPipelineMode(a.get()), 1);
  if (!direct_target()) {
    EXPECT_NE(pid_in_batch, first_pid) << "the batches were meant to run on the other server";
  }
  EXPECT_EQ(a.value("SELECT 1"), "1");
}

// ---- a result type that changes under a statement -------------------------------------------------

// PostgreSQL 15 itself fails every later execution of such a statement with 0A000 until the client
// closes and re-prepares it (checked against the direct listener). Through the pool the brief asks
// for more: the error once, and the statement usable again at the next execution.
TEST_F(PreparedStatements, AlteredTableFailsTheStatementOnceThenItWorks) {
  if (direct_target()) GTEST_SKIP() << "PostgreSQL keeps failing a fixed-result statement until it is re-prepared";
  ASSERT_TRUE(start(1));  // one server: the statement certainly was prepared where the error happens
  pg_server& pg = shared_pg();
  pg.exec("DROP TABLE IF EXISTS pst_alter1; CREATE TABLE pst_alter1 (a int); INSERT INTO pst_alter1 VALUES (1)");
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(prepare(a, "star", "SELECT * FROM pst_alter1").ok) << log();
  ASSERT_TRUE(prepare(b, "other_name", "SELECT * FROM pst_alter1").ok) << log();  // the same server statement
  const query_result before = exec_prepared(a, "star");
  ASSERT_TRUE(before.ok) << before.describe() << log();
  ASSERT_EQ(before.rows.at(0).size(), 1u);

  pg.exec("ALTER TABLE pst_alter1 ADD COLUMN b int DEFAULT 7");
  const query_result failed = exec_prepared(a, "star");
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error.sqlstate, "0A000") << failed.describe() << log();
  EXPECT_THAT(failed.error.message, HasSubstr("cached plan must not change result type"));

  const query_result after = exec_prepared(a, "star");
  ASSERT_TRUE(after.ok) << "the execution after the error: " << after.describe() << log();
  ASSERT_EQ(after.rows.size(), 1u);
  ASSERT_EQ(after.rows[0].size(), 2u);
  EXPECT_EQ(after.value(0, 1), "7");
  EXPECT_EQ(exec_prepared(a, "star").value(0, 1), "7");

  // B shares the server statement: it may see the error itself once (its own session would), never twice.
  query_result rb = exec_prepared(b, "other_name");
  if (!rb.ok) {
    EXPECT_EQ(rb.error.sqlstate, "0A000") << rb.describe();
    rb = exec_prepared(b, "other_name");
  }
  ASSERT_TRUE(rb.ok) << rb.describe() << log();
  EXPECT_EQ(rb.rows.at(0).size(), 2u);
}

// What drivers do on 0A000 (pgjdbc, for one): Close the statement and Parse the same text again
// under the same name. PostgreSQL then plans it afresh; the pool must not hand back its stale copy.
TEST_F(PreparedStatements, AlteredTableRecoveredByCloseAndReparse) {
  ASSERT_TRUE(start(1));
  pg_server& pg = shared_pg();
  pg.exec("DROP TABLE IF EXISTS pst_alter2; CREATE TABLE pst_alter2 (a int); INSERT INTO pst_alter2 VALUES (1)");
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  const std::string text = "SELECT * FROM pst_alter2";
  const std::string parse_bind_execute = fe::parse("star", text) + fe::bind("", "star") + fe::execute("") + fe::sync();
  auto r = raw_exchange(a, parse_bind_execute, 1);
  ASSERT_EQ(tags(r), "12DCZ") << errors(r) << log();

  pg.exec("ALTER TABLE pst_alter2 ADD COLUMN b int DEFAULT 7");
  r = raw_exchange(a, fe::bind("", "star") + fe::execute("") + fe::sync(), 1);
  ASSERT_EQ(tags(r), "EZ") << log();
  EXPECT_EQ(error_field(r[0], 'C'), "0A000") << errors(r);

  // Close, then the same Parse again: a fresh plan with both columns.
  r = raw_exchange(a, fe::close('S', "star") + fe::sync() + parse_bind_execute, 2);
  ASSERT_EQ(tags(r), "3Z12DCZ") << errors(r) << log();
  const auto values = data_values(r);
  ASSERT_EQ(values.size(), 1u);
  const auto row = std::find_if(r.begin(), r.end(), [](const be_msg& m) { return m.tag == 'D'; });
  ASSERT_NE(row, r.end());
  EXPECT_EQ(row->body.substr(0, 2), std::string("\0\2", 2)) << "the re-prepared statement has two columns";
  EXPECT_EQ(a.value("SELECT 1"), "1");
}

// ---- the server cache bound -----------------------------------------------------------------------

TEST_F(PreparedStatements, ServerCacheStaysWithinMaxPreparedStatements) {
  if (direct_target()) GTEST_SKIP() << "a direct session holds whatever its client prepares";
  ASSERT_TRUE(start(1, {"--max-prepared-statements", "50", "--admin-users", "postgres"}));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  constexpr int statements = 1000;
  for (int i = 0; i < statements; ++i) {
    const std::string name = "st" + std::to_string(i);
    const query_result p = prepare(a, name, "SELECT " + std::to_string(i) + "::int AS v");
    ASSERT_TRUE(p.ok) << name << ": " << p.describe() << log();
    const query_result e = exec_prepared(a, name);
    ASSERT_TRUE(e.ok) << name << ": " << e.describe() << log();
    ASSERT_EQ(e.value(), std::to_string(i));
  }
  // One server, so this runs where all of them were prepared.
  const std::string held = a.value("SELECT count(*) FROM pg_prepared_statements");
  EXPECT_LE(std::stoi(held), 50) << log();
  EXPECT_GT(std::stoi(held), 0);

  // Every one of the client's statements still works, the evicted ones prepared again on demand.
  for (int i = statements - 1; i >= 0; i -= 7) {
    const query_result e = exec_prepared(a, "st" + std::to_string(i));
    ASSERT_TRUE(e.ok) << "st" << i << ": " << e.describe() << log();
    ASSERT_EQ(e.value(), std::to_string(i));
  }

  // One pipelined batch that prepares more statements than the cache holds, then uses all of them:
  // the ones evicted within the batch must be back on the server before their Binds.
  ASSERT_EQ(PQenterPipelineMode(a.get()), 1);
  constexpr int batch = 80;
  for (int i = 0; i < batch; ++i) {
    const std::string name = "pb" + std::to_string(i);
    ASSERT_EQ(PQsendPrepare(a.get(), name.c_str(), ("SELECT " + std::to_string(5000 + i) + "::int").c_str(), 0,
                            nullptr),
              1);
  }
  for (int i = 0; i < batch; ++i)
    ASSERT_EQ(PQsendQueryPrepared(a.get(), ("pb" + std::to_string(i)).c_str(), 0, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(a.get()), 1);
  const auto r = read_pipeline(a.get(), 1);
  ASSERT_EQ(r.size(), 2u * batch + 1) << statuses(r) << log();
  for (int i = 0; i < batch; ++i) {
    EXPECT_EQ(r[i].status, PGRES_COMMAND_OK) << "prepare pb" << i << ": " << r[i].describe();
    EXPECT_EQ(r[batch + i].value(), std::to_string(5000 + i)) << "pb" << i << ": " << r[batch + i].describe();
  }
  ASSERT_EQ(PQexitPipelineMode(a.get()), 1);
  EXPECT_LE(std::stoi(a.value("SELECT count(*) FROM pg_prepared_statements")), 50) << log();

  // The pool's figures in SHOW POOLS say what happened: every one of the 1,080 texts was a miss
  // (sent to the server), re-executing the evicted ones injected their Parse again, at least
  // 1,080 - 50 were evicted to stay within the bound, and each Bind straight after its own
  // Parse found the statement in place.
  pq_conn console(funnel_->pooled_conninfo("postgres", "postgres", "pgbouncer"));
  ASSERT_TRUE(console.ok()) << console.error_message();
  const auto row = show_pools_row(console.get(), "postgres", "postgres");
  ASSERT_FALSE(row.empty()) << "no SHOW POOLS row for postgres/postgres";
  EXPECT_GE(std::stoll(row.at("ps_misses")), statements + batch);
  EXPECT_GE(std::stoll(row.at("ps_injected")), 1);
  EXPECT_GE(std::stoll(row.at("ps_evictions")), statements + batch - 50);
  EXPECT_GE(std::stoll(row.at("ps_hits")), statements);
}

// A cache far smaller than what the clients use: every batch evicts statements that later Binds of
// the same batch, or other clients sharing the texts, need again. Every result must still be right.
TEST_F(PreparedStatements, TinyCacheUnderConcurrentPipelinedClients) {
  if (direct_target()) GTEST_SKIP() << "no server cache on the direct listener";
  ASSERT_TRUE(start(2, {"--max-prepared-statements", "4"}));
  constexpr int threads = 6;
  constexpr int statements = 5;  // per client; texts shared between odd and even clients
  std::atomic<int> wrong{0};
  std::mutex first_mutex;
  std::string first;
  auto fail = [&](const std::string& what) {
    if (wrong++ == 0) {
      std::lock_guard lock(first_mutex);
      first = what;
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      pq_conn c(conninfo());
      if (!c.ok()) return fail("connect: " + c.error().text);
      for (int k = 0; k < statements; ++k) {
        // Client t's statement k: the same text for all clients of t's parity, under t-specific names.
        const std::string sql = "SELECT " + std::to_string((t % 2) * 100 + k) + " + $1::int";
        if (!prepare(c, "t" + std::to_string(t) + "k" + std::to_string(k), sql, 1).ok) return fail("prepare");
      }
      if (PQenterPipelineMode(c.get()) != 1) return fail("pipeline mode");
      for (int round = 0; round < 30; ++round) {
        std::vector<std::string> expected;
        for (int batch = 0; batch < 3; ++batch) {
          for (int j = 0; j < 2 * statements; ++j) {
            const int k = (j * 3 + round + batch) % statements;  // an order that changes every batch
            const std::string x = std::to_string(round * 10 + j);
            const char* v[] = {x.c_str()};
            PQsendQueryPrepared(c.get(), ("t" + std::to_string(t) + "k" + std::to_string(k)).c_str(), 1, v, nullptr,
                                nullptr, 0);
            expected.push_back(std::to_string((t % 2) * 100 + k + round * 10 + j));
          }
          PQpipelineSync(c.get());
          expected.push_back("(sync)");
        }
        const auto r = read_pipeline(c.get(), 3);
        if (r.size() != expected.size()) return fail("client " + std::to_string(t) + ": " + statuses(r));
        for (std::size_t i = 0; i < r.size(); ++i) {
          const bool ok = expected[i] == "(sync)" ? r[i].status == PGRES_PIPELINE_SYNC : r[i].value() == expected[i];
          if (!ok) return fail("client " + std::to_string(t) + " round " + std::to_string(round) + " result " +
                               std::to_string(i) + ": want " + expected[i] + "; " + statuses(r));
        }
      }
      PQexitPipelineMode(c.get());
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(wrong.load(), 0) << "first: " << first << log();
  pq_conn c = connect();
  EXPECT_LE(std::stoi(c.value("SELECT count(*) FROM pg_prepared_statements")), 4) << log();
}

// ---- duplicate names -----------------------------------------------------------------------------

TEST_F(PreparedStatements, DuplicateNameIsRejectedAndTheConnectionStaysUsable) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(prepare(a, "x", "SELECT 'first'::text").ok) << log();

  const query_result dup = prepare(a, "x", "SELECT 'second'::text");
  EXPECT_FALSE(dup.ok);
  EXPECT_EQ(dup.error.sqlstate, "42P05") << dup.describe() << log();
  EXPECT_EQ(dup.error.message, "prepared statement \"x\" already exists");
  EXPECT_EQ(a.value("SELECT 2"), "2");
  EXPECT_EQ(exec_prepared(a, "x").value(), "first") << "the failed Parse replaced the statement";

  // The same text again is a duplicate too.
  EXPECT_EQ(prepare(a, "x", "SELECT 'first'::text").error.sqlstate, "42P05");

  // Inside a transaction block it aborts the transaction, as PostgreSQL does.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  EXPECT_EQ(prepare(a, "x", "SELECT 'third'::text").error.sqlstate, "42P05");
  EXPECT_EQ(a.exec("SELECT 1").error.sqlstate, "25P02");
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "x").value(), "first");

  // In a pipelined batch: the error, the rest of the batch skipped, the next batch fine.
  auto r = raw_exchange(a,
                        fe::parse("y", "SELECT 'y'::text") + fe::parse("x", "SELECT 'dup'::text") +
                            fe::bind("", "x") + fe::execute("") + fe::sync() + fe::bind("", "y") +
                            fe::execute("") + fe::bind("", "x") + fe::execute("") + fe::sync(),
                        2);
  EXPECT_EQ(tags(r), "1EZ2DC2DCZ") << errors(r) << log();
  EXPECT_EQ(data_values(r), (std::vector<std::string>{"y", "first"}));
  if (!r.empty() && r[1].tag == 'E') {
    EXPECT_EQ(error_field(r[1], 'C'), "42P05");
    EXPECT_EQ(error_field(r[1], 'M'), "prepared statement \"x\" already exists");
  }
  EXPECT_EQ(a.value("SELECT 3"), "3");
}

// ---- DEALLOCATE ALL / DISCARD ALL -----------------------------------------------------------------

class DeallocateEverything : public PreparedStatements, public ::testing::WithParamInterface<const char*> {};

TEST_P(DeallocateEverything, ClearsOnlyThatClientsStatements) {
  ASSERT_TRUE(start(1));  // one server: A's command certainly runs where B's statements are
  const std::string sql = GetParam();
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string shared_text = "SELECT 100 + $1::int";
  for (pq_conn* c : {&a, &b}) ASSERT_TRUE(prepare(*c, "shared", shared_text, 1).ok) << log();
  ASSERT_TRUE(prepare(a, "a_only", "SELECT 'a'::text").ok);
  ASSERT_TRUE(prepare(b, "b_only", "SELECT 'b'::text").ok);
  ASSERT_EQ(exec_prepared(a, "shared", {"1"}).value(), "101");
  ASSERT_EQ(exec_prepared(b, "shared", {"2"}).value(), "102");

  const query_result done = a.exec(sql);
  ASSERT_TRUE(done.ok) << sql << ": " << done.describe() << log();
  const query_result gone = exec_prepared(a, "shared", {"1"});
  EXPECT_EQ(gone.error.sqlstate, "26000") << gone.describe() << log();
  EXPECT_EQ(gone.error.message, "prepared statement \"shared\" does not exist");
  EXPECT_EQ(exec_prepared(a, "a_only").error.sqlstate, "26000");
  // B's statements, on the same server, keep working.
  for (int i = 0; i < 3; ++i) {
    const query_result s = exec_prepared(b, "shared", {std::to_string(i)});
    EXPECT_TRUE(s.ok) << s.describe() << log();
    EXPECT_EQ(s.value(), std::to_string(100 + i));
    EXPECT_EQ(exec_prepared(b, "b_only").value(), "b");
  }
  // A's names are free again.
  ASSERT_TRUE(prepare(a, "shared", "SELECT 200 + $1::int", 1).ok) << log();
  EXPECT_EQ(exec_prepared(a, "shared", {"1"}).value(), "201");
  EXPECT_EQ(exec_prepared(b, "shared", {"1"}).value(), "101");
}

TEST_P(DeallocateEverything, InAnAbortedTransactionChangesNothing) {
  ASSERT_TRUE(start(1));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(prepare(a, "keep", "SELECT 'kept'::text").ok) << log();
  ASSERT_TRUE(a.exec("BEGIN").ok);
  EXPECT_EQ(a.exec("SELECT 1/0").error.sqlstate, "22012");
  EXPECT_EQ(a.exec(GetParam()).error.sqlstate, "25P02");
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "keep").value(), "kept") << log();
}

INSTANTIATE_TEST_SUITE_P(Commands, DeallocateEverything,
                         ::testing::Values("DEALLOCATE ALL", "DISCARD ALL", "deallocate prepare all ;"),
                         [](const auto& info) {
                           std::string n;
                           for (char ch : std::string(info.param))
                             if (std::isalnum(static_cast<unsigned char>(ch))) n += ch;
                           return n + std::to_string(info.index);
                         });

TEST_F(PreparedStatements, DiscardAllInsideATransactionBlockFailsAndKeepsStatements) {
  ASSERT_TRUE(start(1));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(prepare(a, "keep", "SELECT 'kept'::text").ok) << log();
  ASSERT_TRUE(a.exec("BEGIN").ok);
  EXPECT_EQ(a.exec("DISCARD ALL").error.sqlstate, "25001");
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "keep").value(), "kept") << log();

  // DEALLOCATE ALL is allowed in a block and, like any DEALLOCATE, not undone by ROLLBACK.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(a.exec("DEALLOCATE ALL").ok);
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "keep").error.sqlstate, "26000") << log();
}

// The header: `DEALLOCATE name` of one of the client's statements drops only its mapping (the
// server runs a stand-in that answers "DEALLOCATE" and fails where the original would); a name the
// client does not have goes to the server, which answers 26000 itself.
TEST_F(PreparedStatements, DeallocateOneNameInSql) {
  ASSERT_TRUE(start(1));
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(prepare(a, "one", "SELECT 'one'::text").ok) << log();
  ASSERT_TRUE(prepare(a, "two", "SELECT 'two'::text").ok);
  ASSERT_TRUE(prepare(a, "MixedCase", "SELECT 'mixed'::text").ok);
  ASSERT_TRUE(prepare(b, "one", "SELECT 'one'::text").ok);  // same name and text: one server statement

  auto [dealloc, tag] = exec_with_tag(a, "DEALLOCATE one");
  ASSERT_TRUE(dealloc.ok) << dealloc.describe() << log();
  EXPECT_EQ(tag, "DEALLOCATE");
  EXPECT_EQ(exec_prepared(a, "one").error.sqlstate, "26000");
  EXPECT_EQ(exec_prepared(a, "two").value(), "two");
  EXPECT_EQ(exec_prepared(b, "one").value(), "one") << "B lost its statement to A's DEALLOCATE" << log();

  // Again: the name is gone, PostgreSQL's own error.
  const query_result again = a.exec("DEALLOCATE one");
  EXPECT_EQ(again.error.sqlstate, "26000") << again.describe();
  EXPECT_EQ(again.error.message, "prepared statement \"one\" does not exist");
  EXPECT_EQ(a.value("SELECT 4"), "4");

  ASSERT_TRUE(a.exec("DEALLOCATE PREPARE two;").ok) << log();
  EXPECT_EQ(exec_prepared(a, "two").error.sqlstate, "26000");

  // Identifiers fold as in PostgreSQL: unquoted is lower case.
  EXPECT_EQ(a.exec("DEALLOCATE MixedCase").error.sqlstate, "26000");
  EXPECT_EQ(exec_prepared(a, "MixedCase").value(), "mixed");
  ASSERT_TRUE(a.exec("DEALLOCATE \"MixedCase\"").ok) << log();
  EXPECT_EQ(exec_prepared(a, "MixedCase").error.sqlstate, "26000");

  // In an aborted transaction it fails and the statement stays.
  ASSERT_TRUE(prepare(a, "three", "SELECT 'three'::text").ok);
  ASSERT_TRUE(a.exec("BEGIN").ok);
  EXPECT_EQ(a.exec("SELECT 1/0").error.sqlstate, "22012");
  EXPECT_EQ(a.exec("DEALLOCATE three").error.sqlstate, "25P02");
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "three").value(), "three") << log();

  // The name is free for a new statement.
  ASSERT_TRUE(prepare(a, "one", "SELECT 'one again'::text").ok) << log();
  EXPECT_EQ(exec_prepared(a, "one").value(), "one again");
  EXPECT_EQ(exec_prepared(b, "one").value(), "one");
}

// Drivers also send DEALLOCATE as an extended-protocol query (an unnamed Parse/Bind/Execute), not
// only as a simple Query: the same meaning, PostgreSQL answers both alike.
TEST_F(PreparedStatements, DeallocateThroughTheExtendedProtocol) {
  ASSERT_TRUE(start(1));
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  for (pq_conn* c : {&a, &b}) {
    ASSERT_TRUE(prepare(*c, "e1", "SELECT 'e1'::text").ok) << log();
    ASSERT_TRUE(prepare(*c, "e2", "SELECT 'e2'::text").ok) << log();
  }
  const query_result one = a.exec_params("DEALLOCATE e1", {});
  ASSERT_TRUE(one.ok) << one.describe() << log();
  EXPECT_EQ(exec_prepared(a, "e1").error.sqlstate, "26000") << log();
  EXPECT_EQ(exec_prepared(a, "e2").value(), "e2") << log();
  EXPECT_EQ(exec_prepared(b, "e1").value(), "e1") << log();

  const query_result all = a.exec_params("DEALLOCATE ALL", {});
  ASSERT_TRUE(all.ok) << all.describe() << log();
  EXPECT_EQ(exec_prepared(a, "e2").error.sqlstate, "26000") << log();
  EXPECT_EQ(exec_prepared(b, "e1").value(), "e1") << log();
  EXPECT_EQ(exec_prepared(b, "e2").value(), "e2") << log();
  ASSERT_TRUE(prepare(a, "e2", "SELECT 'e2 again'::text").ok) << log();
  EXPECT_EQ(exec_prepared(a, "e2").value(), "e2 again");
}

// SQL that drops every statement of the server without being exactly DEALLOCATE ALL / DISCARD ALL.
// Other clients sharing that server must not be broken by it. What A's own statements become is not
// asserted here (PostgreSQL would drop them; the pool may keep them).
class HiddenDeallocate : public PreparedStatements, public ::testing::WithParamInterface<const char*> {};

TEST_P(HiddenDeallocate, OtherClientsKeepTheirStatements) {
  ASSERT_TRUE(start(1));  // A's SQL runs on the server B's statements are on
  pg_server& pg = shared_pg();
  pg.exec("CREATE OR REPLACE FUNCTION pst_drop_all() RETURNS int LANGUAGE sql AS 'DEALLOCATE ALL; SELECT 1'");
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(prepare(b, "bs", "SELECT 'b-hidden'::text").ok) << log();
  ASSERT_EQ(exec_prepared(b, "bs").value(), "b-hidden") << log();
  ASSERT_TRUE(prepare(a, "as", "SELECT 'b-hidden'::text").ok) << log();  // the same server statement

  const query_result r = a.exec(GetParam());
  ASSERT_TRUE(r.ok) << GetParam() << ": " << r.describe() << log();
  if (!direct_target()) {
    pq_conn c = connect();
    ASSERT_EQ(c.value("SELECT count(*) FROM pg_prepared_statements"), "0")
        << "the server still has statements: the SQL did not do what this test is about";
  }

  const query_result first = exec_prepared(b, "bs");
  if (std::string_view(GetParam()).find("pst_drop_all") != std::string_view::npos) {
    // Nothing in the text says so: the pool can only learn it from the server's 26000, once.
    if (!first.ok) {
      EXPECT_EQ(first.error.sqlstate, "26000") << first.describe();
    }
  } else {
    EXPECT_TRUE(first.ok) << first.describe() << log();
  }
  for (int i = 0; i < 3; ++i) {
    const query_result again = exec_prepared(b, "bs");
    EXPECT_TRUE(again.ok) << "execution " << i + 2 << ": " << again.describe() << log();
    EXPECT_EQ(again.value(), "b-hidden");
  }
  // A new client preparing the same text gets a working statement too.
  pq_conn d = connect();
  ASSERT_TRUE(prepare(d, "ds", "SELECT 'b-hidden'::text").ok) << log();
  const query_result ds = exec_prepared(d, "ds");
  EXPECT_TRUE(ds.ok) << ds.describe() << log();
}

INSTANTIATE_TEST_SUITE_P(Sql, HiddenDeallocate,
                         ::testing::Values("SELECT 1; DEALLOCATE ALL", "/* maintenance */ DISCARD ALL",
                                           "SELECT pst_drop_all()"),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

// ---- protocol Close -------------------------------------------------------------------------------

TEST_F(PreparedStatements, CloseDropsOnlyTheClientsName) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  for (pq_conn* c : {&a, &b}) ASSERT_TRUE(prepare(*c, "s", "SELECT 'same'::text").ok) << log();

  auto r = raw_exchange(a, fe::close('S', "s") + fe::sync(), 1);
  EXPECT_EQ(tags(r), "3Z") << errors(r) << log();
  EXPECT_EQ(exec_prepared(a, "s").error.sqlstate, "26000");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(exec_prepared(b, "s").value(), "same") << log();

  // Closing a name that does not exist is no error, as in PostgreSQL.
  r = raw_exchange(a, fe::close('S', "never") + fe::sync(), 1);
  EXPECT_EQ(tags(r), "3Z") << errors(r);

  ASSERT_TRUE(prepare(a, "s", "SELECT 'different'::text").ok) << log();
  EXPECT_EQ(exec_prepared(a, "s").value(), "different");
  EXPECT_EQ(exec_prepared(b, "s").value(), "same");
}

TEST_F(PreparedStatements, PipelinedParseCloseAndReparseAnswerInOrder) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  // Batch 1: p1 is prepared, used, closed; p2 has the same text (the server may have it already, so
  // its ParseComplete may be made up by the pool); p1 again with another text. Batch 2 reuses both.
  const std::string bytes =
      fe::parse("p1", "SELECT 1") + fe::bind("", "p1") + fe::execute("") + fe::close('S', "p1") +
      fe::parse("p2", "SELECT 1") + fe::bind("", "p2") + fe::execute("") + fe::parse("p1", "SELECT 2") +
      fe::describe('S', "p1") + fe::bind("", "p1") + fe::execute("") + fe::sync() +
      fe::bind("", "p2") + fe::execute("") + fe::close('S', "p2") + fe::bind("", "p1") + fe::execute("") +
      fe::sync();
  const auto r = raw_exchange(a, bytes, 2);
  EXPECT_EQ(tags(r), "12DC312DC1tT2DCZ" "2DC32DCZ") << errors(r) << log();
  EXPECT_EQ(data_values(r), (std::vector<std::string>{"1", "1", "2", "1", "2"}));
  EXPECT_EQ(exec_prepared(a, "p2").error.sqlstate, "26000");
  EXPECT_EQ(exec_prepared(a, "p1").value(), "2");
}

// ---- statements and transactions, failed Parses ----------------------------------------------------

TEST_F(PreparedStatements, PreparedStatementsAreNotTransactional) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  // Prepared in a transaction that is rolled back: it stays (PostgreSQL's rule).
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(prepare(a, "rb", "SELECT 'survives rollback'::text").ok) << log();
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "rb").value(), "survives rollback") << log();

  // A Parse in an aborted transaction fails, and the name stays free.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  EXPECT_EQ(a.exec("SELECT 1/0").error.sqlstate, "22012");
  EXPECT_EQ(prepare(a, "ab", "SELECT 'aborted'::text").error.sqlstate, "25P02");
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(exec_prepared(a, "ab").error.sqlstate, "26000") << log();
  ASSERT_TRUE(prepare(a, "ab", "SELECT 'after abort'::text").ok) << log();
  EXPECT_EQ(exec_prepared(a, "ab").value(), "after abort");

  // A Parse the server rejects leaves no name behind either.
  const query_result bad = prepare(a, "bad", "SELEC 1");
  EXPECT_EQ(bad.error.sqlstate, "42601") << bad.describe();
  EXPECT_EQ(exec_prepared(a, "bad").error.sqlstate, "26000") << log();
  ASSERT_TRUE(prepare(a, "bad", "SELECT 'fixed'::text").ok) << log();
  EXPECT_EQ(exec_prepared(a, "bad").value(), "fixed");
}

// An error early in a pipelined batch: the server skips everything up to Sync, Parses included;
// those names must not exist afterwards, the ones prepared before the error must.
TEST_F(PreparedStatements, ErrorMidBatchUndoesTheSkippedParses) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(prepare(a, "early", "SELECT 'early'::text").ok) << log();
  const std::string first_pid = backend_pid(a);
  ASSERT_TRUE(a.exec("COMMIT").ok);
  pq_conn holder = hold_server(first_pid);  // "early" has to be injected on the other server
  if (!direct_target()) {
    ASSERT_TRUE(holder.ok());
  }

  auto r = raw_exchange(a,
                        fe::parse("before", "SELECT 'before'::text") + fe::bind("", "early") + fe::execute("") +
                            fe::parse("", "SELECT 1/0") + fe::bind("", "") + fe::execute("") +
                            fe::parse("after", "SELECT 'after'::text") + fe::bind("", "after") +
                            fe::execute("") + fe::close('S', "early") + fe::sync(),
                        1);
  EXPECT_EQ(tags(r), "12DC1EZ") << errors(r) << log();  // 1/0 fails when planned, at Bind
  EXPECT_EQ(data_values(r), std::vector<std::string>{"early"});
  EXPECT_EQ(errors(r), "22012 division by zero");

  // "after" was never prepared, the Close of "early" never happened, "before" exists.
  r = raw_exchange(a, fe::bind("", "after") + fe::execute("") + fe::sync() + fe::bind("", "early") +
                          fe::execute("") + fe::bind("", "before") + fe::execute("") + fe::sync(),
                   2);
  EXPECT_EQ(tags(r), "EZ2DC2DCZ") << errors(r) << log();
  if (!r.empty() && r[0].tag == 'E') {
    EXPECT_EQ(error_field(r[0], 'C'), "26000");
    EXPECT_EQ(error_field(r[0], 'M'), "prepared statement \"after\" does not exist");
  }
  EXPECT_EQ(data_values(r), (std::vector<std::string>{"early", "before"}));
  ASSERT_TRUE(prepare(a, "after", "SELECT 'after, for real'::text").ok) << log();
  EXPECT_EQ(exec_prepared(a, "after").value(), "after, for real");
}

// What the pool rewrites in a Bind must leave the rest of it intact: formats, binary values, many
// parameters; parameter types are part of a statement's identity; names are any string.
TEST_F(PreparedStatements, BindDetailsTypesAndNamesSurviveTheRewrite) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  pq_conn b = connect();
  ASSERT_TRUE(a.ok() && b.ok());

  // The same text with different declared parameter types: two different statements.
  const Oid int4 = 23, text_oid = 25;
  ASSERT_TRUE(take_result(a.get(), PQprepare(a.get(), "typed", "SELECT $1", 1, &int4)).ok) << log();
  ASSERT_TRUE(take_result(b.get(), PQprepare(b.get(), "typed", "SELECT $1", 1, &text_oid)).ok) << log();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(exec_prepared(a, "typed", {"007"}).value(), "7");
    EXPECT_EQ(exec_prepared(b, "typed", {"007"}).value(), "007");
  }

  // A binary parameter and a binary result.
  ASSERT_TRUE(prepare(a, "bin", "SELECT $1::int4 + 1", 1).ok) << log();
  const unsigned char forty_one[4] = {0, 0, 0, 41};
  const char* values[] = {reinterpret_cast<const char*>(forty_one)};
  const int lengths[] = {4};
  const int formats[] = {1};
  PGresult* res = PQexecPrepared(a.get(), "bin", 1, values, lengths, formats, 1);
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQresultErrorMessage(res) << log();
  ASSERT_EQ(PQgetlength(res, 0, 0), 4);
  EXPECT_EQ(std::string(PQgetvalue(res, 0, 0), 4), std::string("\0\0\0\x2a", 4));
  PQclear(res);

  // Many parameters.
  std::string sql = "SELECT 0";
  std::vector<std::string> params;
  for (int i = 1; i <= 300; ++i) {
    sql += " + $" + std::to_string(i) + "::int";
    params.push_back(std::to_string(i));
  }
  ASSERT_TRUE(prepare(a, "many", sql, 300).ok) << log();
  EXPECT_EQ(exec_prepared(a, "many", params).value(), "45150");

  // Names: long (PostgreSQL tells names apart by their first 63 bytes), spaces and quotes, UTF-8.
  const std::vector<std::string> names{std::string(200, 'n'), "n", "with space \"and quotes\"", "ünïcödé-名前",
                                       "DROP TABLE x; --"};
  for (std::size_t i = 0; i < names.size(); ++i)
    ASSERT_TRUE(prepare(a, names[i], "SELECT " + std::to_string(i)).ok) << names[i] << log();
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(exec_prepared(a, names[i]).value(), std::to_string(i)) << names[i];
  const query_result dealloc = a.exec("DEALLOCATE \"with space \"\"and quotes\"\"\"");
  EXPECT_TRUE(dealloc.ok) << dealloc.describe() << log();
  EXPECT_EQ(exec_prepared(a, names[2]).error.sqlstate, "26000");
  EXPECT_EQ(exec_prepared(a, names[3]).value(), "3");
}

// ---- errors of injected Parses --------------------------------------------------------------------

TEST_F(PreparedStatements, InjectedParseErrorIsTheAnswerToTheClientsOwnRequest) {
  ASSERT_TRUE(start(2));
  pg_server& pg = shared_pg();
  pg.exec("DROP TABLE IF EXISTS pst_gone; CREATE TABLE pst_gone (x int); INSERT INTO pst_gone VALUES (5)");
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(prepare(a, "q", "SELECT * FROM pst_gone").ok) << log();
  ASSERT_EQ(exec_prepared(a, "q").value(), "5");
  const std::string first_pid = backend_pid(a);
  ASSERT_TRUE(a.exec("COMMIT").ok);

  pg.exec("DROP TABLE pst_gone");
  pq_conn holder = hold_server(first_pid);
  if (!direct_target()) {
    ASSERT_TRUE(holder.ok());
  }

  // On the other server q has to be prepared first, and that fails: the client sees the error as the
  // reply to its own Execute, and nothing else.
  const query_result e = exec_prepared(a, "q");
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.error.sqlstate, "42P01") << e.describe() << log();
  EXPECT_EQ(e.error.message, "relation \"pst_gone\" does not exist");
  EXPECT_EQ(a.value("SELECT 1"), "1");
  ASSERT_TRUE(a.exec("BEGIN").ok);
  const std::string pid_now = backend_pid(a);
  ASSERT_TRUE(a.exec("COMMIT").ok);
  if (!direct_target()) {
    EXPECT_NE(pid_now, first_pid);
  }

  // The exact replies, pipelined with a batch behind it: ErrorResponse, ReadyForQuery, then the next
  // batch in full (no ParseComplete of the injected Parse, no reply for the skipped Bind).
  auto r = raw_exchange(a,
                        fe::bind("", "q") + fe::execute("") + fe::sync() + fe::parse("", "SELECT 2") +
                            fe::bind("", "") + fe::execute("") + fe::sync(),
                        2);
  EXPECT_EQ(tags(r), "EZ12DCZ") << errors(r) << log();
  if (!r.empty() && r[0].tag == 'E') {
    EXPECT_EQ(error_field(r[0], 'C'), "42P01");
  }
  EXPECT_EQ(data_values(r), std::vector<std::string>{"2"});

  // Describe needs it too.
  PGresult* d = PQdescribePrepared(a.get(), "q");
  EXPECT_EQ(PQresultStatus(d), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(d, PG_DIAG_SQLSTATE), "42P01");
  PQclear(d);

  // In a transaction block the failure aborts the block, like any error.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  EXPECT_EQ(exec_prepared(a, "q").error.sqlstate, "42P01");
  EXPECT_EQ(a.exec("SELECT 1").error.sqlstate, "25P02");
  ASSERT_TRUE(a.exec("ROLLBACK").ok);

  // With the table back, q works wherever it runs.
  pg.exec("CREATE TABLE pst_gone (x int); INSERT INTO pst_gone VALUES (6)");
  if (holder.ok()) {
    EXPECT_TRUE(holder.exec("COMMIT").ok);
  }
  holder.close();
  for (int i = 0; i < 4; ++i) {
    const query_result ok = exec_prepared(a, "q");
    EXPECT_TRUE(ok.ok) << ok.describe() << log();
    EXPECT_EQ(ok.value(), "6");
  }
}

// ---- unnamed statements ---------------------------------------------------------------------------

TEST_F(PreparedStatements, UnnamedStatementsInterleaveWithNamedOnes) {
  ASSERT_TRUE(start(2));
  std::atomic<int> wrong{0};
  std::mutex first_mutex;
  std::string first;
  auto fail = [&](const std::string& what) {
    if (wrong++ == 0) {
      std::lock_guard lock(first_mutex);
      first = what;
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      pq_conn c(conninfo());
      if (!c.ok()) return fail("connect: " + c.error().text);
      if (!prepare(c, "triple", "SELECT $1::int * 3", 1).ok) return fail("prepare");
      for (int i = 0; i < 100; ++i) {
        const std::string x = std::to_string(t * 1000 + i);
        const query_result u = c.exec_params("SELECT $1::int * 2", {x});
        if (u.value() != std::to_string((t * 1000 + i) * 2)) fail("unnamed " + x + ": " + u.describe());
        const query_result n = exec_prepared(c, "triple", {x});
        if (n.value() != std::to_string((t * 1000 + i) * 3)) fail("named " + x + ": " + n.describe());
      }
      // Both kinds in one pipelined batch, and an unnamed Parse between the named one's uses.
      if (PQenterPipelineMode(c.get()) != 1) return fail("pipeline mode");
      const char* v[] = {"5"};
      PQsendQueryParams(c.get(), "SELECT $1::int * 2", 1, nullptr, v, nullptr, nullptr, 0);
      PQsendQueryPrepared(c.get(), "triple", 1, v, nullptr, nullptr, 0);
      PQsendQueryParams(c.get(), "SELECT $1::int * 4", 1, nullptr, v, nullptr, nullptr, 0);
      PQsendQueryPrepared(c.get(), "triple", 1, v, nullptr, nullptr, 0);
      PQpipelineSync(c.get());
      const auto r = read_pipeline(c.get(), 1);
      if (r.size() != 5 || r[0].value() != "10" || r[1].value() != "15" || r[2].value() != "20" ||
          r[3].value() != "15")
        fail("pipeline: " + statuses(r));
      PQexitPipelineMode(c.get());
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(wrong.load(), 0) << "first: " << first << log();

  // Unnamed statements never reach the server's list of prepared statements.
  if (!direct_target()) {
    pq_conn c = connect();
    EXPECT_EQ(c.exec_params("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int * 2%'", {})
                  .value(),
              "0");
  }
}

// Each client has its own unnamed statement, as each PostgreSQL session does: another client's
// Parse of "" on the shared server, or its simple Query (which drops the server's unnamed
// statement), changes nothing for it. Differential: the same steps straight to PostgreSQL.
query_result describe_prepared(pq_conn& c, const std::string& name) {
  return take_result(c.get(), PQdescribePrepared(c.get(), name.c_str()));
}

std::vector<std::string> unnamed_statement_steps(const std::string& conninfo) {
  pq_conn a(conninfo), b(conninfo);
  std::vector<std::string> seen;
  if (!a.ok() || !b.ok()) return {"connect failed"};
  auto describe = [&](pq_conn& c) {
    query_result r = describe_prepared(c, "");
    if (!r.ok) return "error " + r.error.sqlstate + " " + r.error.message;
    return std::string("columns ") + std::to_string(r.rows.size());
  };
  seen.push_back(prepare(a, "", "SELECT 'A' AS a").describe());
  seen.push_back(prepare(b, "", "SELECT 'B' AS b, 2 AS two").describe());
  seen.push_back("a runs " + exec_prepared(a, "").value());
  seen.push_back("b runs " + exec_prepared(b, "").value());
  PGresult* d = PQdescribePrepared(a.get(), "");
  seen.push_back(d != nullptr && PQresultStatus(d) == PGRES_COMMAND_OK
                     ? "a describes " + std::to_string(PQnfields(d)) + " " + PQfname(d, 0)
                     : "a describe failed: " + std::string(PQerrorMessage(a.get())));
  PQclear(d);
  seen.push_back("b query " + b.value("SELECT 'other'"));  // drops the server's unnamed statement
  d = PQdescribePrepared(a.get(), "");
  seen.push_back(d != nullptr && PQresultStatus(d) == PGRES_COMMAND_OK
                     ? "a describes " + std::to_string(PQnfields(d)) + " " + PQfname(d, 0)
                     : "a describe failed: " + std::string(PQerrorMessage(a.get())));
  PQclear(d);
  seen.push_back("a runs " + exec_prepared(a, "").value());
  // b's own simple Query dropped its unnamed statement: PostgreSQL says so, and so must pgfunnel
  // (not run a's).
  seen.push_back("b after query: " + describe(b));
  seen.push_back("b runs after query: " + exec_prepared(b, "").describe());
  seen.push_back("a runs " + exec_prepared(a, "").value());
  return seen;
}

TEST_F(PreparedStatements, UnnamedStatementIsEachClientsOwn) {
  ASSERT_TRUE(start(1));  // one server: both clients share it
  const std::vector<std::string> direct = unnamed_statement_steps(shared_pg().conninfo());
  ASSERT_EQ(direct.size(), 11u);
  EXPECT_EQ(direct[2], "a runs A");
  EXPECT_EQ(direct[6], "a describes 1 a");
  const std::vector<std::string> pooled = unnamed_statement_steps(conninfo());
  EXPECT_EQ(pooled, direct) << log();
}

// A Parse of "" that the server skips, because an earlier message of the same pipeline failed, leaves
// the client the unnamed statement it had (PostgreSQL never ran that Parse). libpq pipeline mode;
// differential: the same steps straight to PostgreSQL.
std::vector<std::string> skipped_unnamed_parse_steps(const std::string& conninfo) {
  pq_conn a(conninfo);
  if (!a.ok()) return {"connect failed"};
  std::vector<std::string> seen;
  seen.push_back(prepare(a, "", "SELECT 'A'::text AS a").describe());
  PGconn* c = a.get();
  if (PQenterPipelineMode(c) != 1) return {"no pipeline mode"};
  // A Bind of a statement nobody prepared fails; the Parse of "" behind it is skipped.
  const bool sent = PQsendQueryPrepared(c, "pst_nonexistent", 0, nullptr, nullptr, nullptr, 0) == 1 &&
                    PQsendPrepare(c, "", "SELECT 'skipped'::text AS skipped", 0, nullptr) == 1 &&
                    PQpipelineSync(c) == 1;
  if (!sent) return {"send failed: " + a.error_message()};
  for (bool synced = false; !synced;) {
    PGresult* r = PQgetResult(c);
    if (r == nullptr) continue;  // the end of one query's results
    const ExecStatusType st = PQresultStatus(r);
    synced = st == PGRES_PIPELINE_SYNC;
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    seen.push_back(std::string(PQresStatus(st)) + (code ? std::string(" ") + code : std::string()));
    PQclear(r);
  }
  if (PQexitPipelineMode(c) != 1) return {"pipeline did not end: " + a.error_message()};
  seen.push_back("a runs " + exec_prepared(a, "").describe() + " " + exec_prepared(a, "").value());
  const query_result d = describe_prepared(a, "");
  seen.push_back("a describes " + d.describe());
  return seen;
}

TEST_F(PreparedStatements, SkippedUnnamedParseKeepsTheClientsStatement) {
  ASSERT_TRUE(start(1));
  const std::vector<std::string> direct = skipped_unnamed_parse_steps(shared_pg().conninfo());
  ASSERT_EQ(direct.size(), 6u);
  EXPECT_EQ(direct[4], "a runs ok A");
  EXPECT_EQ(skipped_unnamed_parse_steps(conninfo()), direct) << log();
}

// The unnamed statement follows its client to another server, like a named one.
TEST_F(PreparedStatements, UnnamedStatementFollowsItsClientAcrossTransactions) {
  ASSERT_TRUE(start(2));
  pq_conn a = connect();
  // No simple Query on a: it would drop a's unnamed statement (PostgreSQL does).
  ASSERT_TRUE(prepare(a, "", "SELECT pg_backend_pid()::text, $1::int + 100", 1).ok);
  const query_result first = exec_prepared(a, "", {"1"});
  ASSERT_EQ(first.value(0, 1), "101") << first.describe() << log();
  const std::string pid = first.value();
  // a's next transaction cannot run on that server: it is held by another client.
  pq_conn holder = hold_server(pid);
  if (!direct_target()) ASSERT_TRUE(holder.ok()) << log();
  const query_result r = exec_prepared(a, "", {"5"});
  EXPECT_EQ(r.value(0, 1), "105") << r.describe() << log();
  if (!direct_target()) EXPECT_NE(r.value(), pid) << "a was meant to run on another server";
  if (holder.ok()) EXPECT_TRUE(holder.exec("COMMIT").ok);
}

// ---- a client that vanishes mid-pipeline ----------------------------------------------------------

TEST_F(PreparedStatements, ClientVanishingMidPipelineLeavesNothingBehind) {
  ASSERT_TRUE(start(1));  // one server: every next client gets the one the vanished client had
  pg_server& pg = shared_pg();
  for (int i = 0; i < 12; ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(i);
    {
      pq_conn v = connect();
      ASSERT_TRUE(v.ok());
      ASSERT_EQ(PQenterPipelineMode(v.get()), 1);
      // A complete batch, then one that fails before a Parse that the server therefore skips, never synced.
      const char* one[] = {"1"};
      PQsendPrepare(v.get(), "v", ("SELECT 'v-" + tag + "'::text || $1").c_str(), 1, nullptr);
      PQsendQueryPrepared(v.get(), "v", 1, one, nullptr, nullptr, 0);
      PQpipelineSync(v.get());
      PQsendPrepare(v.get(), "w", ("SELECT 'w-" + tag + "'::text").c_str(), 0, nullptr);
      PQsendQueryParams(v.get(), "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0);
      PQsendPrepare(v.get(), "x", ("SELECT 'x-" + tag + "'::text").c_str(), 0, nullptr);
      PQsendQueryPrepared(v.get(), "x", 0, nullptr, nullptr, nullptr, 0);
      if (i % 3 != 0) {
        // Wait until the server has failed the batch (its error is the 5th result).
        PQsendFlushRequest(v.get());
        PQflush(v.get());
        int results = 0;
        int nulls = 0;
        bool saw_error = false;
        while (!saw_error && results < 8 && nulls < 2 && PQstatus(v.get()) == CONNECTION_OK) {
          PGresult* res = PQgetResult(v.get());
          if (res == nullptr) {
            ++nulls;
            continue;
          }
          nulls = 0;
          ++results;
          saw_error = PQresultStatus(res) == PGRES_FATAL_ERROR;
          PQclear(res);
        }
        EXPECT_TRUE(saw_error) << log();
      } else {
        PQflush(v.get());  // gone right after sending
      }
      if (i % 2 == 0) v.drop_abruptly();
      else v.close();  // Terminate in the middle of the batch
    }

    pq_conn next = connect();
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next.value("SELECT pg_current_xact_id_if_assigned() IS NULL"), "t") << log();
    // The same texts under the same names: x and w were never (or only maybe) prepared on the
    // server; the pool must prepare them for real, not believe they are there.
    for (const char* name : {"v", "w", "x"}) {
      const std::string text = std::string(name) == "v" ? "SELECT 'v-" + tag + "'::text || $1"
                                                         : "SELECT '" + std::string(name) + "-" + tag + "'::text";
      const bool with_param = std::string(name) == "v";
      const query_result p = prepare(next, name, text, with_param ? 1 : 0);
      ASSERT_TRUE(p.ok) << name << ": " << p.describe() << log();
      const query_result e = exec_prepared(next, name, with_param ? std::vector<std::string>{"2"}
                                                                  : std::vector<std::string>{});
      EXPECT_TRUE(e.ok) << name << ": " << e.describe() << log();
      EXPECT_EQ(e.value(), std::string(name) + "-" + tag + (with_param ? "2" : ""));
    }
  }
  pq_conn last = connect();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last.value("SELECT 42"), "42");
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"), "0");
  if (!direct_target()) {
    EXPECT_LE(upstream_connections(funnel_->pid(), pg.port()), 1) << "more servers than pool_size";
    // Bounded by the default cache size (200), whatever the vanished clients prepared.
    EXPECT_LE(std::stoi(last.value("SELECT count(*) FROM pg_prepared_statements")), 200);
  }
}

}  // namespace
}  // namespace pgfunnel::test
