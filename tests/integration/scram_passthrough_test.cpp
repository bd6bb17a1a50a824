// Integration: SCRAM key passthrough — a verifier-only user logs in upstream with the ClientKey its client proved.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

constexpr const char* kPassword = "pt_secret";

// The verifier PostgreSQL stored for `role` ("SCRAM-SHA-256$4096:salt$StoredKey:ServerKey").
std::string verifier_of(const std::string& role) {
  return shared_pg().query_value("SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'");
}

// StoredKey and ServerKey of a verifier: secrets that must never reach the log.
std::vector<std::string> keys_of(const std::string& verifier) {
  const auto dollar = verifier.rfind('$');
  const auto colon = verifier.find(':', dollar);
  return {verifier.substr(dollar + 1, colon - dollar - 1), verifier.substr(colon + 1)};
}

class ScramPassthrough : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Same password, two roles: PostgreSQL salts each verifier at random, so pt_other's differs.
    for (const char* role : {"pt_user", "pt_other"})
      shared_pg().exec(std::string("SET password_encryption = 'scram-sha-256'; CREATE ROLE ") + role +
                       " LOGIN PASSWORD '" + kPassword + "'");
  }

  // pgfunnel with an upstream URL without password and pt_user known only by `verifier`.
  static std::unique_ptr<pgfunnel_process> start(const std::string& verifier) {
    return std::make_unique<pgfunnel_process>(
        std::vector<std::string>{"--upstream", shared_pg().url("postgres", ""), "--users", "pt_user:" + verifier,
                                 "--auth-type", "scram-sha-256", "--pool-size", "2", "--log-level", "debug"});
  }

  static void expect_no_secrets(const pgfunnel_process& funnel, const std::string& verifier) {
    const std::string log = funnel.log();
    for (const auto& key : keys_of(verifier)) EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(key)));
    EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(kPassword)));
  }
};

TEST_F(ScramPassthrough, VerifierOnlyUserRunsQueriesUpstreamAsItself) {
  const std::string verifier = verifier_of("pt_user");
  ASSERT_THAT(verifier, ::testing::StartsWith("SCRAM-SHA-256$"));
  auto funnel = start(verifier);

  expect_session_runs_as(funnel->pooled_conninfo("pt_user", kPassword), "pt_user", [&] { return funnel->log(); });
  if (HasFatalFailure()) return;

  // Several clients at once: the pool opens more servers, each logging in with the stored key.
  constexpr int kClients = 4, kTransactions = 5;
  std::vector<std::string> failures;
  EXPECT_EQ(clients_running_as(funnel->pooled_conninfo("pt_user", kPassword), "pt_user", kClients, kTransactions, failures),
            kClients)
      << ::testing::PrintToString(failures) << "\n" << funnel->log();

  // The password is still checked: a wrong one fails as PostgreSQL words it.
  pq_conn bad(funnel->pooled_conninfo("pt_user", "wrong"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().sqlstate, "28P01") << bad.error().text;

  expect_no_secrets(*funnel, verifier);
}

TEST_F(ScramPassthrough, VerifierWithAnotherSaltGetsAClearError) {
  // pt_other's verifier is for the same password, so the client's login to pgfunnel succeeds, but
  // its salt is not the one PostgreSQL holds for pt_user.
  const std::string other = verifier_of("pt_other");
  ASSERT_NE(other, verifier_of("pt_user"));
  auto funnel = start(other);

  pq_conn c(funnel->pooled_conninfo("pt_user", kPassword));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().sqlstate, "28P01") << c.error().text;
  EXPECT_EQ(c.error().message,
            "the upstream's SCRAM verifier for user \"pt_user\" differs from pgfunnel's (salt/iterations): copy it "
            "from pg_authid.rolpassword")
      << c.error().text;

  expect_no_secrets(*funnel, other);
  expect_no_secrets(*funnel, verifier_of("pt_user"));
}

}  // namespace
}  // namespace pgfunnel::test
