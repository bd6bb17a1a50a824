// Tests for PostgreSQL SCRAM verifier parsing, formatting and derivation from a password.
#include <gtest/gtest.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"
#include "rfc7677.hpp"

namespace pgfunnel::auth {
namespace {

TEST(ScramVerifier, DerivedFromRfcPasswordMatchesIndependentComputation) {
  std::vector<std::uint8_t> salt;
  ASSERT_FALSE(base64_decode(test::rfc_salt_b64, salt));
  scram_verifier v;
  ASSERT_FALSE(make_scram_verifier("pencil", salt, 4096, v));
  EXPECT_EQ(format_scram_verifier(v), test::rfc_verifier);
}

TEST(ScramVerifier, ParseFormatRoundTrip) {
  scram_verifier v;
  ASSERT_FALSE(parse_scram_verifier(test::rfc_verifier, v));
  EXPECT_EQ(v.iterations, 4096u);
  EXPECT_EQ(v.salt.size(), 16u);
  EXPECT_EQ(format_scram_verifier(v), test::rfc_verifier);
  scram_verifier again;
  ASSERT_FALSE(parse_scram_verifier(format_scram_verifier(v), again));
  EXPECT_EQ(again, v);
}

TEST(ScramVerifier, RandomSaltDefaults) {
  scram_verifier a, b;
  ASSERT_FALSE(make_scram_verifier("secret", a));
  ASSERT_FALSE(make_scram_verifier("secret", b));
  EXPECT_EQ(a.iterations, scram_default_iterations);
  EXPECT_EQ(a.salt.size(), scram_default_salt_length);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.stored_key, b.stored_key);
}

TEST(ScramVerifier, RejectsMalformed) {
  const std::string keys = "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const std::string bad[] = {
      "",
      "md5a3556571e93b0d20722ba62be61e8c2d",
      "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",                       // no keys
      "SCRAM-SHA-256$:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,                    // no iterations
      "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,                   // zero iterations
      "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$+4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$4096x:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
      "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,         // overflow
      "SCRAM-SHA-256$4096:" + keys,                                        // empty salt
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6g" + keys,                   // bad base64 salt
      "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,                 // no ':'
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$QUFB:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",  // short key
      std::string(test::rfc_verifier) + "$",
      std::string(test::rfc_verifier) + "=",
  };
  for (const auto& text : bad) {
    scram_verifier v;
    v.iterations = 7;
    EXPECT_EQ(parse_scram_verifier(text, v), errc::invalid_verifier) << text;
    EXPECT_EQ(v.iterations, 7u) << "output must be untouched on error";
  }
}

TEST(ScramVerifier, LooksLike) {
  EXPECT_TRUE(looks_like_scram_verifier(test::rfc_verifier));
  EXPECT_FALSE(looks_like_scram_verifier("md5a3556571e93b0d20722ba62be61e8c2d"));
  EXPECT_FALSE(looks_like_scram_verifier("pencil"));
}

TEST(ScramVerifier, NonAsciiPasswordIsSaslprepped) {
  // "pass<U+00A0>word" hashes as "pass word", as PostgreSQL does.
  const std::uint8_t salt[] = {1, 2, 3, 4};
  scram_verifier mapped, plain;
  ASSERT_FALSE(make_scram_verifier("pass\xC2\xA0word", salt, 16, mapped));
  ASSERT_FALSE(make_scram_verifier("pass word", salt, 16, plain));
  EXPECT_EQ(mapped, plain);
}

}  // namespace
}  // namespace pgfunnel::auth
