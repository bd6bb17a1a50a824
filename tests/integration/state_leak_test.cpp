// Integration: clients that vanish mid-transaction (Terminate, socket shutdown, kill -9, mid-query, unsynced batch) leave a clean server for the next client.
#include <chrono>
#include <fstream>
#include <iostream>
#include <csignal>
#include <string>
#include <thread>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;

class StateLeak : public ::testing::Test {
 protected:
  void SetUp() override {
    default_statement_timeout_ = shared_pg().query_value("SHOW statement_timeout");
    // pool_size 1: the next client necessarily gets the server the vanished client held. A short
    // query_wait_timeout turns a server that never comes back into a quick, visible failure.
    funnel_ = std::make_unique<pgfunnel_process>(std::vector<std::string>{
        "--upstream", shared_pg().url(), "--pool-size", "1", "--query-wait-timeout", "5s", "--log-level", "debug"});
  }

  // The dirtying transaction of every scenario, on a client of the pooled listener.
  static void dirty(pq_conn& c) {
    for (const char* sql : {"BEGIN", "SET LOCAL statement_timeout = '1s'", "CREATE TEMP TABLE t (x int)",
                            "INSERT INTO t VALUES (1)"}) {
      const query_result r = c.exec(sql);
      ASSERT_TRUE(r.ok) << sql << ": " << r.describe();
    }
    ASSERT_EQ(c.value("SHOW statement_timeout"), "1s");
  }

  // A new client of the same (only) server sees none of the vanished client's transaction.
  // The backend `pid` logged PostgreSQL's own "canceling statement due to user request" (its
  // pg_sleep did not simply run out): waits for the line, up to 10 s.
  static bool server_cancelled(const std::string& pid) {
    const std::string line = "[" + pid + "] ";
    for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         std::chrono::steady_clock::now() < deadline;) {
      std::ifstream in(shared_pg().log_path());
      for (std::string l; std::getline(in, l);)
        if (l.find(line) != std::string::npos && l.find("canceling statement due to user request") != std::string::npos)
          return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void expect_clean_server(const std::string& dirty_pid) {
    pq_conn next(funnel_->pooled_conninfo());
    ASSERT_TRUE(next.ok()) << next.error().text;
    const query_result xact = next.exec("SELECT pg_current_xact_id_if_assigned() IS NULL");
    ASSERT_TRUE(xact.ok) << xact.describe() << "\n--- pgfunnel log:\n" << funnel_->log();
    EXPECT_EQ(xact.value(), "t") << "the next client runs inside the vanished client's transaction";
    EXPECT_EQ(next.value("SHOW statement_timeout"), default_statement_timeout_);
    EXPECT_EQ(next.value("SELECT count(*) FROM pg_class WHERE relname = 't' AND relpersistence = 't'"), "0")
        << "the vanished client's temp table is still there";
    EXPECT_EQ(next.value("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"), "0");
    // Rolled back and reused, or closed and replaced: either is fine, as long as it is clean.
    const std::string pid = next.value("SELECT pg_backend_pid()");
    std::cout << "[ info ] next client on backend " << pid << " (vanished client had " << dirty_pid << ", "
              << (pid == dirty_pid ? "reused" : "replaced") << ")\n";
    EXPECT_EQ(next.value("SELECT 42"), "42");
  }

  std::string default_statement_timeout_;
  std::unique_ptr<pgfunnel_process> funnel_;
};

TEST_F(StateLeak, ClientThatFinishesWithoutCommit) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  ASSERT_NO_FATAL_FAILURE(dirty(c));
  const std::string pid = c.value("SELECT pg_backend_pid()");
  c.close();  // PQfinish: Terminate, no COMMIT
  expect_clean_server(pid);
}

TEST_F(StateLeak, ClientWhoseSocketIsShutDown) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  ASSERT_NO_FATAL_FAILURE(dirty(c));
  const std::string pid = c.value("SELECT pg_backend_pid()");
  c.drop_abruptly();  // shutdown(SHUT_RDWR): EOF, no Terminate
  expect_clean_server(pid);
}

