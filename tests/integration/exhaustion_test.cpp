// Integration: connection exhaustion — 300 clients over a 20-slot PostgreSQL, query_wait_timeout, max_client_conn, upstream 53300.
#include <atomic>
#include <chrono>
#include <latch>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

struct burst_result {
  int ok = 0;
  std::map<std::string, int> failures;  // "SQLSTATE message" -> count
  int failed_with(const std::string& sqlstate) const {
    int n = 0;
    for (const auto& [what, count] : failures)
      if (what.starts_with(sqlstate + " ")) n += count;
    return n;
  }
  std::string summary() const {
    std::string s = std::to_string(ok) + " ok";
    for (const auto& [what, count] : failures) s += "; " + std::to_string(count) + " x " + what;
    return s;
  }
};

// `clients` threads connect at the same moment, run SELECT 1 once, and keep their connection
// until every thread is done, so the connections all exist at once.
burst_result burst(const std::string& conninfo, int clients) {
  std::latch start(clients + 1);
  std::latch done(clients);
  std::mutex mutex;
  burst_result result;
  std::vector<std::thread> threads;
  threads.reserve(clients);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      pq_conn conn(conninfo, 60s);
      std::string failure;
      if (!conn.ok()) {
        failure = conn.error().sqlstate + " " + conn.error().message;
      } else {
        const query_result r = conn.exec("SELECT 1");
        if (!r.ok || r.value() != "1") failure = r.error.sqlstate + " " + r.error.message;
      }
      {
        std::lock_guard lock(mutex);
        if (failure.empty()) ++result.ok;
        else ++result.failures[failure];
      }
      done.arrive_and_wait();
    });
  }
  start.arrive_and_wait();
  for (auto& t : threads) t.join();
  return result;
}

class Exhaustion : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pg_ = new pg_server(pg_options{.max_connections = 20}); }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  static pg_server* pg_;
};
pg_server* Exhaustion::pg_ = nullptr;

TEST_F(Exhaustion, ThreeHundredClientsShareTenServers) {
  pgfunnel_process funnel({"--upstream", pg_->url(), "--pool-size", "10"});
  const burst_result r = burst(funnel.pooled_conninfo(), 300);
  EXPECT_EQ(r.ok, 300) << r.summary() << "\n--- pgfunnel log:\n" << funnel.log();
  EXPECT_LE(count_client_backends(*pg_), 10 + 1);
}

TEST_F(Exhaustion, TheSameLoadStraightToPostgresRunsOutOfSlots) {
  const burst_result r = burst(pg_->conninfo() + " sslmode=disable", 300);
  EXPECT_GT(r.failed_with("53300"), 0) << r.summary();
  EXPECT_LE(r.ok, 20) << r.summary();
  EXPECT_EQ(r.ok + r.failed_with("53300"), 300) << "every failure is PostgreSQL's 53300: " << r.summary();
}

TEST_F(Exhaustion, TheSameLoadThroughTheDirectListenerRunsOutOfSlots) {
  pgfunnel_process funnel({"--upstream", pg_->url(), "--direct-max-client-conn", "1000"});
  const burst_result r = burst(funnel.direct_conninfo(), 300);
  EXPECT_GT(r.failed_with("53300"), 0) << r.summary();
  EXPECT_LE(r.ok, 20) << r.summary();
  EXPECT_EQ(r.ok + r.failed_with("53300"), 300) << r.summary() << "\n--- pgfunnel log:\n" << funnel.log();
  // PostgreSQL's own refusal is what the client sees on the direct path.
  bool saw_postgres_text = false;
  for (const auto& [what, count] : r.failures)
    if (what.find("too many clients") != std::string::npos) saw_postgres_text = true;
  EXPECT_TRUE(saw_postgres_text) << r.summary();
}

TEST_F(Exhaustion, QueryWaitTimeoutIsAnErrorNamingThePool) {
  pgfunnel_process funnel({"--upstream", pg_->url(), "--pool-size", "1", "--query-wait-timeout", "1s"});
  pq_conn holder(funnel.pooled_conninfo());
  ASSERT_TRUE(holder.ok()) << holder.error().text;
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_TRUE(holder.exec("SELECT 1").ok);

  pq_conn waiter(funnel.pooled_conninfo());
  ASSERT_TRUE(waiter.ok()) << waiter.error().text;
  const auto start = std::chrono::steady_clock::now();
  const query_result r = waiter.exec("SELECT 1");
  const double waited = seconds_since(start);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.severity, "ERROR") << r.describe();
  EXPECT_EQ(r.error.sqlstate, "53300") << r.describe();
  EXPECT_EQ(r.error.message, "query_wait_timeout") << r.describe();
  EXPECT_THAT(r.error.detail, HasSubstr("postgres/postgres")) << r.describe();
  EXPECT_THAT(r.error.detail, HasSubstr("pool_size 1")) << r.describe();
  EXPECT_THAT(r.error.detail, HasSubstr("waiting")) << r.describe();
  EXPECT_TRUE(std::regex_search(r.error.detail, std::regex(R"(client c\d+)"))) << r.describe();
  EXPECT_GE(waited, 0.9);
  EXPECT_LT(waited, 5.0);
  EXPECT_TRUE(funnel.wait_for_log("query_wait_timeout")) << funnel.log();

  // The holder's transaction was never disturbed.
  EXPECT_TRUE(holder.exec("SELECT 2").ok);
  EXPECT_TRUE(holder.exec("COMMIT").ok);
  pq_conn later(funnel.pooled_conninfo());
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later.value("SELECT 3"), "3");
}

