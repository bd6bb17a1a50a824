// Tests for MD5 password hashing and challenge-response, against values computed with md5sum.
#include <gtest/gtest.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/md5.hpp"

namespace pgfunnel::auth {
namespace {

// Expected values computed in a shell:
//   printf '%s' 'passworduser' | md5sum                             -> 4d45974e13472b5a0be3533de4666414
//   printf '%s\x01\x02\x03\x04' 4d45974e...6414 | md5sum            -> a3576f1ae039b8996bc4fc2720f9c71a
//   printf '%s' 'pencilpostgres' | md5sum                           -> 4c21b325d75177d5e9b9789a50ab0c9c
//   printf '%s\xde\xad\xbe\xef' 4c21b325...0c9c | md5sum            -> ced99751bea390968e795eaedb0a4935
constexpr md5_salt salt1 = {0x01, 0x02, 0x03, 0x04};
constexpr md5_salt salt2 = {0xDE, 0xAD, 0xBE, 0xEF};

TEST(Md5, PasswordHash) {
  EXPECT_EQ(md5_password_hash("user", "password"), "md54d45974e13472b5a0be3533de4666414");
  EXPECT_EQ(md5_password_hash("postgres", "pencil"), "md54c21b325d75177d5e9b9789a50ab0c9c");
}

TEST(Md5, Response) {
  EXPECT_EQ(md5_response("user", "password", salt1), "md5a3576f1ae039b8996bc4fc2720f9c71a");
  EXPECT_EQ(md5_response("postgres", "pencil", salt2), "md5ced99751bea390968e795eaedb0a4935");
  EXPECT_EQ(md5_response_from_hash("md54c21b325d75177d5e9b9789a50ab0c9c", salt2), "md5ced99751bea390968e795eaedb0a4935");
  EXPECT_EQ(md5_response_from_hash("pencil", salt2), "");
}

TEST(Md5, IsMd5Hash) {
  EXPECT_TRUE(is_md5_hash("md54c21b325d75177d5e9b9789a50ab0c9c"));
  EXPECT_FALSE(is_md5_hash("md54C21B325D75177D5E9B9789A50AB0C9C"));
  EXPECT_FALSE(is_md5_hash("md54c21b325d75177d5e9b9789a50ab0c9"));
  EXPECT_FALSE(is_md5_hash("md54c21b325d75177d5e9b9789a50ab0c9cc"));
  EXPECT_FALSE(is_md5_hash("xyz4c21b325d75177d5e9b9789a50ab0c9c"));
  EXPECT_FALSE(is_md5_hash("md54c21b325d75177d5e9b9789a50ab0c9g"));
}

TEST(Md5, VerifyAgainstPlaintextAndStoredHash) {
  const std::string response = "md5ced99751bea390968e795eaedb0a4935";
  EXPECT_FALSE(md5_verify("postgres", "pencil", salt2, response));
  EXPECT_FALSE(md5_verify("postgres", "md54c21b325d75177d5e9b9789a50ab0c9c", salt2, response));
  // The user name is salted in: the same password for another user fails.
  EXPECT_EQ(md5_verify("alice", "pencil", salt2, response), errc::invalid_proof);
  EXPECT_EQ(md5_verify("postgres", "pencil", salt1, response), errc::invalid_proof);
  EXPECT_EQ(md5_verify("postgres", "pencil2", salt2, response), errc::invalid_proof);
  EXPECT_EQ(md5_verify("postgres", "pencil", salt2, "md5ced99751bea390968e795eaedb0a493"), errc::invalid_proof);
  EXPECT_EQ(md5_verify("postgres", "pencil", salt2, ""), errc::invalid_proof);
  EXPECT_EQ(md5_verify("postgres", "pencil", salt2, response + std::string("\0", 1)), errc::invalid_proof);
}

TEST(Md5, EmptySecretNeverAuthenticates) {
  EXPECT_EQ(md5_verify("postgres", "", salt1, md5_response("postgres", "", salt1)), errc::invalid_proof);
}

TEST(Md5, ScramVerifierCannotAnswerMd5) {
  EXPECT_EQ(md5_verify("u", "SCRAM-SHA-256$4096:QUFBQQ==$QUFB:QUFB", salt1, "md5ced99751bea390968e795eaedb0a4935"),
            errc::unsupported_mechanism);
}

}  // namespace
}  // namespace pgfunnel::auth
