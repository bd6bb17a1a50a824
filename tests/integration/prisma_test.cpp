// Prisma 7 against pgfunnel, offline: Migrate (CLI + our wasm schema-engine shim) and Client (@prisma/adapter-pg).
//
// One PostgreSQL (shared_pg) and one pgfunnel (--pool-size 3) serve every test. The programs come
// from tests/clients/prisma (scripts/test runs `npm ci --ignore-scripts` there):
//   - the prisma CLI runs with PRISMA_SCHEMA_ENGINE_BINARY pointing at schema-engine-shim.mjs, which
//     answers the native engine's JSON-RPC with Prisma's own @prisma/schema-engine-wasm over
//     @prisma/adapter-pg, so no engine is downloaded; CHECKPOINT_DISABLE=1 skips the update check;
//   - each test migrates its own fresh schema (`?schema=prisma_<what>_<pid>`): Migrate refuses a
//     non-empty schema it has no history for (P3005), and the fixture's `public` holds other tables.
// Prisma Migrate holds the session-level pg_advisory_lock(72707369) for the whole command and runs
// every statement on that one session: through the pooled listener pgfunnel must pin the server to
// the client while the lock is held, and release it when the client leaves.
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "program_runner.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#ifndef PGFUNNEL_SOURCE_DIR
#define PGFUNNEL_SOURCE_DIR "."
#endif

namespace pgfunnel::test {
namespace {

constexpr int kPoolSize = 3;
constexpr int kRequests = 50;
constexpr std::chrono::seconds kCliTimeout{180};  // a prisma command takes ~2 s; 2 shared cores may be busy

const std::string kDir = std::string(PGFUNNEL_SOURCE_DIR) + "/tests/clients/prisma";
const std::string kPrismaCli = kDir + "/node_modules/prisma/build/index.js";
const std::string kShim = kDir + "/schema-engine-shim.mjs";

class PrismaTest : public ::testing::Test {
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
    require_node_modules();
  }

  // Fails (never skips) when the npm install is missing.
  static void require_node_modules() {
    for (const std::string rel : {"node_modules/prisma/build/index.js", "node_modules/@prisma/client/package.json",
                                  "node_modules/@prisma/adapter-pg/package.json",
                                  "node_modules/@prisma/schema-engine-wasm/schema_engine_bg.wasm"}) {
      ASSERT_TRUE(file_exists(kDir + "/" + rel))
          << kDir << "/" << rel << " is missing: run `npm ci --ignore-scripts` in tests/clients/prisma "
          << "(scripts/test does it)";
    }
    ASSERT_EQ(::access(kShim.c_str(), X_OK), 0) << kShim << " must be executable (the CLI spawns it as the engine)";
  }

  static std::string url(std::uint16_t port, const std::string& schema = "") {
    std::string u = "postgres://postgres:postgres@127.0.0.1:" + std::to_string(port) + "/postgres?sslmode=disable";
    if (!schema.empty()) u += "&schema=" + schema;
    return u;
  }
  static std::string pooled_url(const std::string& schema = "") { return url(funnel_->pooled_port(), schema); }
  static std::string direct_url(const std::string& schema = "") { return url(funnel_->direct_port(), schema); }

  static std::string fresh_schema(const std::string& what) {
    const std::string schema = "prisma_" + what + "_" + std::to_string(::getpid());
    shared_pg().exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    return schema;
  }

  // `prisma ARGS...` in tests/clients/prisma with DATABASE_URL (read by prisma.config.ts) = database_url.
  static program_result prisma(const std::vector<std::string>& args, const std::string& database_url) {
    std::vector<std::string> argv{"node", kPrismaCli};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, kDir, kCliTimeout,
                       {"DATABASE_URL=" + database_url, "PRISMA_SCHEMA_ENGINE_BINARY=" + kShim, "CHECKPOINT_DISABLE=1",
                        "PRISMA_HIDE_UPDATE_MESSAGE=1", "NO_COLOR=1"});
  }

  static bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

