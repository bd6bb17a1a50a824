// Integration: hostile and broken peers — startup packets PostgreSQL refuses, an upstream that never answers, announced sizes never sent, half messages, databases that do not exist.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bytes.hpp"
#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "raw_client.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string startup(std::uint32_t version, std::string_view parameters) {
  return packet(u32be(version) + std::string(parameters));
}

// The SQLSTATE and message of a v3 ErrorResponse ("C…" and "M…" fields), or the text of a 2.0 one.
std::string error_summary(const std::string& reply) {
  if (reply.empty()) return "(closed without a word)";
  if (reply[0] != 'E') return "(not an error: " + hex(reply.substr(0, 16)) + ")";
  if (reply.size() > 5 && reply[1] == 'F') return "v2 " + reply.substr(1, reply.find('\0') - 1);  // "EFATAL: …"
  std::string code, message;
  for (std::size_t at = 5; at < reply.size() && reply[at] != '\0';) {
    const char field = reply[at];
    const std::size_t end = reply.find('\0', at + 1);
    if (end == std::string::npos) break;
    if (field == 'C') code = reply.substr(at + 1, end - at - 1);
    if (field == 'M') message = reply.substr(at + 1, end - at - 1);
    at = end + 1;
  }
  return code + " " + message;
}

struct bad_startup {
  const char* name;
  std::string bytes;
};

std::vector<bad_startup> startups_postgres_answers() {
  return {
      {"protocol 2.0", startup(0x00020000, cstr("user") + cstr("postgres") + std::string(1, '\0'))},
      {"protocol 4.0", startup(0x00040000, cstr("user") + cstr("postgres") + std::string(1, '\0'))},
      {"no terminator", startup(0x00030000, cstr("user") + "postgres")},
      {"no user", startup(0x00030000, cstr("database") + cstr("postgres") + std::string(1, '\0'))},
  };
}

// Differential: both listeners answer what PostgreSQL answers, word for word.
TEST(Faults, StartupPacketsPostgresRefusesGetPostgresAnswer) {
  pgfunnel_process funnel({"--upstream", shared_pg().url()});
  for (const auto& probe : startups_postgres_answers()) {
    const std::string postgres = error_summary(send_and_read(shared_pg().port(), probe.bytes));
    ASSERT_THAT(postgres, ::testing::Not(StartsWith("("))) << probe.name << ": PostgreSQL itself said nothing";
    for (const std::uint16_t port : {funnel.pooled_port(), funnel.direct_port()})
      EXPECT_EQ(error_summary(send_and_read(port, probe.bytes)), postgres) << probe.name << " on port " << port;
  }
  EXPECT_TRUE(funnel.alive());
}

// Lengths PostgreSQL only logs: pgfunnel says what was wrong (a misdirected HTTP or TLS client
// learns it reached a PostgreSQL port), then closes.
TEST(Faults, AStartupPacketOfImpossibleLengthIsRefusedInWords) {
  pgfunnel_process funnel({"--upstream", shared_pg().url()});
  for (const std::string& bytes : {u32be(4), u32be(3) + std::string(5, '\0'), u32be(100000000) + u32be(0x00030000),
                                   std::string("GET / HTTP/1.1\r\nHost: pgfunnel\r\n\r\n")})
    for (const std::uint16_t port : {funnel.pooled_port(), funnel.direct_port()})
      EXPECT_EQ(error_summary(send_and_read(port, bytes)), "08P01 invalid length of startup packet")
          << hex(bytes.substr(0, 8)) << " on port " << port;
}

// The upstream accepts TCP and never speaks. The pooled listener's server login has always had
// server_connect_timeout; the direct listener relays the login, and that relay now has it too.
TEST(Faults, AnUpstreamThatNeverAnswersFailsBothListenersWithinServerConnectTimeout) {
  silent_listener hung;
  const std::string upstream = "postgres://postgres:postgres@127.0.0.1:" + std::to_string(hung.port()) + "/postgres?sslmode=disable";
  pgfunnel_process funnel({"--upstream", upstream, "--server-connect-timeout", "1s"});
  // libpq's own connect_timeout is far above: the answer must come from pgfunnel.
  pq_conn direct(funnel.direct_conninfo() + " connect_timeout=60", 70s);
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.error().sqlstate, "08006") << direct.error().text;
  EXPECT_THAT(direct.error().message, HasSubstr("did not answer the login within 1000 ms (server_connect_timeout)"));
  pq_conn pooled(funnel.pooled_conninfo() + " connect_timeout=60", 70s);
  ASSERT_FALSE(pooled.ok());
  EXPECT_EQ(pooled.error().sqlstate, "08006") << pooled.error().text;
  EXPECT_TRUE(funnel.alive());
}

// Resident memory of a process, from /proc (kB); -1 when it cannot be read.
long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