// PQexec keeps only the last result of a query. pgfunnel's ERROR is a statement-level error, so
// the session must go on (ReadyForQuery) for PQexec-based drivers (psycopg2, ruby-pg, PHP) to see
// it; if the connection is closed right after it, they only get "server closed the connection
// unexpectedly", without the SQLSTATE.
TEST_F(Exhaustion, QueryWaitTimeoutReachesPQexecClients) {
  pgfunnel_process funnel({"--upstream", pg_->url(), "--pool-size", "1", "--query-wait-timeout", "1s"});
  pq_conn holder(funnel.pooled_conninfo());
  ASSERT_TRUE(holder.ok()) << holder.error().text;
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_TRUE(holder.exec("SELECT 1").ok);
  pq_conn waiter(funnel.pooled_conninfo());
  ASSERT_TRUE(waiter.ok()) << waiter.error().text;
  const query_result r = waiter.pqexec("SELECT 1");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.sqlstate, "53300") << "PQexec saw: " << r.describe();
  EXPECT_EQ(r.error.message, "query_wait_timeout") << "PQexec saw: " << r.describe();
  // An ERROR leaves the session usable: once the holder is done, the waiter's retry runs.
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  const query_result retry = waiter.exec("SELECT 'retried'");
  EXPECT_TRUE(retry.ok) << retry.describe();
}

TEST_F(Exhaustion, MaxClientConnRefusesTheThirdClient) {
  pgfunnel_process funnel({"--upstream", pg_->url(), "--max-client-conn", "2"});
  pq_conn first(funnel.pooled_conninfo());
  pq_conn second(funnel.pooled_conninfo());
  ASSERT_TRUE(first.ok()) << first.error().text;
  ASSERT_TRUE(second.ok()) << second.error().text;
  pq_conn third(funnel.pooled_conninfo());
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().severity, "FATAL") << third.error().text;
  EXPECT_EQ(third.error().sqlstate, "53300") << third.error().text;
  EXPECT_EQ(third.error().message, "no more connections allowed (max_client_conn)") << third.error().text;
  EXPECT_EQ(first.value("SELECT 1"), "1");

  // A slot that frees up is available again.
  second.close();
  bool admitted = false;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!admitted && std::chrono::steady_clock::now() < deadline) {
    pq_conn again(funnel.pooled_conninfo());
    admitted = again.ok() && again.value("SELECT 1") == "1";
    if (!admitted) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(admitted) << funnel.log();
}

TEST(ExhaustionUpstream, PostgresRefusingServerLoginsIsLoggedAndClientsWait) {
  pg_server small(pg_options{.max_connections = 5, .extra_conf = {"superuser_reserved_connections = 0"}});
  pgfunnel_process funnel({"--upstream", small.url(), "--pool-size", "10", "--query-wait-timeout", "20s"});
  constexpr int clients = 10;
  std::atomic<bool> release{false};
  std::atomic<int> in_transaction{0};
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      pq_conn conn(funnel.pooled_conninfo(), 30s);
      auto fail = [&](const std::string& what) {
        std::lock_guard lock(mutex);
        failures.push_back(what);
      };
      if (!conn.ok()) return fail("login: " + conn.error().text);
      for (const char* sql : {"BEGIN", "SELECT pg_backend_pid()"}) {
        const query_result r = conn.exec(sql);
        if (!r.ok) return fail(std::string(sql) + ": " + r.describe());
      }
      ++in_transaction;
      while (!release) std::this_thread::sleep_for(20ms);
      const query_result r = conn.exec("COMMIT");
      if (!r.ok) fail("COMMIT: " + r.describe());
    });
  }
  const bool logged = funnel.wait_for_log("upstream refused a connection for pool postgres/postgres", 15000);
  release = true;
  for (auto& t : threads) t.join();
  ASSERT_TRUE(logged) << funnel.log();
  const std::string log = funnel.log();
  EXPECT_TRUE(std::regex_search(log, std::regex(R"([^\n]* error [^\n]*upstream refused a connection for pool postgres/postgres[^\n]*\(53300\))")))
      << log;
  // Five servers at most; the other five clients waited for them instead of failing.
  EXPECT_EQ(in_transaction.load(), clients);
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures) << "\n--- pgfunnel log:\n" << log;
}

}  // namespace
}  // namespace pgfunnel::test
