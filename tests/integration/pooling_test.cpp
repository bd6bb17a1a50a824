// Integration: transaction pooling end to end — psql and pgbench through the pooled listener, server count capped, session parameters per client.
#include <atomic>
#include <chrono>
#include <iostream>
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

// Samples the number of postgres client backends (the sampling session included) until stopped.
class backend_sampler {
 public:
  explicit backend_sampler(pg_server& pg) : pg_(pg), thread_([this] { run(); }) {}
  ~backend_sampler() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int max() const { return max_.load(); }
  int samples() const { return samples_.load(); }

 private:
  void run() {
    while (!done_) {
      try {
        const int n = count_client_backends(pg_);
        if (n > max_) max_ = n;
        ++samples_;
      } catch (const std::exception&) {
        // The fixture's own connection failed; nothing sampled this round.
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  pg_server& pg_;
  std::atomic<bool> done_{false};
  std::atomic<int> max_{0};
  std::atomic<int> samples_{0};
  std::thread thread_;
};

// Waits until only the fixture's own session is left (backends of closed clients exit asynchronously).
void wait_for_quiet(pg_server& pg) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (count_client_backends(pg) > 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
}

TEST(Pooling, PsqlRunsQueriesThroughThePooledListener) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2"});
  const auto r = run_process({pg_program("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                              funnel.pooled_conninfo(),
                              "-c", "SELECT 40 + 2",
                              "-c", "DROP TABLE IF EXISTS psql_t; CREATE TABLE psql_t (x int)",
                              "-c", "BEGIN; INSERT INTO psql_t VALUES (1), (2); COMMIT",
                              "-c", "SELECT 'sum=' || sum(x) FROM psql_t",
                              "-c", "\\dt psql_t"},
                             60s);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- pgfunnel log:\n" << funnel.log();
  EXPECT_THAT(r.output, HasSubstr("42\n"));
  EXPECT_THAT(r.output, HasSubstr("sum=3\n"));
  EXPECT_THAT(r.output, HasSubstr("psql_t"));  // \dt's catalog queries went through too
}

class PgbenchThroughPool : public ::testing::TestWithParam<const char*> {};

TEST_P(PgbenchThroughPool, FiftyClientsOnFiveServersWithoutFailures) {
  pg_server& pg = shared_pg();
  constexpr int pool_size = 5;
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", std::to_string(pool_size)});

  const auto init = run_process({pg_program("pgbench"), "-i", "-s", "1", "-q", funnel.direct_conninfo()}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  wait_for_quiet(pg);

  backend_sampler sampler(pg);
  const auto r = run_process({pg_program("pgbench"), "-M", GetParam(), "-c", "50", "-j", "2", "-T", "4",
                              funnel.pooled_conninfo()},
                             90s);
  sampler.stop();
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- pgfunnel log:\n" << funnel.log();
  const auto failed = pgbench_failed_transactions(r.output);
  ASSERT_TRUE(failed.has_value()) << r.output;
  EXPECT_EQ(*failed, 0) << r.output;
  const auto processed = pgbench_processed_transactions(r.output);
  ASSERT_TRUE(processed.has_value()) << r.output;
  EXPECT_GT(*processed, 50) << r.output;
  std::cout << "[ info ] pgbench -M " << GetParam() << ": " << *processed << " transactions, at most "
            << sampler.max() - 1 << " server connections seen\n";
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("aborted"))) << r.output;
  // The pool's servers plus the sampling session itself.
  EXPECT_GT(sampler.samples(), 5);
  EXPECT_LE(sampler.max(), pool_size + 1) << "more server connections than pool_size";
  EXPECT_GE(sampler.max(), 2) << "the sampler never saw a pool server";
}

INSTANTIATE_TEST_SUITE_P(Modes, PgbenchThroughPool, ::testing::Values("simple", "extended"));

TEST(Pooling, SessionParametersFollowTheClientAcrossOneServer) {
  pg_server& pg = shared_pg();
  const std::string default_tz = pg.query_value("SHOW TimeZone");
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "1"});
  pq_conn a(funnel.pooled_conninfo() + " application_name=alpha");
  pq_conn b(funnel.pooled_conninfo() + " application_name=beta");
  ASSERT_TRUE(a.ok()) << a.error().text;
  ASSERT_TRUE(b.ok()) << b.error().text;

  // One server for both: every query below runs on the same backend.
  const std::string pid = a.value("SELECT pg_backend_pid()");
  EXPECT_EQ(b.value("SELECT pg_backend_pid()"), pid);

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    EXPECT_EQ(a.value("SELECT current_setting('application_name')"), "alpha");
    EXPECT_EQ(b.value("SELECT current_setting('application_name')"), "beta");
    EXPECT_EQ(a.value("SELECT current_setting('application_name')"), "alpha");
  }

  ASSERT_TRUE(a.exec("SET TimeZone = 'America/New_York'").ok);
  EXPECT_EQ(b.value("SHOW TimeZone"), default_tz);
  ASSERT_TRUE(b.exec("SET TimeZone = 'Asia/Tokyo'").ok);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    EXPECT_EQ(a.value("SHOW TimeZone"), "America/New_York");
    EXPECT_EQ(b.value("SHOW TimeZone"), "Asia/Tokyo");
    EXPECT_EQ(a.value("SELECT current_setting('application_name')"), "alpha");
    EXPECT_EQ(b.value("SELECT current_setting('application_name')"), "beta");
  }
  EXPECT_STREQ(PQparameterStatus(a.get(), "TimeZone"), "America/New_York");
  EXPECT_STREQ(PQparameterStatus(b.get(), "TimeZone"), "Asia/Tokyo");
  EXPECT_STREQ(PQparameterStatus(a.get(), "application_name"), "alpha");

  // A third client that set nothing gets the server defaults back, not a previous client's values.
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  EXPECT_EQ(c.value("SHOW TimeZone"), default_tz);
  EXPECT_EQ(c.value("SELECT current_setting('application_name')"), "");
  EXPECT_EQ(c.value("SELECT pg_backend_pid()"), pid);
  // And a SET inside a transaction block that is rolled back does not stick to the client.
  ASSERT_TRUE(a.exec("BEGIN").ok);
  ASSERT_TRUE(a.exec("SET TimeZone = 'Europe/Paris'").ok);
  ASSERT_TRUE(a.exec("ROLLBACK").ok);
  EXPECT_EQ(c.value("SHOW TimeZone"), default_tz);
  EXPECT_EQ(a.value("SHOW TimeZone"), "America/New_York");
  EXPECT_STREQ(PQparameterStatus(a.get(), "TimeZone"), "America/New_York");
}

}  // namespace
}  // namespace pgfunnel::test
