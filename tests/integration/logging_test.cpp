// Integration: what pgfunnel logs for operators — connect/close lines, rate-limited exhaustion warnings, the churn warning.
#include <chrono>
#include <csignal>
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

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

TEST(Logging, OneLineAtLoginAndOneAtCloseWithTheSessionsFigures) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--log-level", "info"});
  {
    pq_conn c(funnel.pooled_conninfo() + " application_name=logtest");
    ASSERT_TRUE(c.ok());
    for (int i = 0; i < 3; ++i) ASSERT_EQ(c.value("SELECT " + std::to_string(i)), std::to_string(i));
  }
  ASSERT_TRUE(funnel.wait_for_log("closed: client terminated")) << funnel.log();
  const std::string log = funnel.log();
  EXPECT_THAT(log, HasSubstr("login: postgres@postgres from 127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("application_name 'logtest'"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(closed: client terminated after [0-9.]+ s, (\d+) transactions, (\d+) bytes in, (\d+) bytes out \(pool postgres/postgres, application_name 'logtest', from 127\.0\.0\.1:\d+\))")))
      << log;
  EXPECT_EQ(m[1], "3");
  EXPECT_GT(std::stoi(m[2]), 0);
  EXPECT_GT(std::stoi(m[3]), 0);

  pgfunnel_process quiet({"--upstream", shared_pg().url(), "--log-level", "info", "--log-connections", "off"});
  { pq_conn c(quiet.pooled_conninfo()); ASSERT_TRUE(c.ok()); }
  // A login line would be written before the client's AuthenticationOk was: by now it is in the
  // log if it ever will be. The reload's line, written after, proves the log is read that far.
  quiet.signal(SIGHUP);
  ASSERT_TRUE(quiet.wait_for_log("configuration reloaded")) << quiet.log();
  EXPECT_EQ(count_of(quiet.log(), "login: "), 0);
}

TEST(Logging, ExhaustionWarningsAreRateLimitedAndWorded) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--max-client-conn", "1"});
  pq_conn first(funnel.pooled_conninfo());
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 20; ++i) {
    pq_conn refused(funnel.pooled_conninfo());
    EXPECT_FALSE(refused.ok());
  }
  // Each refusal is logged (or folded) before its FATAL is sent, so all 20 are accounted for now.
  EXPECT_EQ(count_of(funnel.log(), "too many clients: refused"), 1) << funnel.log();

  pgfunnel_process pool({"--upstream", shared_pg().url(), "--pool-size", "1", "--query-wait-timeout", "300ms"});
  pq_conn holder(pool.pooled_conninfo());
  ASSERT_TRUE(holder.exec("BEGIN; SELECT 1").ok);
  std::vector<std::thread> waiters;
  std::vector<query_result> results(5);
  for (int i = 0; i < 5; ++i)
    waiters.emplace_back([&, i] {
      pq_conn c(pool.pooled_conninfo());
      results[i] = c.exec("SELECT 1");
    });
  for (auto& t : waiters) t.join();
  for (const auto& r : results) {
    EXPECT_EQ(r.error.sqlstate, "53300");
    EXPECT_THAT(r.error.detail, HasSubstr("client c")) << "the client id is in DETAIL";
  }
  const std::string log = pool.log();
  EXPECT_EQ(count_of(log, "pool exhausted: query_wait_timeout"), 1) << log;
  EXPECT_THAT(log, HasSubstr("application_name '"));
}

TEST(Logging, ConnectionChurnIsCalledOut) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--churn-warning-rate", "1"});
  for (int i = 0; i < 15; ++i) {
    pq_conn c(funnel.pooled_conninfo() + " application_name=per-request-client");
    ASSERT_TRUE(c.ok());
  }
  ASSERT_TRUE(funnel.wait_for_log("connection churn: application_name 'per-request-client'")) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("created per request instead of once per instance"));
  EXPECT_EQ(count_of(funnel.log(), "connection churn"), 1) << "warned once per minute, not per connection";
}

TEST(Logging, FailedLoginNamesTheAddressAndGivesTheClientItsId) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--users", "alice:secret"});
  pq_conn c(funnel.pooled_conninfo("alice", "wrong"));
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.error_message(), HasSubstr("pgfunnel client c"));
  EXPECT_TRUE(funnel.wait_for_log("login failed from 127.0.0.1:")) << funnel.log();
}

}  // namespace
}  // namespace pgfunnel::test
