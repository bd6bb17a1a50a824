// Integration: auth_user/auth_query (users looked up in PostgreSQL) and auth_failure_limit (failed logins per address).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPassword = "aq_secret";

std::string verifier_of(const std::string& role) {
  return shared_pg().query_value("SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'");
}

class AuthQuery : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static bool created = false;  // once per process: the throttling suite derives from this one
    if (std::exchange(created, true)) return;
    // aq_user: a SCRAM password, as PostgreSQL stores by default. aq_md5: an md5 one, which
    // auth_query cannot use (pgfunnel could not log in upstream without the password).
    shared_pg().exec(std::string("SET password_encryption = 'scram-sha-256'; CREATE ROLE aq_user LOGIN PASSWORD '") +
                     kPassword + "'");
    shared_pg().exec(std::string("SET password_encryption = 'md5'; CREATE ROLE aq_md5 LOGIN PASSWORD '") + kPassword +
                     "'");
    shared_pg().exec("CREATE ROLE aq_nopassword LOGIN");
    // A configured user for the throttling tests (its servers log in with the configured password).
    shared_pg().exec("SET password_encryption = 'scram-sha-256'; CREATE ROLE th_user LOGIN PASSWORD 'right'");
  }

  // pgfunnel knowing only the upstream URL's user (the superuser postgres, with its password).
  static std::unique_ptr<pgfunnel_process> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--upstream", shared_pg().url(), "--auth-type", "scram-sha-256", "--pool-size",
                                  "2",          "--log-level",     "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<pgfunnel_process>(args);
  }
  static std::unique_ptr<pgfunnel_process> start_with_auth_user() { return start({"--auth-user", "postgres"}); }

  static void expect_password_failure(const pq_conn& c, const std::string& user) {
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().severity, "FATAL") << c.error().text;
    EXPECT_EQ(c.error().sqlstate, "28P01") << c.error().text;
    EXPECT_EQ(c.error().message, "password authentication failed for user \"" + user + "\"") << c.error().text;
  }
};

TEST_F(AuthQuery, UserOnlyInPostgresLogsInAndRunsQueriesAsItself) {
  const std::string verifier = verifier_of("aq_user");
  ASSERT_THAT(verifier, ::testing::StartsWith("SCRAM-SHA-256$"));
  auto funnel = start_with_auth_user();

  expect_session_runs_as(funnel->pooled_conninfo("aq_user", kPassword), "aq_user", [&] { return funnel->log(); });
  if (HasFatalFailure()) return;

  // Concurrent logins share the lookup connections; the user's pool opens more servers, each
  // logging in upstream with the key the clients' proofs revealed.
  constexpr int kClients = 4, kTransactions = 5;
  std::vector<std::string> failures;
  EXPECT_EQ(clients_running_as(funnel->pooled_conninfo("aq_user", kPassword), "aq_user", kClients, kTransactions, failures),
            kClients)
      << ::testing::PrintToString(failures) << "\n" << funnel->log();

  // The upstream URL's user still logs in from the configuration.
  pq_conn postgres(funnel->pooled_conninfo("postgres", "postgres"));
  ASSERT_TRUE(postgres.ok()) << postgres.error().text;
  EXPECT_EQ(postgres.value("SELECT current_user"), "postgres");

  // Neither the verifier's keys nor the password reach the log.
  const std::string log = funnel->log();
  const auto dollar = verifier.rfind('$');
  const auto colon = verifier.find(':', dollar);
  EXPECT_THAT(log, Not(HasSubstr(verifier.substr(dollar + 1, colon - dollar - 1))));
  EXPECT_THAT(log, Not(HasSubstr(verifier.substr(colon + 1))));
  EXPECT_THAT(log, Not(HasSubstr(kPassword)));
}

TEST_F(AuthQuery, WrongPasswordOfALookedUpUserIs28P01) {
  auto funnel = start_with_auth_user();
  pq_conn bad(funnel->pooled_conninfo("aq_user", "wrong"));
  expect_password_failure(bad, "aq_user");
  EXPECT_TRUE(funnel->wait_for_log("password authentication failed for user \"aq_user\" - wrong password"))
      << funnel->log();
  // And the right one still works afterwards.
  pq_conn good(funnel->pooled_conninfo("aq_user", kPassword));
  ASSERT_TRUE(good.ok()) << good.error().text << "\n" << funnel->log();
}

