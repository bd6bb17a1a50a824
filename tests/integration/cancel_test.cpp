// Integration: cancel requests — forwarded promptly to the client's own query, never to another client's, made-up keys ignored.
#include <atomic>
#include <chrono>
#include <iostream>
#include <random>
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
using clock_type = std::chrono::steady_clock;

// PQcancel with the connection's own key (what libpq got in BackendKeyData); true when sent.
bool cancel_with_libpq(PGconn* conn, std::string* error = nullptr) {
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) return false;
  char buf[256] = {};
  const bool ok = PQcancel(cancel, buf, sizeof buf) == 1;
  PQfreeCancel(cancel);
  if (error) *error = buf;
  return ok;
}

class Cancel : public ::testing::Test {
 protected:
  void start(int pool_size) {
    funnel_ = std::make_unique<pgfunnel_process>(std::vector<std::string>{
        "--upstream", shared_pg().url(), "--pool-size", std::to_string(pool_size), "--log-level", "debug"});
  }
  std::unique_ptr<pgfunnel_process> funnel_;
};

TEST_F(Cancel, CancelEndsTheRunningQueryWithinASecond) {
  start(2);
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(30)"), 1);
  clock_type::time_point cancelled_at{};
  bool sent = false;
  std::string cancel_error;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancelled_at = clock_type::now();
    sent = cancel_with_libpq(c.get(), &cancel_error);
  });
  const auto started = clock_type::now();
  const query_result r = get_single_result(c.get());
  const auto ended = clock_type::now();
  canceller.join();
  ASSERT_TRUE(sent) << cancel_error;
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.sqlstate, "57014") << r.describe();
  EXPECT_THAT(r.error.message, ::testing::HasSubstr("canceling statement due to user request"));
  EXPECT_LT(std::chrono::duration<double>(ended - cancelled_at).count(), 1.0);
  EXPECT_LT(std::chrono::duration<double>(ended - started).count(), 5.0);
  // The client goes on as usual afterwards.
  EXPECT_EQ(c.value("SELECT 'after'"), "after");
}

TEST_F(Cancel, CancelInsideATransactionBlockAbortsOnlyThatTransaction) {
  start(1);
  pq_conn c(funnel_->pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  ASSERT_TRUE(c.exec("BEGIN").ok);
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(30)"), 1);
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel_with_libpq(c.get());
  });
  const query_result r = get_single_result(c.get());
  canceller.join();
  EXPECT_EQ(r.error.sqlstate, "57014") << r.describe();
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  EXPECT_TRUE(c.exec("ROLLBACK").ok);
  EXPECT_EQ(c.value("SELECT 1"), "1");
}

TEST_F(Cancel, IdleClientsCancelNeverReachesAnotherClientsQuery) {
  start(1);
  pq_conn a(funnel_->pooled_conninfo());
  pq_conn b(funnel_->pooled_conninfo());
  ASSERT_TRUE(a.ok()) << a.error().text;
  ASSERT_TRUE(b.ok()) << b.error().text;
  // A ran on the one server, then went idle: it holds no server now.
  const std::string server_pid = a.value("SELECT pg_backend_pid()");

  ASSERT_EQ(PQsendQuery(b.get(), "SELECT pg_sleep(2), pg_backend_pid()"), 1);
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(shared_pg().query_value("SELECT state FROM pg_stat_activity WHERE pid = " + server_pid), "active")
      << "B's query should run on the server A used before";
  std::string error;
  EXPECT_TRUE(cancel_with_libpq(a.get(), &error)) << error;
  // A second one a little later, in case the first raced B's start.
  std::this_thread::sleep_for(200ms);
  cancel_with_libpq(a.get());

  const auto started = clock_type::now();
  const query_result r = get_single_result(b.get());
  ASSERT_TRUE(r.ok) << "A's cancel reached B's query: " << r.describe();
  EXPECT_EQ(r.value(0, 1), server_pid);
  EXPECT_GT(seconds_since(started), 1.0) << "B's pg_sleep(2) ended early";
  EXPECT_TRUE(funnel_->wait_for_log("holds no server")) << funnel_->log();
  EXPECT_EQ(a.value("SELECT 'a still works'"), "a still works");
}

