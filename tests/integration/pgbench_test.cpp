// Integration: pgbench -M prepared (TPC-B) through the pooled listener with many clients per server: no error, one pgbench_history row per transaction.
#include <chrono>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

struct bench_case {
  int clients;
  int pool_size;
  int transactions;  // per client (-t): the expected row count is exact, and time plays no part
};

class PgbenchPrepared : public ::testing::TestWithParam<bench_case> {
 public:
  static void SetUpTestSuite() {
    // Scale 1 (100,000 accounts, one branch: every transaction updates the same branch row, so
    // the clients contend as hard as TPC-B lets them), initialised directly.
    const auto init = run_process({pg_program("pgbench"), "-i", "-s", "1", "-q", shared_pg().conninfo()}, 120s);
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }
};

// One thread per client (-j = -c): pgbench 15 prepares with a blocking PQprepare, so a thread
// serving several clients stalls them all while it waits for a server that its other clients hold
// in open transactions (a deadlock through any transaction pooler, PgBouncer 1.25 included).
TEST_P(PgbenchPrepared, EveryTransactionCommitsOnce) {
  const bench_case c = GetParam();
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", std::to_string(c.pool_size)});
  shared_pg().exec("TRUNCATE pgbench_history");
  const long balance_before = std::stol(shared_pg().query_value("SELECT sum(bbalance) FROM pgbench_branches"));
  const std::string clients = std::to_string(c.clients);
  const auto r = run_process({pg_program("pgbench"), "-M", "prepared", "-c", clients, "-j", clients, "-t",
                              std::to_string(c.transactions), "--no-vacuum", funnel.pooled_conninfo()},
                             300s);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n--- pgfunnel log:\n" << funnel.log();
  // pgbench logs a failed statement and may carry on: its output must hold no error at all.
  EXPECT_THAT(r.output, Not(HasSubstr("ERROR"))) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("aborted"))) << r.output;
  const auto failed = pgbench_failed_transactions(r.output);
  ASSERT_TRUE(failed.has_value()) << r.output;
  EXPECT_EQ(*failed, 0) << r.output;
  const long expected = static_cast<long>(c.clients) * c.transactions;
  const auto processed = pgbench_processed_transactions(r.output);
  ASSERT_TRUE(processed.has_value()) << r.output;
  EXPECT_EQ(*processed, expected) << r.output;
  // Each TPC-B transaction inserts one history row: none lost, none doubled.
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pgbench_history"), std::to_string(expected));
  // And each one's branch update with it: the balance moved by exactly the deltas recorded.
  const long balance_after = std::stol(shared_pg().query_value("SELECT sum(bbalance) FROM pgbench_branches"));
  EXPECT_EQ(shared_pg().query_value("SELECT coalesce(sum(delta), 0) FROM pgbench_history"),
            std::to_string(balance_after - balance_before));
}

INSTANTIATE_TEST_SUITE_P(Issue12, PgbenchPrepared,
                         ::testing::Values(bench_case{20, 4, 50}, bench_case{50, 2, 20}),
                         [](const ::testing::TestParamInfo<bench_case>& info) {
                           return std::to_string(info.param.clients) + "ClientsOnPool" +
                                  std::to_string(info.param.pool_size);
                         });

}  // namespace
}  // namespace pgfunnel::test
