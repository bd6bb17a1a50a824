// Client <-> server exchanges: channel binding (-PLUS), plaintext credentials, key passthrough.
#include <gtest/gtest.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_server.hpp"

namespace pgfunnel::auth {
namespace {

struct outcome {
  std::error_code server_first;  // from handle_client_first
  std::error_code client_final;  // from handle_server_first
  std::error_code server_final;  // from handle_client_final
  std::error_code client_done;   // from handle_server_final
};

// One full exchange; stops at the first error.
outcome run(scram_client& client, scram_server& server) {
  outcome r;
  std::string mechanism, msg, reply;
  EXPECT_FALSE(client.select_mechanism(server.mechanisms(), mechanism));
  EXPECT_FALSE(client.client_first(msg));
  if ((r.server_first = server.handle_client_first(mechanism, msg, reply))) return r;
  if ((r.client_final = client.handle_server_first(reply, msg))) return r;
  if ((r.server_final = server.handle_client_final(msg, reply))) return r;
  r.client_done = client.handle_server_final(reply);
  return r;
}

scram_verifier verifier_for(std::string_view password) {
  scram_verifier v;
  EXPECT_FALSE(make_scram_verifier(password, v));
  return v;
}

const std::vector<std::uint8_t> cert_hash(32, 0xAB);

TEST(ScramRoundTrip, PlainMechanism) {
  scram_server server(verifier_for("s3cret"));
  scram_client client("alice", "s3cret");
  const outcome r = run(client, server);
  EXPECT_FALSE(r.server_first);
  EXPECT_FALSE(r.client_final);
  EXPECT_FALSE(r.server_final);
  EXPECT_FALSE(r.client_done);
  EXPECT_TRUE(server.authenticated());
  EXPECT_TRUE(client.authenticated());
}

TEST(ScramRoundTrip, WrongPassword) {
  scram_server server(verifier_for("s3cret"));
  scram_client client("alice", "guess");
  EXPECT_EQ(run(client, server).server_final, errc::invalid_proof);
  EXPECT_FALSE(server.client_key());
}

TEST(ScramRoundTrip, PlusWithMatchingChannelBinding) {
  scram_server server(verifier_for("s3cret"), cert_hash);
  scram_client client("alice", "s3cret", cert_hash);
  const outcome r = run(client, server);
  EXPECT_FALSE(r.client_done);
  EXPECT_EQ(client.mechanism(), "SCRAM-SHA-256-PLUS");
  EXPECT_TRUE(server.channel_binding_used());
  EXPECT_TRUE(server.authenticated());
}

TEST(ScramRoundTrip, PlusWithMismatchedChannelBindingIsRejected) {
  // A man in the middle terminating TLS presents its own certificate to the client.
  std::vector<std::uint8_t> other = cert_hash;
  other.back() ^= 1;
  scram_server server(verifier_for("s3cret"), cert_hash);
  scram_client client("alice", "s3cret", other);
  EXPECT_EQ(run(client, server).server_final, errc::channel_binding_mismatch);
  EXPECT_FALSE(server.authenticated());
}

TEST(ScramRoundTrip, ClientWithBindingAgainstServerWithoutSendsY) {
  scram_server server(verifier_for("s3cret"));
  scram_client client("alice", "s3cret", cert_hash);
  EXPECT_FALSE(run(client, server).client_done);
  EXPECT_EQ(client.mechanism(), "SCRAM-SHA-256");
}

TEST(ScramRoundTrip, PlaintextCredential) {
  scram_server server(scram_plaintext_password{"s3cret"}, cert_hash);
  scram_client client("alice", "s3cret", cert_hash);
  EXPECT_FALSE(run(client, server).client_done);
}

TEST(ScramRoundTrip, EmptyPlaintextPasswordNeverAuthenticates) {
  scram_server server(scram_plaintext_password{""});
  scram_client client("alice", "");
  EXPECT_EQ(run(client, server).server_final, errc::invalid_proof);
}

TEST(ScramRoundTrip, ClientKeyRecoveryMatchesTheRealClientKey) {
  const scram_verifier v = verifier_for("s3cret");
  scram_server server(v);
  scram_client client("alice", "s3cret");
  ASSERT_FALSE(run(client, server).client_done);
  scram_keys real;
  ASSERT_FALSE(scram_derive_keys("s3cret", v.salt, v.iterations, real));
  ASSERT_TRUE(server.client_key());
  EXPECT_EQ(*server.client_key(), real.client_key);
}

TEST(ScramRoundTrip, KeyPassthroughLogsInWithoutThePassword) {
  // A client logs in to pgfunnel; pgfunnel then logs in upstream (same verifier) with the ClientKey.
  const scram_verifier v = verifier_for("s3cret");
  scram_server front(v);
  scram_client user("alice", "s3cret");
  ASSERT_FALSE(run(user, front).client_done);
  ASSERT_TRUE(front.client_key());

  scram_client_keys keys{*front.client_key(), front.verifier()->server_key, front.verifier()->salt,
                         front.verifier()->iterations};
  scram_server upstream(v, cert_hash);
  scram_client passthrough("alice", keys, cert_hash);
  const outcome r = run(passthrough, upstream);
  EXPECT_FALSE(r.server_final);
  EXPECT_FALSE(r.client_done);
  EXPECT_TRUE(upstream.authenticated());
  EXPECT_TRUE(passthrough.authenticated());
}

TEST(ScramRoundTrip, KeyPassthroughNeedsTheSameSaltAndIterations) {
  const scram_verifier v = verifier_for("s3cret");
  scram_keys real;
  ASSERT_FALSE(scram_derive_keys("s3cret", v.salt, v.iterations, real));
  scram_client_keys keys{real.client_key, real.server_key, v.salt, v.iterations};
  {
    scram_server upstream(verifier_for("s3cret"));  // same password, other salt
    scram_client passthrough("alice", keys);
    EXPECT_EQ(run(passthrough, upstream).client_final, errc::passthrough_mismatch);
  }
  {
    scram_verifier other;
    ASSERT_FALSE(make_scram_verifier("s3cret", v.salt, v.iterations + 1, other));
    scram_server upstream(other);
    scram_client passthrough("alice", keys);
    EXPECT_EQ(run(passthrough, upstream).client_final, errc::passthrough_mismatch);
  }
}

TEST(ScramRoundTrip, ForgedServerIsDetectedByTheClient) {
  // A server that has the StoredKey but a wrong ServerKey cannot produce a valid signature.
  scram_verifier v = verifier_for("s3cret");
  v.server_key[0] ^= 1;
  scram_server server(v);
  scram_client client("alice", "s3cret");
  EXPECT_EQ(run(client, server).client_done, errc::invalid_server_signature);
  EXPECT_FALSE(client.authenticated());
}

TEST(ScramRoundTrip, NonAsciiPasswords) {
  for (std::string pw : {std::string("p\xC3\xA4ss"), std::string("pass\xC2\xA0word"), std::string("\xFF\xFE raw"),
                         std::string("")}) {
    scram_server server(verifier_for(pw));
    scram_client client("u", pw);
    EXPECT_FALSE(run(client, server).client_done) << pw;
  }
  // SASLprep makes U+00A0 and a plain space the same password.
  scram_server server(verifier_for("pass word"));
  scram_client client("u", "pass\xC2\xA0word");
  EXPECT_FALSE(run(client, server).client_done);
}

}  // namespace
}  // namespace pgfunnel::auth