TEST_F(StateLeak, ClientProcessKilledMidTransaction) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const std::string conninfo = funnel_->pooled_conninfo();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child: its own libpq connection, dirtied, then it waits to be killed.
    ::close(ready[0]);
    PGconn* conn = PQconnectdb(conninfo.c_str());
    std::string report = "fail";
    if (PQstatus(conn) == CONNECTION_OK) {
      bool ok = true;
      for (const char* sql : {"BEGIN", "SET LOCAL statement_timeout = '1s'", "CREATE TEMP TABLE t (x int)",
                              "INSERT INTO t VALUES (1)", "SELECT pg_backend_pid()"}) {
        PGresult* res = PQexec(conn, sql);
        const auto st = PQresultStatus(res);
        ok = ok && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
        if (ok && PQntuples(res) == 1) report = std::string("ok ") + PQgetvalue(res, 0, 0);
        PQclear(res);
      }
      if (!ok) report = "fail";
    }
    report += "\n";
    (void)!::write(ready[1], report.data(), report.size());
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char buf[64] = {};
  const ssize_t n = ::read(ready[0], buf, sizeof buf - 1);
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  const std::string report(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  ASSERT_TRUE(report.starts_with("ok ")) << "child: " << report;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  expect_clean_server(report.substr(3, report.size() - 4));
}

TEST_F(StateLeak, ClientThatVanishesMidQueryIsCancelledPromptly) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  ASSERT_NO_FATAL_FAILURE(dirty(c));
  const std::string pid = c.value("SELECT pg_backend_pid()");
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(5)"), 1);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(shared_pg().query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid +
                                    " AND query = 'SELECT pg_sleep(5)' AND state = 'active'"),
            "1");
  c.drop_abruptly();

  pq_conn next(funnel_->pooled_conninfo());
  ASSERT_TRUE(next.ok()) << next.error().text;
  const query_result r = next.exec("SELECT 'served'");
  ASSERT_TRUE(r.ok) << r.describe() << "\n--- pgfunnel log:\n" << funnel_->log();
  EXPECT_EQ(r.value(), "served");
  EXPECT_TRUE(server_cancelled(pid)) << "the sleeping query was not cancelled for the vanished client";
  expect_clean_server(pid);
}

TEST_F(StateLeak, ClientThatTerminatesMidQueryIsCancelledPromptly) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  const std::string pid = c.value("SELECT pg_backend_pid()");
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(5)"), 1);
  std::this_thread::sleep_for(300ms);
  c.close();  // PQfinish sends Terminate while the query runs

  pq_conn next(funnel_->pooled_conninfo());
  ASSERT_TRUE(next.ok()) << next.error().text;
  const query_result r = next.exec("SELECT 'served'");
  ASSERT_TRUE(r.ok) << r.describe() << "\n--- pgfunnel log:\n" << funnel_->log();
  EXPECT_TRUE(server_cancelled(pid)) << "the sleeping query was not cancelled for the client that terminated";
  expect_clean_server(pid);
}

// A temp table created by Parse/Bind/Execute without Sync, then the client leaves.
void unsynced_temp_table_then_leave(pq_conn& c, bool abruptly) {
  const std::string pid = c.value("SELECT pg_backend_pid()");
  // Parse/Bind/Describe/Execute with no Sync: PostgreSQL runs the statement in an implicit
  // transaction that only a Sync would commit.
  ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "CREATE TEMP TABLE t (x int)", 0, nullptr, nullptr, nullptr, nullptr, 0), 1)
      << c.error_message();
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT set_config('statement_timeout', '1s', true)", 0, nullptr, nullptr,
                              nullptr, nullptr, 0),
            1);
  ASSERT_EQ(PQflush(c.get()), 0);
  // Let the statements reach the server and run.
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline &&
         shared_pg().query_value("SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = " + pid) != "t") {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(shared_pg().query_value("SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = " + pid), "t")
      << "the unsynced CREATE TEMP TABLE never ran";
  // No Sync: PostgreSQL itself would roll the implicit transaction back when the client leaves.
  if (abruptly) c.drop_abruptly();
  else c.close();
}

