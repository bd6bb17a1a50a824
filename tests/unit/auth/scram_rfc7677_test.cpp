// The RFC 7677 SCRAM-SHA-256 example exchange, byte for byte, through our client and our server.
#include <gtest/gtest.h>

#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_server.hpp"
#include "rfc7677.hpp"

namespace pgfunnel::auth {
namespace {

using namespace test;

TEST(Rfc7677, ClientProducesTheRfcMessages) {
  scram_client client(std::string(rfc_user), std::string(rfc_password), {}, std::string(rfc_client_nonce));
  EXPECT_EQ(client.mechanism(), "SCRAM-SHA-256");
  std::string first;
  ASSERT_FALSE(client.client_first(first));
  EXPECT_EQ(first, rfc_client_first);
  std::string final_message;
  ASSERT_FALSE(client.handle_server_first(rfc_server_first, final_message));
  EXPECT_EQ(final_message, rfc_client_final);
  EXPECT_FALSE(client.handle_server_final(rfc_server_final));
  EXPECT_TRUE(client.authenticated());
}

TEST(Rfc7677, ServerAcceptsTheRfcExchange) {
  scram_server server = rfc_server();
  EXPECT_EQ(server.mechanisms(), std::vector<std::string>{"SCRAM-SHA-256"});
  std::string server_first;
  ASSERT_FALSE(server.handle_client_first("SCRAM-SHA-256", rfc_client_first, server_first));
  EXPECT_EQ(server_first, rfc_server_first);
  EXPECT_FALSE(server.client_key());
  std::string server_final;
  ASSERT_FALSE(server.handle_client_final(rfc_client_final, server_final));
  EXPECT_EQ(server_final, rfc_server_final);
  EXPECT_TRUE(server.authenticated());
  EXPECT_FALSE(server.channel_binding_used());
}

TEST(Rfc7677, ServerRecoversTheRealClientKey) {
  scram_server server = rfc_server();
  std::string out;
  ASSERT_FALSE(server.handle_client_first("SCRAM-SHA-256", rfc_client_first, out));
  ASSERT_FALSE(server.handle_client_final(rfc_client_final, out));
  ASSERT_TRUE(server.client_key());
  EXPECT_EQ(base64_encode(*server.client_key()), rfc_client_key_b64);
}

TEST(Rfc7677, ServerWithPlaintextPasswordAndRfcSaltGivesSameExchange) {
  // A plaintext credential gets a random salt, so the RFC bytes cannot be expected; it must
  // still accept a client computing with whatever salt it announced.
  scram_server server(scram_plaintext_password{"pencil"});
  scram_client client("user", "pencil");
  std::string msg, reply;
  ASSERT_FALSE(client.client_first(msg));
  ASSERT_FALSE(server.handle_client_first("SCRAM-SHA-256", msg, reply));
  ASSERT_FALSE(client.handle_server_first(reply, msg));
  ASSERT_FALSE(server.handle_client_final(msg, reply));
  EXPECT_FALSE(client.handle_server_final(reply));
  ASSERT_TRUE(server.verifier());
  EXPECT_EQ(server.verifier()->salt.size(), scram_default_salt_length);
  EXPECT_EQ(server.verifier()->iterations, scram_default_iterations);
}

}  // namespace
}  // namespace pgfunnel::auth
