// Integration: client authentication on the pooled listener — SCRAM, md5, cleartext, PostgreSQL's wording for failures, and a login burst that opens few servers.
#include <atomic>
#include <chrono>
#include <fstream>
#include <latch>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bytes.hpp"
#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;

class Auth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new pg_server(pg_options{.extra_conf = {"log_connections = on"}});
    pg_->exec("CREATE ROLE alice LOGIN PASSWORD 'secret'");
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  static std::unique_ptr<pgfunnel_process> start(const std::string& auth_type, int pool_size = 2) {
    return std::make_unique<pgfunnel_process>(std::vector<std::string>{
        "--upstream", pg_->url(), "--users", "alice:secret", "--auth-type", auth_type, "--pool-size",
        std::to_string(pool_size)});
  }
  // What PostgreSQL itself answers to the same login.
  static pq_error postgres_says(const std::string& user, const std::string& password, const std::string& db = "postgres") {
    pq_conn c(pg_->conninfo(user, password, db) + " sslmode=disable");
    EXPECT_FALSE(c.ok());
    return c.error();
  }
  static pg_server* pg_;
};
pg_server* Auth::pg_ = nullptr;

TEST_F(Auth, ScramLoginOfAConfiguredUserAndOfTheUpstreamUser) {
  auto funnel = start("scram-sha-256");
  pq_conn alice(funnel->pooled_conninfo("alice", "secret"));
  ASSERT_TRUE(alice.ok()) << alice.error().text;
  EXPECT_EQ(alice.value("SELECT current_user"), "alice");
  pq_conn postgres(funnel->pooled_conninfo("postgres", "postgres"));
  ASSERT_TRUE(postgres.ok()) << postgres.error().text;
  EXPECT_EQ(postgres.value("SELECT current_user"), "postgres");
  // pgfunnel asked for the password (no loopback trust).
  EXPECT_EQ(PQconnectionUsedPassword(alice.get()), 1);
}

