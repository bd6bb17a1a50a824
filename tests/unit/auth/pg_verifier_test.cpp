// Checks our SCRAM client and server against a verifier computed by a real PostgreSQL (if provided).
#include <gtest/gtest.h>

#include <cstdlib>

#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_server.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"

namespace pgfunnel::auth {
namespace {

// PGFUNNEL_TEST_PG_VERIFIER: pg_authid.rolpassword of a role, PGFUNNEL_TEST_PG_PASSWORD: its password.
TEST(PgVerifier, OurServerAcceptsOurClientForPostgresVerifier) {
  const char* verifier_text = std::getenv("PGFUNNEL_TEST_PG_VERIFIER");
  const char* password = std::getenv("PGFUNNEL_TEST_PG_PASSWORD");
  if (verifier_text == nullptr || password == nullptr || *verifier_text == '\0') {
    GTEST_SKIP() << "PGFUNNEL_TEST_PG_VERIFIER / PGFUNNEL_TEST_PG_PASSWORD not set";
  }
  scram_verifier verifier;
  ASSERT_FALSE(parse_scram_verifier(verifier_text, verifier)) << verifier_text;
  // Our derivation from PostgreSQL's salt must reproduce PostgreSQL's keys exactly.
  scram_verifier ours;
  ASSERT_FALSE(make_scram_verifier(password, verifier.salt, verifier.iterations, ours));
  EXPECT_EQ(format_scram_verifier(ours), verifier_text);

  const std::vector<std::uint8_t> cb(32, 0x5A);
  scram_server server(verifier, cb);
  scram_client client("postgres", password, cb);
  std::string mechanism, msg, reply;
  ASSERT_FALSE(client.select_mechanism(server.mechanisms(), mechanism));
  ASSERT_FALSE(client.client_first(msg));
  ASSERT_FALSE(server.handle_client_first(mechanism, msg, reply));
  ASSERT_FALSE(client.handle_server_first(reply, msg));
  ASSERT_FALSE(server.handle_client_final(msg, reply));
  ASSERT_FALSE(client.handle_server_final(reply));
  EXPECT_TRUE(server.authenticated());
  EXPECT_TRUE(client.authenticated());
}

}  // namespace
}  // namespace pgfunnel::auth
