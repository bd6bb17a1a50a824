// Integration: PostgreSQL restarted or stopped under load — errors only around the outage, recovery without restarting pgfunnel, no leaked servers.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
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
using clock_type = std::chrono::steady_clock;

class UpstreamRestart : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pg_ = new pg_server(); }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override {
    if (!pg_->running()) pg_->start();
    pg_->exec("CREATE TABLE IF NOT EXISTS restart_t (id int, n bigint); TRUNCATE restart_t");
  }
  static pg_server* pg_;
};
pg_server* UpstreamRestart::pg_ = nullptr;

// Running, not merely unreaped: a crashed pgfunnel stays a zombie until pgfunnel_process reaps it.
bool process_alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  return stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

TEST_F(UpstreamRestart, ClientsRecoverAfterARestartAndNoServerLeaks) {
  constexpr int pool_size = 5;
  constexpr int clients = 20;
  pgfunnel_process funnel({"--upstream", pg_->url(), "--pool-size", std::to_string(pool_size), "--query-wait-timeout",
                           "5s", "--server-connect-timeout", "2s", "--server-idle-timeout", "2s"});

  struct failure {
    double started;  // seconds since the load began, when the failing step began
    double ended;    // ... and when its error came back
    std::string what;
  };
  std::mutex mutex;
  std::vector<failure> failures;
  std::atomic<bool> stop{false};
  std::atomic<long> committed{0};
  std::atomic<long> committed_after_restart{0};
  std::atomic<bool> restarted{false};
  const auto load_start = clock_type::now();
  auto since_start = [&] { return std::chrono::duration<double>(clock_type::now() - load_start).count(); };

  std::vector<std::thread> threads;
  for (int id = 0; id < clients; ++id) {
    threads.emplace_back([&, id] {
      pq_conn conn;
      long n = 0;
      while (!stop) {
        const double began = since_start();
        if (!conn.ok()) {
          conn = pq_conn(funnel.pooled_conninfo(), 10s);
          if (!conn.ok()) {
            std::lock_guard lock(mutex);
            failures.push_back({began, since_start(), "login: " + conn.error().sqlstate + " " + conn.error().message});
            conn.close();
            std::this_thread::sleep_for(50ms);
            continue;
          }
        }
        bool ok = true;
        for (const std::string& sql : {std::string("BEGIN"),
                                       "INSERT INTO restart_t VALUES (" + std::to_string(id) + ", " + std::to_string(++n) + ")",
                                       std::string("SELECT count(*) FROM restart_t WHERE id = ") + std::to_string(id),
                                       std::string("COMMIT")}) {
          const double step_began = since_start();
          const query_result r = conn.exec(sql);
          if (!r.ok) {
            std::lock_guard lock(mutex);
            failures.push_back({step_began, since_start(), sql.substr(0, 6) + ": " + r.describe()});
            ok = false;
            break;
          }
        }
        if (ok) {
          ++committed;
          if (restarted) ++committed_after_restart;
        } else {
          // Whatever state the connection is in, start over on a new one.
          conn.close();
          std::this_thread::sleep_for(50ms);
        }
      }
    });
  }

  std::this_thread::sleep_for(2s);
  const double restart_began = since_start();
  pg_->restart();
  const double restart_ended = since_start();
  restarted = true;
  std::this_thread::sleep_for(4s);
  stop = true;
  for (auto& t : threads) t.join();
  const double load_ended = since_start();

  ASSERT_TRUE(process_alive(funnel.pid())) << "pgfunnel died during the restart:\n" << funnel.log();
  EXPECT_GT(committed.load(), 0);
  EXPECT_GT(committed_after_restart.load(), clients) << "clients did not come back after the restart";

  // Failures are allowed only for steps that overlap the outage: a step counts as before it only
  // if its error came back before the restart began (a step can wait for a server in the pool's
  // queue and reach one only as the restart starts), and as after it only if it began well after.
  std::string late;
  int during = 0, outside = 0;
  for (const auto& f : failures) {
    const bool before = f.ended < restart_began;
    const bool after = f.started > restart_ended + 0.5;
    if (!before && !after) {
      ++during;
      continue;
    }
    if (++outside <= 10)
      late += "\n  " + std::string(before ? "before" : "after") + " the restart, from " + std::to_string(f.started) +
              " s to " + std::to_string(f.ended) + " s: " + f.what;
  }
  if (outside > 10) late += "\n  ... " + std::to_string(outside - 10) + " more";
  EXPECT_TRUE(late.empty()) << "restart from " << restart_began << " s to " << restart_ended << " s, load ended "
                            << load_ended << " s; unexpected failures:" << late << "\n--- pgfunnel log:\n"
                            << funnel.log();
  std::cout << "[ info ] " << committed.load() << " transactions, " << committed_after_restart.load()
            << " after the restart; " << during << " failures during the restart\n";

  // No leaked server connections: never more than pool_size, and all gone once idle past
  // server_idle_timeout (2 s) plus the upkeep tick.
  EXPECT_LE(count_client_backends(*pg_) - 1, pool_size);
  int remaining = -1;
  const auto deadline = clock_type::now() + 8s;
  do {
    remaining = count_client_backends(*pg_) - 1;  // minus the counting session
    EXPECT_LE(remaining, pool_size);
    if (remaining == 0) break;
    std::this_thread::sleep_for(250ms);
  } while (clock_type::now() < deadline);
  EXPECT_EQ(remaining, 0) << "server connections still open after server_idle_timeout:\n"
                          << pg_->query_value("SELECT string_agg(pid || ' ' || state || ' ' || coalesce(query, ''), E'\\n') "
                                              "FROM pg_stat_activity WHERE usename = 'postgres' AND "
                                              "backend_type = 'client backend' AND pid <> pg_backend_pid()")
                          << "\n--- pgfunnel log:\n" << funnel.log();
}

