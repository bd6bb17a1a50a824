// Real client drivers (node-postgres, psycopg2, psycopg 3, psql) as child processes against the pooled listener.
//
// One PostgreSQL (shared_pg) and one pgfunnel (--pool-size 4) serve every test. Each test creates
// its tables through the fixture, runs one program from tests/clients/ with the pooled URL, and
// expects exit status 0 plus the program's "ok ... 0 errors" summary line. Meanwhile a sampler
// counts the server connections pgfunnel holds open: hundreds of clients must share at most 4.
// The node programs need tests/clients/node/node_modules (scripts/test runs `npm ci` there).
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "program_runner.hpp"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PGFUNNEL_SOURCE_DIR
#define PGFUNNEL_SOURCE_DIR "."
#endif
#ifndef PGFUNNEL_BINARY_DIR
#define PGFUNNEL_BINARY_DIR "."
#endif

namespace pgfunnel::test {
namespace {

constexpr int kPoolSize = 4;

const std::string kClients = std::string(PGFUNNEL_SOURCE_DIR) + "/tests/clients";
const std::string kPython = "/usr/bin/python3";  // Debian's, which has python3-psycopg{,2}

class DriversTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      pg_server& pg = shared_pg();
      funnel_ = std::make_unique<pgfunnel_process>(std::vector<std::string>{
          "--upstream", pg.url(), "--pool-size", std::to_string(kPoolSize), "--log-level", "debug"});
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { funnel_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << "could not start PostgreSQL + pgfunnel:\n" << setup_error_;
  }

  static std::string pooled_url() {
    return "postgres://postgres:postgres@127.0.0.1:" + std::to_string(funnel_->pooled_port()) +
           "/postgres?sslmode=disable";
  }

  // Runs argv (argv[1] is the client program) while sampling pgfunnel's server connections; checks
  // exit 0, `summary` at the start of a line, the pool size kept, and that pgfunnel still serves.
  static void expect_program_ok(const std::vector<std::string>& argv, const std::string& cwd, const std::string& summary) {
    program_result r;
    int max_backends = 0;  // the most server connections pgfunnel held at one time
    {
      upstream_sampler sampler(funnel_->pid(), shared_pg().port());
      r = run_program(argv, cwd);
      max_backends = sampler.max();
    }
    EXPECT_TRUE(r.exited_ok()) << argv[1] << ": " << r.describe();
    EXPECT_TRUE(has_line_starting_with(r.output, summary)) << "no line starting with \"" << summary << "\"";
    if (r.exited_ok()) {
      EXPECT_GT(max_backends, 0) << "no server connection seen: is the sampler counting the right sockets?";
    }
    EXPECT_LE(max_backends, kPoolSize) << "pgfunnel held " << max_backends << " server connections at once";
    // Still serving after the run: a fresh pooled connection answers.
    PGconn* c = PQconnectdb((funnel_->pooled_conninfo() + " connect_timeout=10").c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << "pgfunnel no longer answers: " << PQerrorMessage(c);
    PQfinish(c);
    if (HasFailure()) {  // the evidence, once: the program's output and pgfunnel's log
      std::fprintf(stderr, "--- output of %s (%s) ---\n%s\n%s", argv[1].c_str(), r.describe().c_str(), r.output.c_str(),
                   log_excerpt(funnel_->log()).c_str());
    }
    // Print the summary itself: the run's numbers and timing show up in the test log.
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("ok "))
        std::printf("    %s: %s (at most %d server connections)\n", argv[1].c_str(), line.c_str(), max_backends);
  }

  static void require_node_modules() {
    const std::string marker = kClients + "/node/node_modules/pg/package.json";
    ASSERT_TRUE(file_exists(marker)) << marker << " is missing: run `npm ci` in tests/clients/node "
                                     << "(scripts/test does it)";
  }

  static inline std::unique_ptr<pgfunnel_process> funnel_;
  static inline std::string setup_error_;
};

// 200 short-lived pg.Clients (connect, 10 transactions, end) alongside a pg.Pool of 50 running
// 1000 parameterized queries: every client reads back exactly what it committed, each transaction
// stays on one backend (same pid and txid), rollbacks leave nothing.
TEST_F(DriversTest, NodePostgresServerlessClientsAndPool) {
  require_node_modules();
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS node_tx; "
      "CREATE TABLE node_tx (client int, seq int, payload text, PRIMARY KEY (client, seq))");
  expect_program_ok({"node", kClients + "/node/serverless.js", pooled_url(), "200", "10", "50", "1000"},
                    kClients + "/node", "ok 200 clients 2000 transactions 1000 pool queries 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM node_tx"), "2000");
}