  // Advisory locks the cluster still holds; the lock outlives a command only if a session kept it.
  // Waits a bounded while for the count to reach 0: a proxy releases it after the client has gone.
  static std::string advisory_locks_left() {
    std::string n;
    for (int i = 0; i < 100; ++i) {
      n = shared_pg().query_value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
      if (n == "0") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return n;
  }

  // migrate deploy (twice: the second finds nothing to do), migrate status, and migrate diff of
  // the migrated database against the schema, all through `database_url`; then the tables exist.
  static void migrate_and_check(const std::string& database_url, const std::string& schema) {
    const program_result deploy = prisma({"migrate", "deploy"}, database_url);
    EXPECT_TRUE(deploy.exited_ok()) << "migrate deploy: " << deploy.describe() << "\n" << deploy.output;
    EXPECT_TRUE(contains(deploy.output, "20260101000000_init")) << deploy.output;
    EXPECT_TRUE(contains(deploy.output, "All migrations have been successfully applied.")) << deploy.output;

    const program_result again = prisma({"migrate", "deploy"}, database_url);
    EXPECT_TRUE(again.exited_ok()) << "second migrate deploy: " << again.describe() << "\n" << again.output;
    EXPECT_TRUE(contains(again.output, "No pending migrations to apply.")) << again.output;

    const program_result status = prisma({"migrate", "status"}, database_url);
    EXPECT_TRUE(status.exited_ok()) << "migrate status: " << status.describe() << "\n" << status.output;
    EXPECT_TRUE(contains(status.output, "Database schema is up to date!")) << status.output;

    // --exit-code: 0 means the database matches prisma/schema.prisma (2 would mean a difference).
    const program_result diff = prisma(
        {"migrate", "diff", "--from-config-datasource", "--to-schema", "prisma/schema.prisma", "--exit-code"}, database_url);
    EXPECT_TRUE(diff.exited_ok()) << "migrate diff: " << diff.describe() << "\n" << diff.output;
    EXPECT_TRUE(contains(diff.output, "No difference detected.")) << diff.output;

    // Checked on the server itself, not through pgfunnel.
    EXPECT_EQ(shared_pg().query_value("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM "
                                      "information_schema.tables WHERE table_schema = '" + schema + "'"),
              "Account,Transfer,_prisma_migrations");
    EXPECT_EQ(shared_pg().query_value("SELECT string_agg(migration_name, ',') FROM " + schema +
                                      "._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"),
              "20260101000000_init");
    EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM " + schema + "._prisma_migrations"), "1");
    EXPECT_EQ(advisory_locks_left(), "0") << "Migrate's pg_advisory_lock(72707369) outlived the command";
  }

  static void print_log_on_failure() {
    if (::testing::Test::HasFailure()) std::fprintf(stderr, "%s", log_excerpt(funnel_->log()).c_str());
  }

  static inline std::unique_ptr<pgfunnel_process> funnel_;
  static inline std::string setup_error_;
};

// Migrate through the direct listener (session passthrough), as DIRECT_DATABASE_URL is meant for.
TEST_F(PrismaTest, PrismaMigrateThroughDirectListener) {
  const std::string schema = fresh_schema("direct");
  migrate_and_check(direct_url(schema), schema);
  print_log_on_failure();
}

// Migrate through the pooled listener: its advisory lock pins the server to the client for the
// whole command, every statement stays on that session (search_path from the startup `options`
// included), and the lock is gone once the CLI exits. Never more than pool_size servers.
TEST_F(PrismaTest, PrismaMigrateThroughPooledListener) {
  const std::string schema = fresh_schema("pooled");
  int max_backends = 0;
  {
    upstream_sampler sampler(funnel_->pid(), shared_pg().port());
    migrate_and_check(pooled_url(schema), schema);
    max_backends = sampler.max();
  }
  EXPECT_GT(max_backends, 0) << "no server connection seen: is the sampler counting the right sockets?";
  EXPECT_LE(max_backends, kPoolSize) << "pgfunnel held " << max_backends << " server connections at once";
  // pgfunnel still serves after the CLI's engines were killed mid-session (as the CLI does).
  PGconn* c = PQconnectdb((funnel_->pooled_conninfo() + " connect_timeout=10").c_str());
  EXPECT_EQ(PQstatus(c), CONNECTION_OK) << "pgfunnel no longer answers: " << PQerrorMessage(c);
  PQfinish(c);
  print_log_on_failure();
}

// Prisma Client over @prisma/adapter-pg through the pooled listener: 50 concurrent requests of CRUD,
// interactive transactions (one throwing, rolled back) and batch transactions on a pool of 3.
TEST_F(PrismaTest, PrismaClientCrudAndInteractiveTransactions) {
  const std::string schema = fresh_schema("crud");
  const program_result deploy = prisma({"migrate", "deploy"}, direct_url(schema));
  ASSERT_TRUE(deploy.exited_ok()) << "migrate deploy: " << deploy.describe() << "\n" << deploy.output;

  // The client is generated here, offline (into node_modules/.prisma/client, never committed): the
  // prisma-client-js generator with engineType "client" needs no query engine, only the shim.
  const program_result generate = prisma({"generate"}, "");
  ASSERT_TRUE(generate.exited_ok()) << "prisma generate: " << generate.describe() << "\n" << generate.output;
  ASSERT_TRUE(contains(generate.output, "Generated Prisma Client")) << generate.output;

  program_result r;
  int max_backends = 0;
  {
    upstream_sampler sampler(funnel_->pid(), shared_pg().port());
    r = run_program({"node", kDir + "/crud.mjs", pooled_url(), schema, std::to_string(kRequests)}, kDir,
                    std::chrono::seconds(300), {"NO_COLOR=1"});
    max_backends = sampler.max();
  }
  const std::string n = std::to_string(kRequests);
  EXPECT_TRUE(r.exited_ok()) << "crud.mjs: " << r.describe();
  EXPECT_TRUE(has_line_starting_with(r.output, "ok " + n + " requests " + n + " accounts " + n + " transfers " + n +
                                                   " rolled back 0 errors"))
      << "no \"ok ... 0 errors\" summary line";
  if (r.exited_ok()) {
    EXPECT_GT(max_backends, 0) << "no server connection seen: is the sampler counting the right sockets?";
  }
  EXPECT_LE(max_backends, kPoolSize) << "pgfunnel held " << max_backends << " server connections at once";

  // What committed, read on the server itself: one account and one transfer per request, nothing
  // from the transactions that threw.
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM " + schema + ".\"Account\""), n);
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM " + schema + ".\"Account\" WHERE balance = 70 AND name LIKE 'renamed %'"), n);
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM " + schema + ".\"Transfer\" WHERE note LIKE 'committed %'"), n);
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM " + schema + ".\"Transfer\" WHERE note LIKE 'rolled back %'"), "0");

  PGconn* c = PQconnectdb((funnel_->pooled_conninfo() + " connect_timeout=10").c_str());
  EXPECT_EQ(PQstatus(c), CONNECTION_OK) << "pgfunnel no longer answers: " << PQerrorMessage(c);
  PQfinish(c);

  if (HasFailure()) {
    std::fprintf(stderr, "--- output of crud.mjs (%s) ---\n%s\n%s", r.describe().c_str(), r.output.c_str(),
                 log_excerpt(funnel_->log()).c_str());
  }
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("ok ")) std::printf("    crud.mjs: %s (at most %d server connections)\n", line.c_str(), max_backends);
}

}  // namespace
}  // namespace pgfunnel::test
