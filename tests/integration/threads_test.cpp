// Integration (TSan candidate): pgfunnel with --workers 2 — a 300-client burst, pgbench, and cancels across threads without a single error.
#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
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

class Threads : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    funnel_ = new pgfunnel_process({"--upstream", shared_pg().url(), "--workers", "2", "--pool-size", "10"});
  }
  static void TearDownTestSuite() {
    delete funnel_;
    funnel_ = nullptr;
  }
  static pgfunnel_process* funnel_;
};
pgfunnel_process* Threads::funnel_ = nullptr;

TEST_F(Threads, ThreeHundredClientBurstWithoutErrors) {
  constexpr int clients = 300;
  std::latch start(clients);
  std::latch done(clients);
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      pq_conn c(funnel_->pooled_conninfo(), 60s);
      std::string failure;
      if (!c.ok()) {
        failure = "login: " + c.error().text;
      } else {
        // A mix: plain statements, a transaction block, and a parameterised (extended) query.
        const query_result a = c.exec("SELECT 1");
        const query_result b = c.exec("BEGIN; SELECT " + std::to_string(i) + "; COMMIT");
        const query_result p = c.exec_params("SELECT $1::int + 1", {std::to_string(i)});
        if (!a.ok) failure = "SELECT 1: " + a.describe();
        else if (!b.ok) failure = "block: " + b.describe();
        else if (!p.ok || p.value() != std::to_string(i + 1)) failure = "params: " + p.describe();
      }
      if (!failure.empty()) {
        std::lock_guard lock(mutex);
        failures.push_back(failure);
      }
      done.arrive_and_wait();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, e.g. " << failures.front()
                                << "\n--- pgfunnel log:\n" << funnel_->log();
  EXPECT_LE(count_client_backends(shared_pg()) - 1, 10);
}

TEST_F(Threads, PgbenchRunWithoutFailures) {
  const auto init = run_process({pg_program("pgbench"), "-i", "-s", "1", "-q", funnel_->direct_conninfo()}, 120s);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  for (const char* mode : {"simple", "extended"}) {
    SCOPED_TRACE(mode);
    const auto r = run_process({pg_program("pgbench"), "-M", mode, "-c", "40", "-j", "2", "-T", "3",
                                funnel_->pooled_conninfo()},
                               90s);
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- pgfunnel log:\n" << funnel_->log();
    const auto failed = pgbench_failed_transactions(r.output);
    ASSERT_TRUE(failed.has_value()) << r.output;
    EXPECT_EQ(*failed, 0) << r.output;
  }
}

TEST_F(Threads, CancelsFromManyThreadsHitOnlyTheirOwnQueries) {
  // Half the clients sleep and are cancelled, the other half run short queries meanwhile on the
  // same pool: every cancelled query ends with 57014, no short query is ever cancelled.
  constexpr int sleepers = 5;  // sleepers + workers <= pool_size: nobody waits for a server
  constexpr int workers = 5;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::string> failures;
  auto fail = [&](std::string what) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(what));
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&] {
      pq_conn c(funnel_->pooled_conninfo());
      if (!c.ok()) return fail("login: " + c.error().text);
      while (!stop) {
        const query_result r = c.exec("SELECT pg_sleep(0.01)");
        if (!r.ok) return fail("short query: " + r.describe());
      }
    });
  }
  for (int i = 0; i < sleepers; ++i) {
    threads.emplace_back([&] {
      pq_conn c(funnel_->pooled_conninfo());
      if (!c.ok()) return fail("login: " + c.error().text);
      for (int round = 0; round < 3; ++round) {
        if (PQsendQuery(c.get(), "SELECT pg_sleep(10)") != 1) return fail("send");
        std::this_thread::sleep_for(200ms);
        PGcancel* cancel = PQgetCancel(c.get());
        char buf[256];
        PQcancel(cancel, buf, sizeof buf);
        PQfreeCancel(cancel);
        const query_result r = get_single_result(c.get());
        if (r.error.sqlstate != "57014") return fail("cancelled query: " + r.describe());
      }
    });
  }
  for (int i = workers; i < workers + sleepers; ++i) threads[i].join();
  stop = true;
  for (int i = 0; i < workers; ++i) threads[i].join();
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures) << "\n--- pgfunnel log:\n" << funnel_->log();
}

}  // namespace
}  // namespace pgfunnel::test