TEST_F(Auth, WrongPasswordIsPostgresOwn28P01) {
  auto funnel = start("scram-sha-256");
  pq_conn bad(funnel->pooled_conninfo("alice", "wrong"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().severity, "FATAL") << bad.error().text;
  EXPECT_EQ(bad.error().sqlstate, "28P01") << bad.error().text;
  EXPECT_EQ(bad.error().message, "password authentication failed for user \"alice\"") << bad.error().text;
  const pq_error pg = postgres_says("alice", "wrong");
  EXPECT_EQ(bad.error().sqlstate, pg.sqlstate);
  EXPECT_EQ(bad.error().message, pg.message);
}

TEST_F(Auth, UnknownUserLooksExactlyLikeAWrongPassword) {
  auto funnel = start("scram-sha-256");
  pq_conn unknown(funnel->pooled_conninfo("nobody", "secret"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().severity, "FATAL") << unknown.error().text;
  EXPECT_EQ(unknown.error().sqlstate, "28P01") << unknown.error().text;
  EXPECT_EQ(unknown.error().message, "password authentication failed for user \"nobody\"") << unknown.error().text;
  // DETAIL carries only this connection's id (so an app can log it), the same form either way.
  EXPECT_THAT(unknown.error().detail, ::testing::MatchesRegex("pgfunnel client c[0-9]+")) << unknown.error().text;
  EXPECT_EQ(unknown.error().message, postgres_says("nobody", "secret").message);
  // The same text as a wrong password for an existing user, the name aside.
  pq_conn wrong(funnel->pooled_conninfo("alice", "wrong"));
  std::string a = unknown.error().message, b = wrong.error().message;
  EXPECT_EQ(std::regex_replace(a, std::regex("\"nobody\""), "X"), std::regex_replace(b, std::regex("\"alice\""), "X"));
  EXPECT_EQ(std::regex_replace(unknown.error().detail, std::regex("c[0-9]+"), "cN"),
            std::regex_replace(wrong.error().detail, std::regex("c[0-9]+"), "cN"));
  // And nothing on the wire says whether the user exists: the exchange went as far as the proof
  // (a mock SCRAM challenge), which libpq reports as a password failure, not a protocol error.
  EXPECT_THAT(unknown.error().text, ::testing::Not(::testing::HasSubstr("does not exist")));
}

// Reads one tagged message (tag, body) from a blocking socket; tag 0 on EOF/error.
std::pair<char, std::string> read_message(int fd) {
  auto read_exact = [fd](char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t got = ::recv(fd, p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  };
  char header[5];
  if (!read_exact(header, 5)) return {0, {}};
  const std::uint32_t len = (std::uint32_t(std::uint8_t(header[1])) << 24) | (std::uint32_t(std::uint8_t(header[2])) << 16) |
                            (std::uint32_t(std::uint8_t(header[3])) << 8) | std::uint32_t(std::uint8_t(header[4]));
  std::string body(len - 4, '\0');
  if (len > 4 && !read_exact(body.data(), body.size())) return {0, {}};
  return {header[0], body};
}

// Starts a SCRAM exchange as `user` and returns the server-first-message's "s=<salt>,i=<n>" part
// (what a client learns before proving anything), or the error text.
std::string scram_salt_offered(std::uint16_t port, const std::string& user) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string result = "no answer";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string startup = fe::startup({{"user", user}, {"database", "postgres"}});
    ::send(fd, startup.data(), startup.size(), MSG_NOSIGNAL);
    auto [tag, body] = read_message(fd);
    if (tag == 'R' && body.find("SCRAM-SHA-256") != std::string::npos) {
      const std::string first = fe::sasl_initial_response("SCRAM-SHA-256", "n,,n=,r=abcdefghijklmnopqrstuvwx");
      ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
      auto [tag2, body2] = read_message(fd);
      const auto s = body2.find(",s=");
      result = tag2 == 'R' && s != std::string::npos ? body2.substr(s + 1) : "unexpected reply " + std::string(1, tag2);
    } else {
      result = "no SASL request: " + std::string(1, tag);
    }
  }
  ::close(fd);
  return result;
}

TEST_F(Auth, UnknownUsersScramChallengeIsStableLikeARealOne) {
  auto funnel = start("scram-sha-256");
  const std::string alice1 = scram_salt_offered(funnel->pooled_port(), "alice");
  const std::string alice2 = scram_salt_offered(funnel->pooled_port(), "alice");
  const std::string nobody1 = scram_salt_offered(funnel->pooled_port(), "nobody");
  const std::string nobody2 = scram_salt_offered(funnel->pooled_port(), "nobody");
  ASSERT_THAT(alice1, ::testing::StartsWith("s=")) << alice1;
  ASSERT_THAT(nobody1, ::testing::StartsWith("s=")) << nobody1;
  EXPECT_EQ(alice1, alice2);
  // A salt that changed on every attempt would tell that the user does not exist.
  EXPECT_EQ(nobody1, nobody2);
  EXPECT_NE(nobody1, alice1);
  // The same iteration count as a real verifier.
  EXPECT_EQ(nobody1.substr(nobody1.find(",i=")), alice1.substr(alice1.find(",i=")));
}

TEST_F(Auth, Md5Login) {
  auto funnel = start("md5");
  pq_conn alice(funnel->pooled_conninfo("alice", "secret"));
  ASSERT_TRUE(alice.ok()) << alice.error().text;
  EXPECT_EQ(alice.value("SELECT current_user"), "alice");
  pq_conn bad(funnel->pooled_conninfo("alice", "wrong"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().sqlstate, "28P01") << bad.error().text;
  EXPECT_EQ(bad.error().message, "password authentication failed for user \"alice\"") << bad.error().text;
  pq_conn unknown(funnel->pooled_conninfo("nobody", "secret"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().sqlstate, "28P01") << unknown.error().text;
  EXPECT_EQ(unknown.error().message, "password authentication failed for user \"nobody\"") << unknown.error().text;
}

TEST_F(Auth, CleartextPasswordLogin) {
  auto funnel = start("password");
  pq_conn alice(funnel->pooled_conninfo("alice", "secret"));
  ASSERT_TRUE(alice.ok()) << alice.error().text;
  EXPECT_EQ(alice.value("SELECT current_user"), "alice");
  pq_conn postgres(funnel->pooled_conninfo("postgres", "postgres"));
  ASSERT_TRUE(postgres.ok()) << postgres.error().text;
  pq_conn bad(funnel->pooled_conninfo("alice", "wrong"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().sqlstate, "28P01") << bad.error().text;
  EXPECT_EQ(bad.error().message, "password authentication failed for user \"alice\"") << bad.error().text;
}

TEST_F(Auth, NonexistentDatabaseIsPostgresOwn3D000) {
  auto funnel = start("scram-sha-256");
  pq_conn nope(funnel->pooled_conninfo("alice", "secret", "nope"));
  ASSERT_FALSE(nope.ok());
  EXPECT_EQ(nope.error().severity, "FATAL") << nope.error().text;
  EXPECT_EQ(nope.error().sqlstate, "3D000") << nope.error().text;
  EXPECT_EQ(nope.error().message, "database \"nope\" does not exist") << nope.error().text;
  EXPECT_EQ(nope.error().message, postgres_says("alice", "secret", "nope").message);
  // The failure did not poison the user's other pool.
  pq_conn ok(funnel->pooled_conninfo("alice", "secret"));
  EXPECT_TRUE(ok.ok()) << ok.error().text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int count_matches(const std::string& text, const std::regex& re) {
  return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

TEST_F(Auth, BurstOfFiftyLoginsOpensAtMostPoolSizeServers) {
  auto funnel = start("scram-sha-256", 2);
  const std::regex alice_login(R"(connection authorized: user=alice )");
  const int logins_before = count_matches(read_file(pg_->log_path()), alice_login);

  std::atomic<bool> sampling{true};
  std::atomic<int> max_seen{0};
  std::thread sampler([&] {
    while (sampling) {
      try {
        const int n = count_client_backends(*pg_, "alice");
        if (n > max_seen) max_seen = n;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(50ms);
    }
  });

  constexpr int clients = 50;
  std::latch start_line(clients);
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      start_line.arrive_and_wait();
      pq_conn c(funnel->pooled_conninfo("alice", "secret"), 30s);
      std::string failure;
      if (!c.ok()) failure = "login: " + c.error().text;
      else if (const query_result r = c.exec("SELECT current_user"); !r.ok || r.value() != "alice")
        failure = "query: " + r.describe();
      if (!failure.empty()) {
        std::lock_guard lock(mutex);
        failures.push_back(failure);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::this_thread::sleep_for(200ms);
  sampling = false;
  sampler.join();

  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
  EXPECT_LE(max_seen.load(), 2);
  EXPECT_GE(max_seen.load(), 1);
  const int logins = count_matches(read_file(pg_->log_path()), alice_login) - logins_before;
  EXPECT_GE(logins, 1);
  EXPECT_LE(logins, 2) << "server logins for 50 client logins with pool_size 2";
}

}  // namespace
}  // namespace pgfunnel::test