// pg-copy-streams: 5 concurrent clients COPY 10k rows each in, one COPY rolled back, and read
// them back byte for byte with COPY TO STDOUT.
TEST_F(DriversTest, NodePostgresCopy) {
  require_node_modules();
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS node_copy; "
      "CREATE TABLE node_copy (copier int, n int, word text, PRIMARY KEY (copier, n))");
  expect_program_ok({"node", kClients + "/node/copy.js", pooled_url(), "5", "10000"}, kClients + "/node",
                    "ok 5 copiers 50000 rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM node_copy"), "50000");
}

// psycopg2 (simple protocol, BEGIN as its own message): 50 threads of commit/rollback
// transactions, errors mid-transaction then reuse, and a 10k-row COPY in/out including a COPY
// that fails on bad data.
TEST_F(DriversTest, Psycopg2ThreadsCopyAndErrors) {
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS py2_tx, py2_copy; "
      "CREATE TABLE py2_tx (worker int, seq int, amount numeric, note text, PRIMARY KEY (worker, seq)); "
      "CREATE TABLE py2_copy (id int PRIMARY KEY, label text, amount numeric)");
  expect_program_ok({kPython, kClients + "/python/psycopg2_clients.py", pooled_url(), "50", "20", "10000"},
                    kClients + "/python", "ok 50 threads 1000 transactions (750 committed, 250 rolled back) 10000 copy rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py2_tx"), "750");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py2_copy"), "10000");
}

// psycopg 3 over asyncio, prepare_threshold=None (extended protocol, unnamed statements only):
// 50 connections of transactions, pipeline mode (including an error that aborts a pipeline), and
// text + binary COPY in both directions plus a client-aborted COPY.
TEST_F(DriversTest, Psycopg3AsyncPipelineAndCopy) {
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS py3_tx, py3_copy; "
      "CREATE TABLE py3_tx (conn int, seq int, amount numeric, note text, PRIMARY KEY (conn, seq)); "
      "CREATE TABLE py3_copy (id int PRIMARY KEY, label text, amount numeric)");
  expect_program_ok({kPython, kClients + "/python/psycopg3_clients.py", pooled_url(), "50", "20", "10000"},
                    kClients + "/python",
                    "ok 50 connections 1000 transactions (750 committed, 250 rolled back) 50 pipelines 10000 copy rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py3_tx"), "1000");  // 750 + 5 pipelined rows per connection
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py3_copy"), "10000");
}

// psql's \copy (COPY FROM STDIN / TO STDOUT driven by psql) through the pooled listener: a file
// goes in and comes back out identical.
TEST_F(DriversTest, PsqlBackslashCopy) {
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS psql_copy; "
      "CREATE TABLE psql_copy (id int PRIMARY KEY, label text)");
  const std::string dir = std::string(PGFUNNEL_BINARY_DIR) + "/drivers-psql-" + std::to_string(::getpid());
  ASSERT_TRUE(::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) << dir;
  const std::string in_path = dir + "/in.tsv";
  const std::string out_path = dir + "/out.tsv";
  std::string data;
  for (int i = 0; i < 10000; ++i)
    data += std::to_string(i) + "\tlabel " + std::to_string(i) + (i % 9 == 0 ? " tab\\there ✓" : "") + "\n";
  std::ofstream(in_path, std::ios::binary) << data;

  const program_result r = run_program(
      {"psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", pooled_url(), "-c", "\\copy psql_copy FROM '" + in_path + "'",
       "-c", "\\copy (SELECT id, label FROM psql_copy ORDER BY id) TO '" + out_path + "'"},
      dir);
  EXPECT_TRUE(r.exited_ok()) << r.describe() << "\n" << r.output << log_excerpt(funnel_->log());
  EXPECT_TRUE(has_line_starting_with(r.output, "COPY 10000")) << r.output;
  std::ifstream out(out_path, std::ios::binary);
  std::stringstream got;
  got << out.rdbuf();
  EXPECT_TRUE(got.str() == data) << "\\copy TO wrote " << got.str().size() << " bytes, want " << data.size();
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace pgfunnel::test