TEST_F(AuthQuery, UnknownUserIs28P01AndTheLogSaysWhy) {
  auto funnel = start_with_auth_user();
  pq_conn unknown(funnel->pooled_conninfo("aq_nobody", kPassword));
  expect_password_failure(unknown, "aq_nobody");
  EXPECT_TRUE(funnel->wait_for_log("no such user (auth_query returned no row)")) << funnel->log();

  // The name is bound as $1, never spliced into the SQL: spliced, this one would match every row.
  pq_conn injected(funnel->pooled_conninfo("aq'OR'1'='1", kPassword));
  expect_password_failure(injected, "aq'OR'1'='1");

  pq_conn nopassword(funnel->pooled_conninfo("aq_nopassword", kPassword));
  expect_password_failure(nopassword, "aq_nopassword");
  EXPECT_TRUE(funnel->wait_for_log("user has no password (auth_query returned NULL)")) << funnel->log();
}

TEST_F(AuthQuery, Md5SecretIs28P01AndTheLogSaysItIsNotAScramVerifier) {
  ASSERT_THAT(verifier_of("aq_md5"), ::testing::StartsWith("md5"));
  auto funnel = start_with_auth_user();
  pq_conn c(funnel->pooled_conninfo("aq_md5", kPassword));
  expect_password_failure(c, "aq_md5");
  EXPECT_TRUE(funnel->wait_for_log("not a SCRAM verifier")) << funnel->log();
}

TEST_F(AuthQuery, WithoutAuthUserAnUnconfiguredUserFailsAsBefore) {
  auto funnel = start();
  pq_conn c(funnel->pooled_conninfo("aq_user", kPassword));
  expect_password_failure(c, "aq_user");
  EXPECT_TRUE(funnel->wait_for_log("password authentication failed for user \"aq_user\" - no such user"))
      << funnel->log();
  EXPECT_THAT(funnel->log(), Not(HasSubstr("auth_query")));
}

TEST_F(AuthQuery, LookupInADatabaseThatDoesNotExistIsPostgresOwn3D000) {
  auto funnel = start_with_auth_user();
  pq_conn c(funnel->pooled_conninfo("aq_user", kPassword, "aq_no_such_db"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().sqlstate, "3D000") << c.error().text;
  EXPECT_EQ(c.error().message, "database \"aq_no_such_db\" does not exist") << c.error().text;
  // The lookup pool of that database is gone; a real database still works.
  pq_conn good(funnel->pooled_conninfo("aq_user", kPassword));
  ASSERT_TRUE(good.ok()) << good.error().text << "\n" << funnel->log();
}

TEST_F(AuthQuery, AuthUserAndTheFailureLimitFollowAReload) {
  const std::string path =
      std::string(PGFUNNEL_BINARY_DIR) + "/auth-query-" + std::to_string(::getpid()) + "-reload.yaml";
  const auto write_config = [&](const std::string& extra) {
    std::ofstream(path, std::ios::trunc) << "upstream: " << shared_pg().url() << "\nlog:\n  level: debug\n" << extra;
  };
  write_config("");
  pgfunnel_process funnel({"--config", path});
  {
    pq_conn c(funnel.pooled_conninfo("aq_user", kPassword));
    expect_password_failure(c, "aq_user");
  }

  // The failure above already counts: with a limit of 2, one more wrong password reaches it.
  write_config("auth_user: postgres\nauth_failure_limit: 2\n");
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("configuration reloaded")) << funnel.log();
  {
    pq_conn c(funnel.pooled_conninfo("aq_user", kPassword));
    ASSERT_TRUE(c.ok()) << c.error().text << "\n" << funnel.log();
    EXPECT_EQ(c.value("SELECT current_user"), "aq_user");
  }
  {
    pq_conn bad(funnel.pooled_conninfo("aq_user", "wrong"));
    expect_password_failure(bad, "aq_user");
    pq_conn refused(funnel.pooled_conninfo("aq_user", kPassword));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().sqlstate, "28000") << refused.error().text;
  }

  // Both off again: the address is let in, and users only PostgreSQL knows are unknown again.
  write_config("auth_failure_limit: 0\n");
  funnel.signal(SIGHUP);
  ASSERT_TRUE(funnel.wait_for_log("reload: auth_failure_limit = 0")) << funnel.log();
  pq_conn c(funnel.pooled_conninfo("aq_user", kPassword));
  expect_password_failure(c, "aq_user");
  pq_conn postgres(funnel.pooled_conninfo("postgres", "postgres"));
  EXPECT_TRUE(postgres.ok()) << postgres.error().text;
  ::unlink(path.c_str());
}

