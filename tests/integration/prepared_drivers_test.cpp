// Real drivers that use NAMED prepared statements (asyncpg, pgjdbc, postgres.js, psycopg 3, node-postgres) through the pooled listener.
//
// One PostgreSQL (shared_pg) serves every test, each test its own pgfunnel with --pool-size 3: tens of client
// connections share 3 server connections, so a statement a client prepared on one server must be
// usable on whichever server its next transaction gets. Each test creates its table through the
// fixture, runs one program from tests/clients/ with the pooled URL, and expects exit status 0,
// the program's "ok ... 0 errors" summary line and the rows it committed, while a sampler checks
// that pgfunnel never held more than 3 server connections. Every program also checks, with a query
// that looks itself up in pg_prepared_statements, that its driver really sent named statements.
// Missing dependencies fail the test and say what to install (scripts/bootstrap installs the
// Debian packages, scripts/test runs `npm ci` in tests/clients/node).
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "program_runner.hpp"

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#ifndef PGFUNNEL_SOURCE_DIR
#define PGFUNNEL_SOURCE_DIR "."
#endif

namespace pgfunnel::test {
namespace {

constexpr int kPoolSize = 3;

const std::string kClients = std::string(PGFUNNEL_SOURCE_DIR) + "/tests/clients";
const std::string kPython = "/usr/bin/python3";  // Debian's, which has python3-asyncpg and python3-psycopg
const std::string kJdbcJar = "/usr/share/java/postgresql.jar";

class PreparedDriversTest : public ::testing::Test {
 protected:
  // A pgfunnel of its own per test: one driver's failure (a server left with statements pgfunnel
  // no longer knows, or the reverse) must not show up as another driver's failure.
  void SetUp() override {
    try {
      funnel_ = std::make_unique<pgfunnel_process>(std::vector<std::string>{
          "--upstream", shared_pg().url(), "--pool-size", std::to_string(kPoolSize), "--log-level", "debug"});
    } catch (const std::exception& e) {
      FAIL() << "could not start PostgreSQL + pgfunnel:\n" << e.what();
    }
  }
  void TearDown() override { funnel_.reset(); }

  std::string pooled_url() const {
    return "postgres://postgres:postgres@127.0.0.1:" + std::to_string(funnel_->pooled_port()) +
           "/postgres?sslmode=disable";
  }

  // (Re)creates a test's table on the server directly, so a previous run leaves nothing behind.
  static void recreate(const std::string& table, const std::string& columns) {
    shared_pg().exec("SET client_min_messages = warning; DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table +
                     " (" + columns + ")");
  }

  // Runs argv (argv[1] is the client program) while sampling pgfunnel's server connections; checks
  // exit 0, `summary` at the start of a line, the pool size kept, and that pgfunnel still serves.
  void expect_program_ok(const std::vector<std::string>& argv, const std::string& cwd, const std::string& summary) {
    program_result r;
    int max_backends = 0;  // the most server connections pgfunnel held at one time
    {
      upstream_sampler sampler(funnel_->pid(), shared_pg().port());
      r = run_program(argv, cwd);
      max_backends = sampler.max();
    }
    const std::string& program = argv.size() > 1 ? argv[1] : argv[0];
    EXPECT_TRUE(r.exited_ok()) << program << ": " << r.describe();
    EXPECT_TRUE(has_line_starting_with(r.output, summary)) << "no line starting with \"" << summary << "\"";
    if (r.exited_ok()) {
      EXPECT_GT(max_backends, 0) << "no server connection seen: is the sampler counting the right sockets?";
    }
    EXPECT_LE(max_backends, kPoolSize) << "pgfunnel held " << max_backends << " server connections at once";
    // Still serving after the run: a fresh pooled connection answers a query.
    PGconn* c = PQconnectdb((funnel_->pooled_conninfo() + " connect_timeout=10").c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << "pgfunnel no longer answers: " << PQerrorMessage(c);
    if (PQstatus(c) == CONNECTION_OK) {
      PGresult* res = PQexec(c, "SELECT 1");
      EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << "pgfunnel no longer answers a query: " << PQerrorMessage(c);
      PQclear(res);
    }
    PQfinish(c);
    if (HasFailure()) {  // the evidence, once: the program's output and pgfunnel's log
      std::fprintf(stderr, "--- output of %s (%s) ---\n%s\n%s", program.c_str(), r.describe().c_str(), r.output.c_str(),
                   log_excerpt(funnel_->log()).c_str());
    }
    // Print the summary itself: the run's numbers and timing show up in the test log.
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("ok "))
        std::printf("    %s: %s (at most %d server connections)\n", program.c_str(), line.c_str(), max_backends);
  }

  // A dependency check that fails (never skips) with what to install.
  static void require_program(const std::vector<std::string>& argv, const std::string& install) {
    const program_result r = run_program(argv, kClients, std::chrono::seconds(30));
    ASSERT_TRUE(r.exited_ok()) << "`" << argv[0] << (argv.size() > 1 ? " " + argv[1] : "") << " ...` failed ("
                               << r.describe() << "): " << install << "\n" << r.output;
  }

