// Integration: session state in transaction mode — SQL SETs follow their client, advisory locks and session objects pin a server.
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "server_rounds.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr int kPoolSize = 2;
constexpr std::string_view kDefaultSearchPath = "\"$user\", public";

class SessionState : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    pg_server& pg = shared_pg();
    pg.exec(
        "SET client_min_messages = warning; DROP SCHEMA IF EXISTS sst_a CASCADE; DROP SCHEMA IF EXISTS sst_b CASCADE; "
        "CREATE SCHEMA sst_a; CREATE SCHEMA sst_b; CREATE TABLE sst_a.t (v text); CREATE TABLE sst_b.t (v text); "
        "INSERT INTO sst_a.t VALUES ('a'); INSERT INTO sst_b.t VALUES ('b')");
    funnel_ = std::make_unique<pgfunnel_process>(
        std::vector<std::string>{"--upstream", pg.url(), "--pool-size", std::to_string(kPoolSize), "--log-level",
                                 "debug", "--query-wait-timeout", "10s", "--admin-users", "postgres"});
  }
  static void TearDownTestSuite() { funnel_.reset(); }

  static pq_conn connect() { return pq_conn(funnel_->pooled_conninfo()); }
  static std::string log_text() { return funnel_->log(); }

  static inline std::unique_ptr<pgfunnel_process> funnel_;
};

TEST_F(SessionState, SearchPathFollowsEachClientAcrossServers) {
  pq_conn a = connect(), b = connect(), c = connect();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE(a.exec("SET search_path TO sst_a, public").ok);
  ASSERT_TRUE(b.exec("set SESSION search_path = sst_b").ok);
  std::set<int> a_backends;
  on_both_servers(funnel_->pooled_conninfo(), 12, [&](int) {
    a_backends.insert(std::stoi(a.value("SELECT pg_backend_pid()")));
    EXPECT_EQ(a.value("SELECT v FROM t"), "a");
    EXPECT_EQ(b.value("SELECT v FROM t"), "b");
    // c never SET anything: whichever server it gets, it has the login's search_path.
    EXPECT_EQ(c.value("SHOW search_path"), kDefaultSearchPath);
    EXPECT_EQ(a.value("SHOW search_path"), "sst_a, public");
  });
  EXPECT_EQ(a_backends.size(), static_cast<std::size_t>(kPoolSize)) << "client a was meant to use every server";

  // RESET and SET ... TO DEFAULT go back to the login's value, everywhere.
  ASSERT_TRUE(a.exec("RESET search_path").ok);
  ASSERT_TRUE(b.exec("SET search_path TO DEFAULT").ok);
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) {
    EXPECT_EQ(a.value("SHOW search_path"), kDefaultSearchPath);
    EXPECT_EQ(b.value("SHOW search_path"), kDefaultSearchPath);
  });
}

TEST_F(SessionState, CustomSettingsFollowAndDiscardAllClearsThem) {
  pq_conn a = connect(), c = connect();
  ASSERT_TRUE(a.ok() && c.ok());
  ASSERT_TRUE(a.exec("SET myapp.tenant_id = '42'").ok);
  ASSERT_TRUE(a.exec("SET statement_timeout TO '7s'").ok);
  on_both_servers(funnel_->pooled_conninfo(), 6, [&](int) {
    EXPECT_EQ(a.value("SELECT current_setting('myapp.tenant_id', true)"), "42");
    EXPECT_EQ(a.value("SHOW statement_timeout"), "7s");
    EXPECT_EQ(c.value("SHOW statement_timeout"), "0");
    EXPECT_EQ(c.value("SELECT coalesce(current_setting('myapp.tenant_id', true), '')"), "");
  });
  ASSERT_TRUE(a.exec("DISCARD ALL").ok);
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { EXPECT_EQ(a.value("SHOW statement_timeout"), "0"); });
}

TEST_F(SessionState, SetsThatDoNotLastAreNotFollowed) {
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("SET search_path TO sst_a").ok);
  // Rolled back with its transaction, as PostgreSQL does.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(a.exec("SET search_path TO sst_b").ok);
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  // A failing SET changes nothing.
  EXPECT_FALSE(a.exec("SET search_path TO 'sst_b', 'sst_a' junk").ok);
  // SET LOCAL ends with its transaction.
  ASSERT_TRUE(a.exec("BEGIN; SET LOCAL search_path TO sst_b; COMMIT").ok);
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { EXPECT_EQ(a.value("SELECT v FROM t"), "a"); });
}

