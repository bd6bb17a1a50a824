// Integration: every client/server timeout shows its effect and its error text (login, idle, idle in transaction, query, wait notice, server check, login retry).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
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
#include "raw_client.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Collects the NOTICE/WARNING texts libpq receives on a connection.
struct notices {
  std::mutex mutex;
  std::vector<std::string> texts;
  static void receive(void* arg, const PGresult* res) {
    auto* self = static_cast<notices*>(arg);
    std::lock_guard lock(self->mutex);
    self->texts.emplace_back(PQresultErrorMessage(res));
  }
  void attach(const pq_conn& c) { PQsetNoticeReceiver(c.get(), &notices::receive, this); }
  std::string all() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& t : texts) out += t;
    return out;
  }
};

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

TEST(Timeouts, ClientLoginTimeoutClosesASilentClientAndSaysWhy) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--client-login-timeout", "1s"});
  raw_client silent(funnel.pooled_port());
  ASSERT_GE(silent.fd(), 0);
  bool closed = false;
  const std::string said = silent.read_until_closed(10s, &closed);
  EXPECT_TRUE(closed) << "pgfunnel kept a client that never sent its startup packet";
  // PostgreSQL's words for its authentication_timeout, as an ErrorResponse.
  ASSERT_FALSE(said.empty()) << "closed without a word";
  EXPECT_EQ(said[0], 'E');
  EXPECT_THAT(said, HasSubstr("C57014"));
  EXPECT_THAT(said, HasSubstr("canceling authentication due to timeout"));
  EXPECT_TRUE(funnel.wait_for_log("client_login_timeout")) << funnel.log();
}

TEST(Timeouts, ClientIdleTimeoutEndsAnIdleSession) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--client-idle-timeout", "1s"});
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value("SELECT 1"), "1");
  std::this_thread::sleep_for(1500ms);
  const query_result r = c.exec("SELECT 2");
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error.text, HasSubstr("client_idle_timeout")) << r.describe();
  EXPECT_TRUE(funnel.wait_for_log("client_idle_timeout: no request")) << funnel.log();
}

TEST(Timeouts, IdleTransactionTimeoutRollsBackAndReusesTheServer) {
  pg_server& pg = shared_pg();
  pg.exec("DROP TABLE IF EXISTS timeouts_t; CREATE TABLE timeouts_t (v int)");
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "1", "--idle-transaction-timeout", "1s"});
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_TRUE(c.ok());
  const std::string pid = c.value("SELECT pg_backend_pid()");
  ASSERT_TRUE(c.exec("BEGIN; INSERT INTO timeouts_t VALUES (1)").ok);
  std::this_thread::sleep_for(1500ms);
  const query_result r = c.exec("COMMIT");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.sqlstate, "25P03") << r.describe();
  EXPECT_THAT(r.error.text, HasSubstr("idle-in-transaction timeout"));
  EXPECT_EQ(pg.query_value("SELECT count(*) FROM timeouts_t"), "0") << "the abandoned transaction committed";
  pq_conn next(funnel.pooled_conninfo());
  EXPECT_EQ(next.value("SELECT pg_backend_pid()"), pid) << "the server was not rolled back and reused";
}

TEST(Timeouts, QueryTimeoutCancelsWithANoticeAndTheSessionGoesOn) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--query-timeout", "1s"});
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_TRUE(c.ok());
  notices seen;
  seen.attach(c);
  const auto start = std::chrono::steady_clock::now();
  const query_result r = c.exec("SELECT pg_sleep(30)");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.sqlstate, "57014") << r.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s) << "the query was not cancelled";
  EXPECT_THAT(seen.all(), HasSubstr("query_timeout"));
  EXPECT_EQ(c.value("SELECT 3"), "3");
  EXPECT_TRUE(funnel.wait_for_log("query_timeout: a request ran longer than 1000 ms")) << funnel.log();
}

TEST(Timeouts, QueryWaitNotifyTellsAWaitingClient) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "1", "--query-wait-notify", "1s"});
  pq_conn holder(funnel.pooled_conninfo());
  pq_conn waiter(funnel.pooled_conninfo());
  ASSERT_TRUE(holder.ok() && waiter.ok());
  notices seen;
  seen.attach(waiter);
  ASSERT_TRUE(holder.exec("BEGIN; SELECT 1").ok);
  std::string got;
  std::thread t([&] { got = waiter.value("SELECT 'served'"); });
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  t.join();
  EXPECT_EQ(got, "served");
  EXPECT_THAT(seen.all(), HasSubstr("waiting 1 s for a free server (pool_size 1"));
}

TEST(Timeouts, ServerCheckQueryReplacesAServerThatFailsIt) {
  pg_server& pg = shared_pg();
  pg.exec("CREATE OR REPLACE FUNCTION timeouts_check() RETURNS int LANGUAGE sql AS 'SELECT 1'");
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2", "--server-check-delay", "0",
                           "--server-check-query", "select timeouts_check()"});
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_TRUE(c.ok());
  const std::string first = c.value("SELECT pg_backend_pid()");
  EXPECT_EQ(c.value("SELECT pg_backend_pid()"), first) << "a passing check keeps the server";
  pg.exec("DROP FUNCTION timeouts_check()");
  const std::string after = c.value("SELECT pg_backend_pid()");
  EXPECT_NE(after, first) << "a server failing server_check_query was handed out";
  EXPECT_TRUE(funnel.wait_for_log("server_check_query failed")) << funnel.log();
}

TEST(Timeouts, ServerLoginRetryAnswersFromTheLastFailure) {
  // An upstream port nothing listens on: every login attempt is refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string dead = "postgres://postgres:postgres@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/postgres";
  for (const char* retry : {"30s", "0"}) {
    pgfunnel_process funnel({"--upstream", dead, "--server-login-retry", retry});
    for (int i = 0; i < 3; ++i) {
      pq_conn c(funnel.pooled_conninfo());
      EXPECT_FALSE(c.ok());
      EXPECT_THAT(c.error_message(), HasSubstr("127.0.0.1")) << "the client sees why: the login error";
    }
    const int attempts = count_of(funnel.log(), "server login failed");
    if (std::string(retry) == "0") {
      EXPECT_EQ(attempts, 3) << funnel.log();
    } else {
      EXPECT_EQ(attempts, 1) << "server_login_retry 30s: one attempt, the same answer for the others\n" << funnel.log();
    }
  }
  ::close(fd);
}

}  // namespace
}  // namespace pgfunnel::test
