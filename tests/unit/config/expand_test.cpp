// Unit tests for ${VAR} / ${VAR:-default} / $$ expansion.
#include <gtest/gtest.h>

#include "pgfunnel/config/load.hpp"
#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {
namespace {

const environment env({{"HOST", "db"}, {"PORT", "5433"}, {"EMPTY", ""}});

std::string expand(std::string_view text) {
  std::string error;
  auto out = expand_env(text, env, error);
  EXPECT_TRUE(out) << text << ": " << error;
  return out.value_or("<error>");
}

std::string expand_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(expand_env(text, env, error)) << text;
  return error;
}

TEST(Expand, Variables) {
  EXPECT_EQ(expand("postgres://${HOST}:${PORT}/x"), "postgres://db:5433/x");
  EXPECT_EQ(expand("plain"), "plain");
  EXPECT_EQ(expand("${EMPTY}"), "");
}

TEST(Expand, Defaults) {
  EXPECT_EQ(expand("${MISSING:-fallback}"), "fallback");
  EXPECT_EQ(expand("${HOST:-fallback}"), "db");
  EXPECT_EQ(expand("${EMPTY:-used when empty}"), "used when empty");  // shell ':-' semantics
  EXPECT_EQ(expand("${MISSING:-}"), "");
  EXPECT_EQ(expand("${MISSING:-postgres://u@h:5432/db?x=1}"), "postgres://u@h:5432/db?x=1");
  EXPECT_EQ(expand("${MISSING:-${HOST}}"), "db");  // a default may itself refer to a variable
}

TEST(Expand, Dollars) {
  EXPECT_EQ(expand("$$HOST"), "$HOST");
  EXPECT_EQ(expand("cost: 5$"), "cost: 5$");
  // A SCRAM verifier has lone '$'s and must come through unchanged.
  EXPECT_EQ(expand("SCRAM-SHA-256$4096:c2FsdA==$a:b"), "SCRAM-SHA-256$4096:c2FsdA==$a:b");
  EXPECT_EQ(expand("$$${HOST}"), "$db");
}

TEST(Expand, Errors) {
  EXPECT_EQ(expand_error("${NOPE}"),
            "environment variable NOPE is not set (write ${NOPE:-default} to give a fallback)");
  EXPECT_EQ(expand_error("${A1}/${B2}"), "environment variables A1, B2 are not set");
  EXPECT_NE(expand_error("${HOST").find("unterminated"), std::string::npos);
  EXPECT_NE(expand_error("${}").find("bad variable reference"), std::string::npos);
  EXPECT_NE(expand_error("${HOST-x}").find("bad variable reference '${HOST-x}'"), std::string::npos);
  EXPECT_NE(expand_error("${1X}").find("bad variable reference"), std::string::npos);
}

}  // namespace
}  // namespace pgfunnel::config