  static void require_node_module(const std::string& module) {
    const std::string marker = kClients + "/node/node_modules/" + module + "/package.json";
    ASSERT_TRUE(file_exists(marker)) << marker << " is missing: run `npm ci` in tests/clients/node "
                                     << "(scripts/test does it)";
  }

  std::unique_ptr<pgfunnel_process> funnel_;
};

// asyncpg, default statement cache: 50 tasks (one connection each) × 200 queries. Every query is
// Parse+Describe+Sync under asyncpg's own name, then Bind+Execute+Sync in another round trip
// (possibly another server); explicit conn.prepare() statements are closed again, more texts than
// the 100-entry cache evict (Close) older ones; transactions commit, roll back and fail; errors
// (division by zero, duplicate key) must not poison the statements used afterwards.
TEST_F(PreparedDriversTest, AsyncpgStatementCache) {
  require_program({kPython, "-c", "import asyncpg"}, "install Debian's python3-asyncpg (scripts/bootstrap lists it)");
  recreate("apg_rows", "task int, seq int, val text, PRIMARY KEY (task, seq)");
  expect_program_ok({kPython, kClients + "/python/asyncpg_clients.py", pooled_url(), "50", "200"}, kClients + "/python",
                    "ok 50 tasks 10000 queries 1450 rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM apg_rows"), "1450");
}

// pgjdbc with prepareThreshold=1: 8 threads, each its own Connection, prepare in a per-thread order
// so S_1, S_2 ... name different texts on different connections; PreparedStatements run 200 times
// in and out of transactions (BEGIN/COMMIT are named statements too), batches, errors, Close of
// short-lived statements (odd threads turn pgjdbc's statement cache off), and DEALLOCATE ALL or
// DISCARD ALL mid-run, after which pgjdbc prepares everything again.
TEST_F(PreparedDriversTest, PgjdbcPrepareThresholdOne) {
  ASSERT_TRUE(file_exists(kJdbcJar)) << kJdbcJar << " is missing: install Debian's libpostgresql-jdbc-java "
                                     << "(scripts/bootstrap lists it)";
  require_program({"java", "-version"}, "install a JDK 17+ (Debian's default-jdk-headless; scripts/bootstrap lists it)");
  recreate("jdbc_rows", "thread int, seq int, amount numeric, note text, PRIMARY KEY (thread, seq)");
  expect_program_ok({"java", "-cp", kJdbcJar, kClients + "/java/PreparedClients.java", pooled_url(), "8", "200"},
                    kClients + "/java", "ok 8 threads 1600 iterations 720 rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM jdbc_rows"), "720");
}

// postgres.js with its default prepare: true: 2000 queries issued at once over max 20 connections
// (pipelined), tagged templates and sql.unsafe(..., {prepare: true}) with parameters, sql.begin
// transactions with savepoints, errors. A statement it finds missing it would silently prepare
// again and retry: the program counts those retries, and any is a failure.
TEST_F(PreparedDriversTest, PostgresJsPrepared) {
  require_node_module("postgres");
  recreate("pjs_rows", "unit int PRIMARY KEY, payload text");
  expect_program_ok({"node", kClients + "/node/postgresjs.js", pooled_url(), "20", "2000"}, kClients + "/node",
                    "ok 20 connections 2000 queries 530 rows 0 retries 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pjs_rows"), "530");
}

// psycopg 3 with prepare_threshold=0: 8 threads × 500 queries, every one a named statement
// (_pg3_N), conn.execute(..., prepare=True), executemany, transactions; psycopg's own SQL about its
// statements goes through too: DEALLOCATE ALL after every rollback, DEALLOCATE _pg3_N when its cache
// (prepared_max 10 on odd threads) evicts one.
TEST_F(PreparedDriversTest, Psycopg3PrepareThresholdZero) {
  require_program({kPython, "-c", "import psycopg"}, "install Debian's python3-psycopg (scripts/bootstrap lists it)");
  recreate("py3p_rows", "worker int, seq int, amount numeric, note text, PRIMARY KEY (worker, seq)");
  expect_program_ok({kPython, kClients + "/python/psycopg3_prepared.py", pooled_url(), "8", "500"}, kClients + "/python",
                    "ok 8 threads 4000 queries 1496 rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py3p_rows"), "1496");
}

// node-postgres named queries ({name, text, values}): 200 short-lived clients plus a pg.Pool of 10
// running 500 queries, the same names for the same texts everywhere, except "variant" (a different
// text on even and odd clients and in the pool) and "maybe" (a Parse that fails on some clients).
TEST_F(PreparedDriversTest, NodePostgresNamedQueries) {
  require_node_module("pg");
  recreate("named_rows", "client int, seq int, payload text, PRIMARY KEY (client, seq)");
  expect_program_ok({"node", kClients + "/node/named.js", pooled_url(), "200", "10", "10", "500"}, kClients + "/node",
                    "ok 200 clients 4360 named queries 500 pool queries 866 rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM named_rows"), "866");
}

}  // namespace
}  // namespace pgfunnel::test