// The lock Prisma Migrate takes. While it is held, the client keeps its server across transactions;
// other clients share the remaining server.
TEST_F(SessionState, AdvisoryLockPinsTheServerUntilUnlocked) {
  pq_conn a = connect(), b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a.value("SELECT pg_advisory_lock(72707369)::text"), "");  // void
  const std::string pinned_pid = a.value("SELECT pg_backend_pid()");
  EXPECT_TRUE(funnel_->wait_for_log("server pinned to client")) << log_text();
  pq_conn console(funnel_->pooled_conninfo("postgres", "postgres", "pgbouncer"));
  ASSERT_TRUE(console.ok()) << console.error_message();
  EXPECT_EQ(show_pools_row(console.get(), "postgres", "postgres")["sv_pinned"], "1");
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(a.value("SELECT pg_backend_pid()"), pinned_pid);
    EXPECT_NE(b.value("SELECT pg_backend_pid()"), pinned_pid);  // the pinned server is not shared
    EXPECT_TRUE(a.exec("BEGIN; SELECT 1; COMMIT").ok);
  }
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369 "
                                    "AND pid = " + pinned_pid),
            "1");
  ASSERT_EQ(a.value("SELECT pg_advisory_unlock(72707369)"), "t");
  EXPECT_TRUE(funnel_->wait_for_log("server unpinned")) << log_text();
  EXPECT_EQ(show_pools_row(console.get(), "postgres", "postgres")["sv_pinned"], "0");
  // Unpinned: a and b share servers again — each round they must share the one free server.
  std::set<std::string> a_pids, b_pids;
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) {
    const std::string a_pid = a.value("SELECT pg_backend_pid()"), b_pid = b.value("SELECT pg_backend_pid()");
    EXPECT_EQ(a_pid, b_pid);
    a_pids.insert(a_pid);
    b_pids.insert(b_pid);
  });
  EXPECT_EQ(a_pids.size(), static_cast<std::size_t>(kPoolSize)) << log_text();
  EXPECT_EQ(b_pids.size(), static_cast<std::size_t>(kPoolSize));
}

TEST_F(SessionState, TryLockThatFailsDoesNotPin) {
  pq_conn owner(shared_pg().conninfo());  // straight to PostgreSQL: holds the lock
  ASSERT_TRUE(owner.ok());
  ASSERT_TRUE(owner.exec("SELECT pg_advisory_lock(4242)").ok);
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value("SELECT pg_try_advisory_lock(4242)"), "f");
  std::set<std::string> pids;
  on_both_servers(funnel_->pooled_conninfo(), 10, [&](int) { pids.insert(a.value("SELECT pg_backend_pid()")); });
  EXPECT_EQ(pids.size(), static_cast<std::size_t>(kPoolSize)) << "a failed try-lock must not pin" << log_text();
  owner.exec("SELECT pg_advisory_unlock_all()");
}

// A client that vanishes holding the lock: pgfunnel unlocks before the server serves anyone else.
TEST_F(SessionState, ClientLeavingWithALockReleasesIt) {
  std::string pid;
  {
    pq_conn a = connect();
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a.value("SELECT pg_try_advisory_lock(72707370)"), "t");
    pid = a.value("SELECT pg_backend_pid()");
    a.drop_abruptly();
  }
  // Another client takes the same lock at once: it was released, on a server that is still open.
  pq_conn b = connect();
  ASSERT_TRUE(b.ok());
  std::string got;
  for (int i = 0; i < 100 && got != "t"; ++i) {
    got = b.value("SELECT pg_try_advisory_lock(72707370)");
    if (got != "t") std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(got, "t") << log_text();
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid), "1")
      << "the server was closed rather than cleaned and reused";
  ASSERT_EQ(b.value("SELECT pg_advisory_unlock(72707370)"), "t");
}

// Session objects pin the server too (session_objects_test has each kind); the log line names the
// client. Ones undone in the same query leave nothing to pin.
TEST_F(SessionState, SessionObjectPinIsLoggedWithTheClientId) {
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("LISTEN sst_channel").ok);
  ASSERT_TRUE(funnel_->wait_for_log("server pinned to client: it holds LISTEN")) << log_text();
  const std::string log = log_text();
  const auto at = log.find("it holds LISTEN");
  const auto line_start = log.rfind('\n', at) + 1;
  const std::string line = log.substr(line_start, log.find('\n', at) - line_start);
  EXPECT_THAT(line, HasSubstr("[c"));
  EXPECT_THAT(line, HasSubstr("application_name"));
  ASSERT_TRUE(a.exec("UNLISTEN *").ok);

  ASSERT_TRUE(a.exec("PREPARE sst_p AS SELECT 1; DEALLOCATE sst_p").ok);
  ASSERT_TRUE(a.exec("DECLARE sst_c CURSOR WITH HOLD FOR SELECT 1; CLOSE sst_c").ok);
  std::set<std::string> pids;
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { pids.insert(a.value("SELECT pg_backend_pid()")); });
  EXPECT_EQ(pids.size(), static_cast<std::size_t>(kPoolSize)) << "nothing left to pin" << log_text();
}

}  // namespace
}  // namespace pgfunnel::test
