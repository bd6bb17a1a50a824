// Integration: reload (SIGHUP) and shutdown signals — live pool size, bad files kept out, SIGTERM/SIGINT drains.
#include <atomic>
#include <csignal>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

#ifndef PGFUNNEL_BINARY_DIR
#define PGFUNNEL_BINARY_DIR "."
#endif

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string config_path(std::string_view name) {
  return std::string(PGFUNNEL_BINARY_DIR) + "/lifecycle-" + std::to_string(::getpid()) + "-" + std::string(name) +
         ".yaml";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string base_config(const pg_server& pg, int pool_size, std::string_view extra = "") {
  return "upstream: " + pg.url() + "\npool_size: " + std::to_string(pool_size) +
         "\nquery_wait_timeout: 2s\nlog:\n  level: debug\n" + std::string(extra);
}

// Opens `n` pooled clients that each hold a transaction (and so a server) open.
std::vector<pq_conn> hold_transactions(const pgfunnel_process& funnel, int n) {
  std::vector<pq_conn> held;
  for (int i = 0; i < n; ++i) {
    pq_conn c(funnel.pooled_conninfo());
    EXPECT_TRUE(c.ok()) << c.error_message();
    EXPECT_TRUE(c.exec("BEGIN; SELECT 1").ok);
    held.push_back(std::move(c));
  }
  return held;
}

TEST(Reload, PoolSizeAppliesLiveAndABrokenFileChangesNothing) {
  pg_server& pg = shared_pg();
  const std::string path = config_path("pool");
  write_file(path, base_config(pg, 5));
  pgfunnel_process funnel({"--config", path});

  std::vector<pq_conn> held = hold_transactions(funnel, 5);
  pq_conn sixth(funnel.pooled_conninfo());
  ASSERT_TRUE(sixth.ok());
  const query_result refused = sixth.exec("SELECT 1");
  EXPECT_EQ(refused.error.sqlstate, "53300") << "pool_size 5: a sixth transaction waits and times out";

  // A broken file: every error logged, the running configuration (pool_size 5) stays.
  write_file(path, base_config(pg, 5) + "pool_size_typo: 10\npool_size: lots\n");
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("reload failed")) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("pool_size_typo"));
  EXPECT_EQ(sixth.exec("SELECT 1").error.sqlstate, "53300") << "still pool_size 5 after a broken file";

  // pool_size 10: applied without dropping anyone; the sixth client gets a server now.
  write_file(path, base_config(pg, 10));
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("configuration reloaded")) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("reload: pool_size = 10"));
  EXPECT_EQ(sixth.value("SELECT 6"), "6");
  std::vector<pq_conn> more = hold_transactions(funnel, 5);  // 10 transactions open at once
  for (auto& c : held) EXPECT_TRUE(c.exec("COMMIT").ok) << "a client was dropped by the reload";
  for (auto& c : more) EXPECT_TRUE(c.exec("COMMIT").ok);
  ::unlink(path.c_str());
}

// A reload that rotates a users: password is what the pool's next server logs in with: the pool
// asks for its login at each connect, not once when it was made.
TEST(Reload, ARotatedPasswordIsUsedByTheNextServerLogin) {
  pg_server& pg = shared_pg();
  pg.exec("DROP ROLE IF EXISTS rotated; CREATE ROLE rotated LOGIN PASSWORD 'first'");
  const std::string path = config_path("rotate");
  const auto config = [&](std::string_view password) {
    return base_config(pg, 1, "users:\n  - name: rotated\n    password: " + std::string(password) + "\n");
  };
  write_file(path, config("first"));
  pgfunnel_process funnel({"--config", path});
  {
    pq_conn c(funnel.pooled_conninfo("rotated", "first"));
    ASSERT_TRUE(c.ok()) << c.error_message() << funnel.log();
    EXPECT_EQ(c.value("SELECT current_user"), "rotated");
  }
  // The operator rotates the password in PostgreSQL and in pgfunnel's file, then every server of
  // the pool goes away (a failover, server_lifetime, RECONNECT: here, a terminated backend).
  pg.exec("ALTER ROLE rotated PASSWORD 'second'");
  write_file(path, config("second"));
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("configuration reloaded")) << funnel.log();
  pg.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'rotated'");
  pq_conn c(funnel.pooled_conninfo("rotated", "second"));
  ASSERT_TRUE(c.ok()) << c.error_message() << funnel.log();
  const query_result r = c.exec("SELECT current_user");
  ASSERT_TRUE(r.ok) << r.describe() << funnel.log();
  EXPECT_EQ(r.value(), "rotated");
  ::unlink(path.c_str());
}