// ---- auth_failure_limit -------------------------------------------------------------------------

class LoginThrottle : public AuthQuery {};

TEST_F(LoginThrottle, AfterTheLimitEvenTheRightPasswordIsRefused) {
  auto funnel = start({"--users", "th_user:right", "--auth-failure-limit", "3", "--auth-failure-window", "10m"});
  // Successful logins neither count nor reset anything.
  for (int i = 0; i < 5; ++i) {
    pq_conn good(funnel->pooled_conninfo("th_user", "right"));
    ASSERT_TRUE(good.ok()) << good.error().text;
  }
  for (int i = 0; i < 3; ++i) {
    pq_conn bad(funnel->pooled_conninfo("th_user", "wrong"));
    expect_password_failure(bad, "th_user");
  }
  // The limit is reached: a fourth wrong password is refused before any password is asked...
  pq_conn fourth(funnel->pooled_conninfo("th_user", "wrong"));
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.error().sqlstate, "28000") << fourth.error().text;
  EXPECT_THAT(fourth.error().message, HasSubstr("too many failed login attempts from 127.0.0.1"))
      << fourth.error().text;
  // ...and so is the right one, and an unknown user: the address is refused, not the user.
  for (const auto& [user, password] :
       std::vector<std::pair<std::string, std::string>>{{"th_user", "right"}, {"nobody", "x"}}) {
    pq_conn c(funnel->pooled_conninfo(user, password));
    ASSERT_FALSE(c.ok()) << user;
    EXPECT_EQ(c.error().sqlstate, "28000") << c.error().text;
    EXPECT_THAT(c.error().message, HasSubstr("too many failed login attempts")) << c.error().text;
    EXPECT_EQ(PQconnectionUsedPassword(c.get()), 0) << "refused before a password was asked";
  }
  // One log line for the whole window, naming the address.
  ASSERT_TRUE(funnel->wait_for_log("login refused: too many failed login attempts from 127.0.0.1")) << funnel->log();
  const std::string log = funnel->log();
  std::size_t lines = 0;
  for (auto at = log.find("login refused:"); at != std::string::npos; at = log.find("login refused:", at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << log;
}

TEST_F(LoginThrottle, WrongPasswordsOfLookedUpUsersCountToo) {
  auto funnel = start({"--auth-user", "postgres", "--auth-failure-limit", "2"});
  for (const char* user : {"aq_user", "aq_nobody"}) {
    pq_conn bad(funnel->pooled_conninfo(user, "wrong"));
    expect_password_failure(bad, user);
  }
  pq_conn good(funnel->pooled_conninfo("aq_user", kPassword));
  ASSERT_FALSE(good.ok());
  EXPECT_EQ(good.error().sqlstate, "28000") << good.error().text;
}

TEST_F(LoginThrottle, ZeroTurnsItOff) {
  auto funnel = start({"--users", "th_user:right", "--auth-failure-limit", "0"});
  for (int i = 0; i < 15; ++i) {
    pq_conn bad(funnel->pooled_conninfo("th_user", "wrong"));
    expect_password_failure(bad, "th_user");
  }
  pq_conn good(funnel->pooled_conninfo("th_user", "right"));
  ASSERT_TRUE(good.ok()) << good.error().text;
}

}  // namespace
}  // namespace pgfunnel::test