// Connects and runs SELECT 1; the error, if any, from the login or the query.
query_result connect_and_select(const std::string& conninfo) {
  pq_conn c(conninfo, 15s);
  if (!c.ok()) {
    query_result r;
    r.error = c.error();
    return r;
  }
  return c.exec("SELECT 1");
}

TEST_F(UpstreamRestart, StoppedUpstreamFailsNewClientsFastAndRecovers) {
  pgfunnel_process funnel({"--upstream", pg_->url(), "--pool-size", "3", "--server-connect-timeout", "2s",
                           "--query-wait-timeout", "10s"});
  // A pool that knows the server (an idle server parked in it)...
  pq_conn before(funnel.pooled_conninfo());
  ASSERT_TRUE(before.ok()) << before.error().text;
  ASSERT_EQ(before.value("SELECT 1"), "1");
  pg_->stop();

  {
    const query_result r = connect_and_select(funnel.pooled_conninfo());
    ASSERT_FALSE(r.ok);
    EXPECT_EQ(r.error.severity, "FATAL") << r.describe();
    EXPECT_EQ(r.error.sqlstate, "08006") << r.describe();
    // The real cause, at once: the refused connect, not a timeout that waited for nothing.
    EXPECT_THAT(r.error.message, ::testing::HasSubstr("Connection refused")) << r.describe();
    ASSERT_TRUE(process_alive(funnel.pid())) << "pgfunnel died after failing a client with 08006:\n" << funnel.log();
  }
  {
    // ...and the client that was already connected when the server went away.
    const query_result r = before.exec("SELECT 1");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.sqlstate, "08006") << r.describe();
  }
  {
    // A pgfunnel that never saw the server: the login itself fails.
    pgfunnel_process fresh({"--upstream", pg_->url(), "--server-connect-timeout", "2s"});
    const query_result r = connect_and_select(fresh.pooled_conninfo());
    ASSERT_FALSE(r.ok);
    EXPECT_EQ(r.error.severity, "FATAL") << r.describe();
    EXPECT_EQ(r.error.sqlstate, "08006") << r.describe();
    EXPECT_THAT(r.error.message, ::testing::HasSubstr("Connection refused")) << r.describe();

    pg_->start();
    const query_result again = connect_and_select(fresh.pooled_conninfo());
    EXPECT_TRUE(again.ok) << again.describe() << "\n--- pgfunnel log:\n" << fresh.log();
  }
  const query_result again = connect_and_select(funnel.pooled_conninfo());
  EXPECT_TRUE(again.ok) << again.describe() << "\n--- pgfunnel log:\n" << funnel.log();
  EXPECT_TRUE(process_alive(funnel.pid()));
}

}  // namespace
}  // namespace pgfunnel::test