TEST_F(Cancel, CancelsRacingTheEndOfTheirTransactionNeverHitTheNextClient) {
  // A runs short queries and fires cancels at itself nonstop; B, on the same single server,
  // runs queries that take a little while. A cancel that arrives just as A's transaction ends
  // must not land on B's query, which runs on that server next.
  start(1);
  pq_conn a(funnel_->pooled_conninfo());
  pq_conn b(funnel_->pooled_conninfo());
  ASSERT_TRUE(a.ok()) << a.error().text;
  ASSERT_TRUE(b.ok()) << b.error().text;
  PGcancel* a_cancel = PQgetCancel(a.get());
  std::atomic<bool> stop{false};
  std::atomic<int> a_cancelled{0}, a_ok{0}, cancels_sent{0};
  std::string a_failure;
  std::thread a_queries([&] {
    while (!stop) {
      const query_result r = a.exec("SELECT pg_sleep(0.002)");
      if (r.ok) ++a_ok;
      else if (r.error.sqlstate == "57014") ++a_cancelled;
      else {
        a_failure = r.describe();
        return;
      }
    }
  });
  std::thread a_cancels([&] {
    char buf[256];
    while (!stop) {
      PQcancel(a_cancel, buf, sizeof buf);
      ++cancels_sent;
      std::this_thread::sleep_for(200us);
    }
  });
  int b_ok = 0;
  std::vector<std::string> b_failures;
  const auto until = clock_type::now() + 2500ms;
  while (clock_type::now() < until) {
    const query_result r = b.exec("SELECT pg_sleep(0.02)");
    if (r.ok) ++b_ok;
    else b_failures.push_back(r.describe());
  }
  stop = true;
  a_queries.join();
  a_cancels.join();
  PQfreeCancel(a_cancel);
  std::cout << "[ info ] A: " << a_ok << " ok, " << a_cancelled << " cancelled, " << cancels_sent
            << " cancels sent; B: " << b_ok << " ok\n";
  EXPECT_TRUE(b_failures.empty()) << "A's cancels reached B: " << ::testing::PrintToString(b_failures);
  EXPECT_TRUE(a_failure.empty()) << a_failure;
  EXPECT_GT(b_ok, 10);
  EXPECT_GT(a_ok + a_cancelled, 10);
}

TEST_F(Cancel, MadeUpKeysAreIgnored) {
  start(1);
  pq_conn b(funnel_->pooled_conninfo());
  ASSERT_TRUE(b.ok()) << b.error().text;
  const int b_pid = b.backend_pid();  // pgfunnel's handle for B, not a PostgreSQL pid
  ASSERT_EQ(PQsendQuery(b.get(), "SELECT pg_sleep(2)"), 1);
  std::this_thread::sleep_for(300ms);

  std::mt19937 rng(std::random_device{}());
  // B's process id with a wrong secret, then entirely made-up keys, then the real server's pid
  // (which a client of the pooled listener should never be able to target).
  const std::string real_pid = shared_pg().query_value(
      "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(2)' AND state = 'active' LIMIT 1");
  EXPECT_TRUE(send_raw_cancel("127.0.0.1", funnel_->pooled_port(), b_pid, static_cast<std::int32_t>(rng())));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(send_raw_cancel("127.0.0.1", funnel_->pooled_port(), static_cast<std::int32_t>(rng() % 100000 + 1),
                                static_cast<std::int32_t>(rng())));
  EXPECT_TRUE(send_raw_cancel("127.0.0.1", funnel_->pooled_port(), std::stoi(real_pid), 0));

  const query_result r = get_single_result(b.get());
  EXPECT_TRUE(r.ok) << "a made-up cancel key cancelled B: " << r.describe();
  EXPECT_TRUE(funnel_->wait_for_log("cancel request with an unknown key dropped")) << funnel_->log();
  EXPECT_EQ(b.value("SELECT 1"), "1");
}

TEST_F(Cancel, CancelThroughTheDirectListenerReachesPostgres) {
  start(1);
  pq_conn c(funnel_->direct_conninfo());
  ASSERT_TRUE(c.ok()) << c.error().text;
  // The direct listener passes PostgreSQL's own key through.
  EXPECT_EQ(std::to_string(c.backend_pid()), c.value("SELECT pg_backend_pid()"));
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT pg_sleep(30)"), 1);
  const std::string pid = std::to_string(c.backend_pid());
  for (const auto deadline = clock_type::now() + 10s;
       shared_pg().query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid + " AND state = 'active'") != "1" &&
       clock_type::now() < deadline;)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(cancel_with_libpq(c.get()));
  // 57014 is the cancel's own answer: a pg_sleep(30) that ran out would have succeeded.
  const query_result r = get_single_result(c.get());
  EXPECT_EQ(r.error.sqlstate, "57014") << r.describe();
  EXPECT_THAT(r.error.message, ::testing::HasSubstr("canceling statement due to user request")) << r.describe();
}

}  // namespace
}  // namespace pgfunnel::test