TEST(Reload, RestartOnlyChangesAreReportedAndKept) {
  pg_server& pg = shared_pg();
  const std::string path = config_path("restart");
  write_file(path, base_config(pg, 3, "workers: 1\n"));
  pgfunnel_process funnel({"--config", path});
  write_file(path, base_config(pg, 3, "workers: 4\n"));
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("configuration reloaded")) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("workers changed to 4 but needs a restart; still 1"));
  pq_conn c(funnel.pooled_conninfo());
  EXPECT_EQ(c.value("SELECT 1"), "1");
  ::unlink(path.c_str());
}

TEST(Shutdown, SigtermLetsTheTransactionCommitRefusesNewClientsAndExitsWhenTheClientLeaves) {
  pg_server& pg = shared_pg();
  pg.exec("DROP TABLE IF EXISTS lifecycle_t; CREATE TABLE lifecycle_t (v int)");
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2", "--shutdown-timeout", "60s"});
  auto client = std::make_unique<pq_conn>(funnel.pooled_conninfo());
  ASSERT_TRUE(client->ok());
  ASSERT_TRUE(client->exec("BEGIN; INSERT INTO lifecycle_t VALUES (1)").ok);

  funnel.signal(SIGTERM);
  ASSERT_TRUE(funnel.wait_for_log("SIGTERM: no new connections")) << funnel.log();
  pq_conn late(funnel.pooled_conninfo(), 3s);
  EXPECT_FALSE(late.ok()) << "a new client was accepted during shutdown";

  EXPECT_TRUE(client->exec("COMMIT").ok);
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM lifecycle_t"), "1");
  EXPECT_EQ(client->value("SELECT 2"), "2") << "an existing client keeps working until it leaves";
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(::kill(funnel.pid(), 0), 0) << "exited while a client was still connected";

  client.reset();  // the last client leaves
  const int status = funnel.wait_exit(10000);
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("shutdown: no client left"));
}

TEST(Shutdown, SigintWaitsForLeasedServersNotIdleClients) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2", "--shutdown-timeout", "60s"});
  pq_conn idle(funnel.pooled_conninfo());
  pq_conn busy(funnel.pooled_conninfo());
  ASSERT_TRUE(idle.ok() && busy.ok());
  ASSERT_TRUE(busy.exec("BEGIN; SELECT 1").ok);
  funnel.signal(SIGINT);
  ASSERT_TRUE(funnel.wait_for_log("SIGINT: no new connections")) << funnel.log();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(::kill(funnel.pid(), 0), 0) << "exited while a transaction held a server";
  EXPECT_TRUE(busy.exec("COMMIT").ok);
  const int status = funnel.wait_exit(10000);
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("shutdown: no server leased"));
}

TEST(Shutdown, TimeoutAndSecondSignalEndTheWait) {
  pg_server& pg = shared_pg();
  {
    pgfunnel_process funnel({"--upstream", pg.url(), "--shutdown-timeout", "1s"});
    pq_conn idle(funnel.pooled_conninfo());
    ASSERT_TRUE(idle.ok());
    funnel.signal(SIGTERM);
    const int status = funnel.wait_exit(15000);
    EXPECT_NE(status, -1) << "still running after shutdown_timeout";
    EXPECT_THAT(funnel.log(), HasSubstr("shutdown_timeout reached with 1 pooled"));
  }
  {
    pgfunnel_process funnel({"--upstream", pg.url(), "--shutdown-timeout", "0"});
    pq_conn idle(funnel.pooled_conninfo());
    ASSERT_TRUE(idle.ok());
    funnel.signal(SIGTERM);
    ASSERT_TRUE(funnel.wait_for_log("SIGTERM: no new connections")) << funnel.log();
    funnel.signal(SIGTERM);
    const int status = funnel.wait_exit(15000);
    EXPECT_NE(status, -1) << "a second SIGTERM did not end the wait";
    EXPECT_THAT(funnel.log(), HasSubstr("SIGTERM during shutdown: exiting now"));
  }
  {
    pgfunnel_process funnel({"--upstream", pg.url()});
    pq_conn busy(funnel.pooled_conninfo());
    ASSERT_TRUE(busy.exec("BEGIN; SELECT 1").ok);
    funnel.signal(SIGQUIT);
    EXPECT_NE(funnel.wait_exit(15000), -1) << "SIGQUIT did not exit at once";
  }
}

// SIGUSR1 pauses every pool (new transactions wait), SIGUSR2 resumes them.
TEST(Signals, Sigusr1PausesAndSigusr2Resumes) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "2"});
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_EQ(c.value("SELECT 1"), "1");  // the pool exists
  funnel.signal(SIGUSR1);
  ASSERT_TRUE(funnel.wait_for_log("SIGUSR1: pausing every pool")) << funnel.log();
  std::atomic<bool> done{false};
  std::string got;
  std::thread t([&] {
    got = c.value("SELECT 'after resume'");
    done = true;
  });
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(done.load()) << "a transaction ran while the pool was paused";
  funnel.signal(SIGUSR2);
  t.join();
  EXPECT_EQ(got, "after resume");
}

}  // namespace
}  // namespace pgfunnel::test