// These two only see a leak when pgfunnel reuses the server (it closes it instead when its cleanup
// cancel is still in flight); UnsyncedWorkOfAVanishedClientIsRolledBackAsPostgresDoes below
// checks the same cleanup deterministically, through a committed row.
TEST_F(StateLeak, UnsyncedExtendedProtocolBatchThenTerminate) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  const std::string pid = c.value("SELECT pg_backend_pid()");
  ASSERT_NO_FATAL_FAILURE(unsynced_temp_table_then_leave(c, false));
  expect_clean_server(pid);
}

TEST_F(StateLeak, UnsyncedExtendedProtocolBatchThenSocketShutDown) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  const std::string pid = c.value("SELECT pg_backend_pid()");
  ASSERT_NO_FATAL_FAILURE(unsynced_temp_table_then_leave(c, true));
  expect_clean_server(pid);
}

// Sends INSERT INTO unsynced_t as Parse/Bind/Describe/Execute without Sync on `conninfo`, waits
// until the server ran it (its backend has an xid), then leaves: Terminate or a shut-down socket.
// Returns the number of rows in unsynced_t once the next client has been served.
std::string unsynced_insert_then_leave(const std::string& conninfo, bool abruptly, const std::string& next_conninfo) {
  pg_server& pg = shared_pg();
  pg.exec("CREATE TABLE IF NOT EXISTS unsynced_t (x int); TRUNCATE unsynced_t");
  pq_conn c(conninfo);
  EXPECT_TRUE(c.ok()) << c.error().text;
  const std::string pid = c.value("SELECT pg_backend_pid()");
  EXPECT_EQ(PQenterPipelineMode(c.get()), 1);
  EXPECT_EQ(PQsendQueryParams(c.get(), "INSERT INTO unsynced_t VALUES (1)", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  EXPECT_EQ(PQflush(c.get()), 0);
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline &&
         pg.query_value("SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = " + pid) != "t") {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(pg.query_value("SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = " + pid), "t")
      << "the unsynced INSERT never ran";
  if (abruptly) c.drop_abruptly();
  else c.close();
  // Once the next client is served, the vanished client's server has been dealt with.
  pq_conn next(next_conninfo);
  EXPECT_TRUE(next.ok()) << next.error().text;
  EXPECT_EQ(next.value("SELECT 1"), "1");
  // The backend of a closed connection may take a moment to finish its abort.
  const auto settle = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < settle &&
         pg.query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid + " AND state <> 'idle'") != "0") {
    std::this_thread::sleep_for(20ms);
  }
  return pg.query_value("SELECT count(*) FROM unsynced_t");
}

TEST_F(StateLeak, UnsyncedWorkOfAVanishedClientIsRolledBackAsPostgresDoes) {
  // The control: PostgreSQL (through the session passthrough) aborts the implicit transaction of a
  // client that leaves before its Sync.
  EXPECT_EQ(unsynced_insert_then_leave(funnel_->direct_conninfo(), false, funnel_->direct_conninfo()), "0");
  // Through the pooled listener the row must not be committed on the client's behalf either.
  EXPECT_EQ(unsynced_insert_then_leave(funnel_->pooled_conninfo(), false, funnel_->pooled_conninfo()), "0")
      << "pgfunnel committed an INSERT whose client left without Sync (Terminate)\n--- pgfunnel log:\n"
      << funnel_->log();
  EXPECT_EQ(unsynced_insert_then_leave(funnel_->pooled_conninfo(), true, funnel_->pooled_conninfo()), "0")
      << "pgfunnel committed an INSERT whose client left without Sync (socket shut down)\n--- pgfunnel log:\n"
      << funnel_->log();
}

TEST_F(StateLeak, UnsyncedBatchFromAClientWhoseSocketIsShutDown) {
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  const std::string pid = c.value("SELECT pg_backend_pid()");
  ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
  ASSERT_EQ(PQsendQueryParams(c.get(), "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQflush(c.get()), 0);
  std::this_thread::sleep_for(200ms);
  c.drop_abruptly();
  expect_clean_server(pid);
}

}  // namespace
}  // namespace pgfunnel::test
