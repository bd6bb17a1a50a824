// Integration: the direct listener is a session passthrough — pgbench, SET, advisory locks, temp tables, LISTEN/NOTIFY, prepared statements, PostgreSQL's own auth errors.
#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class Direct : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    funnel_ = new pgfunnel_process({"--upstream", shared_pg().url(), "--pool-size", "2"});
  }
  static void TearDownTestSuite() {
    delete funnel_;
    funnel_ = nullptr;
  }
  static pq_conn connect() {
    pq_conn c(funnel_->direct_conninfo());
    EXPECT_TRUE(c.ok()) << c.error().text;
    return c;
  }
  static pgfunnel_process* funnel_;
};
pgfunnel_process* Direct::funnel_ = nullptr;

TEST_F(Direct, PgbenchInitAndPreparedModeRun) {
  const auto init = run_process({pg_program("pgbench"), "-i", "-s", "1", "-q", funnel_->direct_conninfo()}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pgbench_accounts"), "100000");
  // -M prepared needs named statements to live for the whole session: only the direct path has that.
  const auto run = run_process({pg_program("pgbench"), "-M", "prepared", "-c", "4", "-j", "2", "-T", "2",
                                funnel_->direct_conninfo()},
                               60s);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const auto failed = pgbench_failed_transactions(run.output);
  ASSERT_TRUE(failed.has_value()) << run.output;
  EXPECT_EQ(*failed, 0) << run.output;
}

TEST_F(Direct, SessionStatePersistsAcrossTransactions) {
  pq_conn c = connect();
  ASSERT_TRUE(c.ok());
  const std::string pid = c.value("SELECT pg_backend_pid()");
  // BackendKeyData is PostgreSQL's own.
  EXPECT_EQ(std::to_string(c.backend_pid()), pid);

  ASSERT_TRUE(c.exec("SET statement_timeout = '1234ms'").ok);
  ASSERT_TRUE(c.exec("SELECT pg_advisory_lock(4242)").ok);
  ASSERT_TRUE(c.exec("CREATE TEMP TABLE direct_tmp (x int)").ok);
  ASSERT_TRUE(c.exec("PREPARE plus_one (int) AS SELECT $1 + 1").ok);
  PGresult* prep = PQprepare(c.get(), "named_stmt", "SELECT $1::int * 10", 1, nullptr);
  ASSERT_TRUE(take_result(c.get(), prep).ok) << c.error_message();

  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE("transaction " + std::to_string(i));
    ASSERT_TRUE(c.exec("BEGIN").ok);
    EXPECT_TRUE(c.exec("INSERT INTO direct_tmp VALUES (" + std::to_string(i) + ")").ok);
    const std::string v = std::to_string(i);
    const char* params[] = {v.c_str()};
    const query_result named = take_result(c.get(), PQexecPrepared(c.get(), "named_stmt", 1, params, nullptr, nullptr, 0));
    EXPECT_TRUE(named.ok) << named.describe();
    EXPECT_EQ(named.value(), std::to_string(i * 10));
    EXPECT_EQ(c.value("EXECUTE plus_one(" + v + ")"), std::to_string(i + 1));
    ASSERT_TRUE(c.exec("COMMIT").ok);
    EXPECT_EQ(c.value("SHOW statement_timeout"), "1234ms");
    EXPECT_EQ(c.value("SELECT pg_backend_pid()"), pid);
  }
  EXPECT_EQ(c.value("SELECT sum(x) FROM direct_tmp"), "6");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND "
                                    "granted AND pid = " + pid),
            "1")
      << "the advisory lock did not stay with the session";
  // Another session cannot take it.
  pq_conn other = connect();
  EXPECT_EQ(other.value("SELECT pg_try_advisory_lock(4242)"), "f");
  EXPECT_EQ(c.value("SELECT pg_advisory_unlock(4242)"), "t");
  EXPECT_EQ(other.value("SELECT pg_try_advisory_lock(4242)"), "t");
}

TEST_F(Direct, ListenNotifyDelivers) {
  pq_conn listener = connect();
  pq_conn notifier = connect();
  ASSERT_TRUE(listener.exec("LISTEN direct_channel").ok);
  ASSERT_TRUE(notifier.exec("NOTIFY direct_channel, 'hello'").ok);
  ASSERT_TRUE(notifier.exec("BEGIN").ok);
  ASSERT_TRUE(notifier.exec("SELECT pg_notify('direct_channel', 'from a transaction')").ok);
  ASSERT_TRUE(notifier.exec("COMMIT").ok);

  std::vector<std::pair<std::string, int>> got;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    wait_readable(listener.get(), 500ms);
    while (PGnotify* n = PQnotifies(listener.get())) {
      EXPECT_STREQ(n->relname, "direct_channel");
      got.emplace_back(n->extra, n->be_pid);
      PQfreemem(n);
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, "hello");
  EXPECT_EQ(got[1].first, "from a transaction");
  EXPECT_EQ(got[0].second, notifier.backend_pid());
}

TEST_F(Direct, WrongPasswordGetsPostgresOwnError) {
  pq_conn bad(funnel_->direct_conninfo("postgres", "wrong"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().severity, "FATAL") << bad.error().text;
  EXPECT_EQ(bad.error().sqlstate, "28P01") << bad.error().text;
  EXPECT_EQ(bad.error().message, "password authentication failed for user \"postgres\"") << bad.error().text;

  // Word for word what PostgreSQL says without pgfunnel in between.
  pq_conn straight(shared_pg().conninfo("postgres", "wrong") + " sslmode=disable");
  ASSERT_FALSE(straight.ok());
  EXPECT_EQ(bad.error().message, straight.error().message);
  EXPECT_EQ(bad.error().sqlstate, straight.error().sqlstate);
}

TEST_F(Direct, NonexistentDatabaseGetsPostgresOwnError) {
  pq_conn bad(funnel_->direct_conninfo("postgres", "postgres", "nope"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().sqlstate, "3D000") << bad.error().text;
  EXPECT_EQ(bad.error().message, "database \"nope\" does not exist") << bad.error().text;
}

}  // namespace
}  // namespace pgfunnel::test
