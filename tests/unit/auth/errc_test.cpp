// Tests for the auth error category: enum-to-error_code conversion, names and messages.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "pgfunnel/auth/errc.hpp"

namespace pgfunnel::auth {
namespace {

TEST(AuthErrc, ConvertsImplicitlyAndCompares) {
  const std::error_code ec = errc::invalid_proof;
  EXPECT_TRUE(ec);
  EXPECT_EQ(ec, errc::invalid_proof);
  EXPECT_NE(ec, errc::malformed_message);
  EXPECT_EQ(&ec.category(), &auth_category());
  EXPECT_STREQ(ec.category().name(), "pgfunnel.auth");
}

TEST(AuthErrc, EveryValueHasADistinctMessage) {
  std::set<std::string> seen;
  for (int v = static_cast<int>(errc::out_of_order); v <= static_cast<int>(errc::crypto_failure); ++v) {
    const std::string message = make_error_code(static_cast<errc>(v)).message();
    EXPECT_FALSE(message.empty()) << v;
    EXPECT_EQ(message.find("unknown"), std::string::npos) << v;
    EXPECT_TRUE(seen.insert(message).second) << "duplicate message for " << v << ": " << message;
  }
  EXPECT_EQ(make_error_code(errc::invalid_proof).message(), "password authentication failed");
}

}  // namespace
}  // namespace pgfunnel::auth
