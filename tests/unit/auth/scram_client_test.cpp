// Tests for scram_client: mechanism choice and validation of the server's messages.
#include <gtest/gtest.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/scram_client.hpp"
#include "rfc7677.hpp"

namespace pgfunnel::auth {
namespace {

using namespace test;

scram_client rfc_client(std::vector<std::uint8_t> cb = {}) {
  return scram_client(std::string(rfc_user), std::string(rfc_password), std::move(cb), std::string(rfc_client_nonce));
}

// Sends client-first, then feeds `server_first`; checks nothing is produced on error.
std::error_code server_first(std::string_view message) {
  scram_client client = rfc_client();
  std::string out;
  EXPECT_FALSE(client.client_first(out));
  out = "untouched";
  const std::error_code ec = client.handle_server_first(message, out);
  if (ec) {
    EXPECT_EQ(out, "untouched");
  }
  return ec;
}

std::error_code server_final(std::string_view message, scram_client* keep = nullptr) {
  scram_client client = rfc_client();
  std::string out;
  EXPECT_FALSE(client.client_first(out));
  EXPECT_FALSE(client.handle_server_first(rfc_server_first, out));
  const std::error_code ec = client.handle_server_final(message);
  EXPECT_FALSE(client.authenticated());
  if (keep != nullptr) *keep = std::move(client);
  return ec;
}

TEST(ScramClient, SelectMechanism) {
  const std::vector<std::string> both = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
  const std::vector<std::string> plain = {"SCRAM-SHA-256"};
  std::string mech, first;
  {
    scram_client c = rfc_client({1, 2, 3});
    ASSERT_FALSE(c.select_mechanism(both, mech));
    EXPECT_EQ(mech, "SCRAM-SHA-256-PLUS");
    ASSERT_FALSE(c.client_first(first));
    EXPECT_EQ(first, "p=tls-server-end-point,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  }
  {
    scram_client c = rfc_client({1, 2, 3});
    ASSERT_FALSE(c.select_mechanism(plain, mech));
    EXPECT_EQ(mech, "SCRAM-SHA-256");
    ASSERT_FALSE(c.client_first(first));
    EXPECT_EQ(first, "y,,n=user,r=rOprNGfwEbeRWgbNEkqO") << "we could bind but the server did not offer it";
  }
  {
    scram_client c = rfc_client();
    ASSERT_FALSE(c.select_mechanism(both, mech));
    EXPECT_EQ(mech, "SCRAM-SHA-256");
    ASSERT_FALSE(c.client_first(first));
    EXPECT_EQ(first, rfc_client_first);
  }
  {
    scram_client c = rfc_client();
    EXPECT_EQ(c.select_mechanism({"SCRAM-SHA-1"}, mech), errc::unsupported_mechanism);
    EXPECT_EQ(c.client_first(first), errc::out_of_order);
  }
  {
    scram_client c = rfc_client();
    ASSERT_FALSE(c.client_first(first));
    EXPECT_EQ(c.select_mechanism(both, mech), errc::out_of_order);
  }
}

TEST(ScramClient, EscapesUserName) {
  scram_client c("a,b=c", "pw", {}, "nonce");
  std::string first;
  ASSERT_FALSE(c.client_first(first));
  EXPECT_EQ(first, "n,,n=a=2Cb=3Dc,r=nonce");
}

TEST(ScramClient, RandomNonce) {
  scram_client a("u", "p"), b("u", "p");
  std::string fa, fb;
  ASSERT_FALSE(a.client_first(fa));
  ASSERT_FALSE(b.client_first(fb));
  EXPECT_NE(fa, fb);
  EXPECT_EQ(fa.size(), std::string("n,,n=u,r=").size() + 24);
}

TEST(ScramClient, ServerFirstValidation) {
  const std::string salt_iter = ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  const std::string nonce(rfc_nonce);
  EXPECT_EQ(server_first(""), errc::malformed_message);
  EXPECT_EQ(server_first("r=rOprNGfwEbeRWgbNEkqO" + salt_iter), errc::nonce_mismatch);  // no server part
  EXPECT_EQ(server_first("r=XOprNGfwEbeRWgbNEkqOabc" + salt_iter), errc::nonce_mismatch);
  EXPECT_EQ(server_first("r=rOprNGfwEbeRWgbNEkqO a" + salt_iter), errc::invalid_nonce);
  EXPECT_EQ(server_first("m=x,r=" + nonce + salt_iter), errc::extensions_not_supported);
  EXPECT_EQ(server_first("s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" + nonce + ",i=4096"), errc::malformed_message);
  EXPECT_EQ(server_first("r=" + nonce + ",s=,i=4096"), errc::invalid_salt);
  EXPECT_EQ(server_first("r=" + nonce + ",s=W22Z!a,i=4096"), errc::invalid_base64);
  EXPECT_EQ(server_first("r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ=="), errc::malformed_message);
  for (const char* bad : {"0", "", "-1", "+5", "4096x", "x", "99999999999", "10000001", " 1"}) {
    EXPECT_EQ(server_first("r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=" + bad), errc::invalid_iteration_count) << bad;
  }
  EXPECT_EQ(server_first("r=" + nonce + salt_iter + ",x=1"), errc::malformed_message);
  EXPECT_EQ(server_first("r=" + nonce + salt_iter + ","), errc::malformed_message);
  EXPECT_EQ(server_first(std::string(rfc_server_first) + std::string("\0", 1)), errc::malformed_message);
  EXPECT_FALSE(server_first(rfc_server_first));
}

TEST(ScramClient, IterationCapIsConfigurable) {
  scram_client client = rfc_client();
  client.set_max_iterations(1000);
  std::string out;
  ASSERT_FALSE(client.client_first(out));
  EXPECT_EQ(client.handle_server_first(rfc_server_first, out), errc::invalid_iteration_count);
}

TEST(ScramClient, ServerFinalValidation) {
  EXPECT_EQ(server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95H4="), errc::invalid_server_signature);
  EXPECT_EQ(server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5="), errc::invalid_base64);  // non-canonical
  EXPECT_EQ(server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4"), errc::invalid_base64);
  EXPECT_EQ(server_final("v="), errc::invalid_server_signature);
  EXPECT_EQ(server_final(""), errc::malformed_message);
  EXPECT_EQ(server_final("x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), errc::malformed_message);
  EXPECT_EQ(server_final(std::string(rfc_server_final) + ",x=1"), errc::malformed_message);
  scram_client client = rfc_client();
  EXPECT_EQ(server_final("e=invalid-proof", &client), errc::server_error);
  EXPECT_EQ(client.server_error(), "invalid-proof");
}

TEST(ScramClient, OutOfOrderCallsAreRefused) {
  {
    scram_client client = rfc_client();
    std::string out;
    EXPECT_EQ(client.handle_server_first(rfc_server_first, out), errc::out_of_order);
    EXPECT_EQ(client.client_first(out), errc::out_of_order) << "an error ends the exchange";
  }
  {
    scram_client client = rfc_client();
    std::string out;
    ASSERT_FALSE(client.client_first(out));
    EXPECT_EQ(client.handle_server_final(rfc_server_final), errc::out_of_order);
  }
  {
    scram_client client = rfc_client();
    std::string out;
    ASSERT_FALSE(client.client_first(out));
    ASSERT_FALSE(client.handle_server_first(rfc_server_first, out));
    EXPECT_EQ(client.handle_server_first(rfc_server_first, out), errc::out_of_order);
  }
  {
    scram_client client = rfc_client();
    std::string out;
    ASSERT_FALSE(client.client_first(out));
    ASSERT_FALSE(client.handle_server_first(rfc_server_first, out));
    ASSERT_FALSE(client.handle_server_final(rfc_server_final));
    EXPECT_EQ(client.handle_server_final(rfc_server_final), errc::out_of_order);
    EXPECT_TRUE(client.authenticated());
  }
}

}  // namespace
}  // namespace pgfunnel::auth