// A logged-in client announces a Query of 2^30 - 1 bytes, sends 5 of them and stalls: that costs
// what it sent (and one read chunk), not the gigabyte it announced, and nobody else waits for it.
TEST(Faults, AnAnnouncedGigabyteCostsWhatWasSent) {
  constexpr int stallers = 10;
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", std::to_string(stallers + 2)});
  std::vector<pq_conn> clients;
  for (int i = 0; i < stallers; ++i) {
    clients.emplace_back(funnel.pooled_conninfo());
    ASSERT_TRUE(clients.back().ok()) << clients.back().error_message();
    // Half of them inside a transaction: their header reaches the relay of a lease; the others'
    // waits before one (no server is leased for a message not yet whole).
    if (i % 2 == 1) ASSERT_TRUE(clients.back().exec("BEGIN").ok);
  }
  const long before = rss_kb(funnel.pid());
  ASSERT_GT(before, 0);
  const std::string header = std::string("Q") + u32be((1u << 30) - 1) + "SELEC";
  for (auto& c : clients)  // libpq is idle between queries: its socket is ours to write on
    ASSERT_EQ(::send(c.socket(), header.data(), header.size(), MSG_NOSIGNAL), static_cast<ssize_t>(header.size()));
  pq_conn other(funnel.pooled_conninfo());
  ASSERT_TRUE(other.ok()) << other.error_message();
  EXPECT_EQ(other.value("SELECT 1"), "1");  // its server login, once
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(other.value("SELECT 1"), "1");
  const auto answered_ms =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - asked).count() / 1000.0;
  const long after = rss_kb(funnel.pid());
  std::cout << "[ figures  ] " << stallers << " clients announcing 1 GB each: pgfunnel RSS " << before / 1024 << " MB -> "
            << after / 1024 << " MB; another client's SELECT 1 took " << answered_ms << " ms\n";
  EXPECT_LT(after - before, 100 * 1024) << "RSS grew by " << (after - before) / 1024 << " MB";
  EXPECT_TRUE(funnel.alive());
}

// Two clients each send 7 of the 15 bytes of a Query and go silent, on a pool of 2. They hold no
// server while they stall (a third client is served at once), and client_message_timeout ends them
// with a clear error.
TEST(Faults, HalfAMessageHoldsNoServer) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "2", "--query-wait-timeout", "5s",
                           "--client-message-timeout", "1s"});
  std::vector<pq_conn> stalled;
  const std::string query = std::string("Q") + u32be(14) + cstr("SELECT 1");  // 15 bytes
  for (int i = 0; i < 2; ++i) {
    stalled.emplace_back(funnel.pooled_conninfo());
    ASSERT_TRUE(stalled.back().ok()) << stalled.back().error_message();
    ASSERT_EQ(::send(stalled.back().socket(), query.data(), 7, MSG_NOSIGNAL), 7);
  }
  pq_conn third(funnel.pooled_conninfo());
  ASSERT_TRUE(third.ok()) << third.error_message();
  for (int i = 0; i < 3; ++i) {
    const query_result r = third.exec("BEGIN; SELECT 3; COMMIT");
    ASSERT_TRUE(r.ok) << "the stalled halves held the servers: " << r.describe() << funnel.log();
  }
  for (auto& c : stalled) {  // libpq sent none of it, so it parses none of the answer: read it raw
    std::string told;
    for (const auto deadline = std::chrono::steady_clock::now() + 10s;
         told.find("client_message_timeout") == std::string::npos && std::chrono::steady_clock::now() < deadline;) {
      pollfd p{c.socket(), POLLIN, 0};
      char buf[1024];
      if (::poll(&p, 1, 100) == 1) {
        const ssize_t n = ::recv(c.socket(), buf, sizeof buf, 0);
        if (n <= 0) break;
        told.append(buf, static_cast<std::size_t>(n));
      }
    }
    EXPECT_EQ(error_summary(told), "08P01 terminating connection: incomplete message from client (client_message_timeout)");
  }
  EXPECT_TRUE(funnel.wait_for_log("client_message_timeout: 7 bytes of a message")) << funnel.log();
}

// The databases SHOW POOLS lists, one entry per pool.
std::vector<std::string> pool_databases(const pgfunnel_process& funnel) {
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  std::vector<std::string> out;
  const query_result r = console.exec("SHOW POOLS");
  for (const auto& row : r.rows) out.push_back(row.empty() || !row[0] ? "" : *row[0]);
  return out;
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 15s) {
  for (const auto deadline = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < deadline;) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

// Clients that name databases at random (a typo, a scanner) leave no pool behind, nor its upkeep.
TEST(Faults, PoolsForDatabasesThatDoNotExistAreNotKept) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--admin-users", "postgres"});
  for (int i = 0; i < 20; ++i) {
    pq_conn c(funnel.pooled_conninfo("postgres", "postgres", "no_such_db_" + std::to_string(i)));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().sqlstate, "3D000") << c.error().text;
  }
  EXPECT_TRUE(eventually([&] {
    const auto pools = pool_databases(funnel);
    return std::none_of(pools.begin(), pools.end(), [](const std::string& d) { return d.starts_with("no_such_db_"); });
  })) << ::testing::PrintToString(pool_databases(funnel)) << funnel.log();
  pq_conn good(funnel.pooled_conninfo());
  ASSERT_TRUE(good.ok()) << good.error_message();
  EXPECT_EQ(good.value("SELECT 1"), "1");
}

// A pool nobody used for autodb_idle_timeout (its servers gone at server_idle_timeout) is removed;
// the next client makes it anew.
TEST(Faults, AnUnusedPoolIsRemovedAfterAutodbIdleTimeout) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--admin-users", "postgres", "--autodb-idle-timeout", "1s",
                           "--server-idle-timeout", "1s"});
  {
    pq_conn c(funnel.pooled_conninfo());
    ASSERT_TRUE(c.ok()) << c.error_message();
    EXPECT_EQ(c.value("SELECT 1"), "1");
    ASSERT_THAT(pool_databases(funnel), ::testing::Contains("postgres"));
  }
  EXPECT_TRUE(funnel.wait_for_log("pool postgres/postgres removed", 15000)) << funnel.log();
  EXPECT_THAT(pool_databases(funnel), ::testing::Not(::testing::Contains("postgres")));
  pq_conn again(funnel.pooled_conninfo());
  ASSERT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(again.value("SELECT 2"), "2");
}

}  // namespace
}  // namespace pgfunnel::test
