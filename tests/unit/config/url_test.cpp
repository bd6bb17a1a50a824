// Unit tests for the upstream libpq URL parser, printer and redaction.
#include <gtest/gtest.h>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {
namespace {

upstream_url ok(std::string_view text) {
  std::string error;
  auto u = parse_upstream_url(text, error);
  EXPECT_TRUE(u) << text << ": " << error;
  return u.value_or(upstream_url{});
}

std::string fails(std::string_view text) {
  std::string error;
  EXPECT_FALSE(parse_upstream_url(text, error)) << text;
  return error;
}

TEST(UpstreamUrl, AllParts) {
  const auto u = ok("postgresql://alice:p%40ss@db.example.com:6543/my%20db?sslmode=verify-full&application_name=a%26b");
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_EQ(u.host, "db.example.com");
  EXPECT_EQ(u.port, 6543);
  EXPECT_EQ(u.dbname, "my db");
  EXPECT_EQ(u.sslmode(), "verify-full");
  EXPECT_EQ(u.params.at("application_name"), "a&b");
}

TEST(UpstreamUrl, DefaultsWhenPartsAreMissing) {
  const auto u = ok("postgres://");
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 5432);
  EXPECT_EQ(u.dbname, "");
  EXPECT_EQ(u.sslmode(), "prefer");
  EXPECT_EQ(ok("postgres://bob@h").user, "bob");
  EXPECT_EQ(ok("postgres://h/").dbname, "");
}

TEST(UpstreamUrl, Ipv6InBrackets) {
  const auto u = ok("postgres://u@[::1]:5433/db");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 5433);
  EXPECT_EQ(ok("postgres://[2001:db8::7]/db").host, "2001:db8::7");
  EXPECT_EQ(ok("postgres://[2001:db8::7]/db").port, 5432);
}

TEST(UpstreamUrl, QueryParamsOverrideAndDecode) {
  const auto u = ok("postgres://u:pw@ignored:1/x?host=%2Fvar%2Frun%2Fpostgresql&port=5434&dbname=real"
                    "&options=-c%20search_path%3Dapp&channel_binding=require&sslrootcert=%2Fetc%2Fca.pem");
  EXPECT_EQ(u.host, "/var/run/postgresql");  // a Unix socket directory
  EXPECT_EQ(u.port, 5434);
  EXPECT_EQ(u.dbname, "real");
  EXPECT_EQ(u.params.at("options"), "-c search_path=app");
  EXPECT_EQ(u.params.at("channel_binding"), "require");
  EXPECT_EQ(u.params.at("sslrootcert"), "/etc/ca.pem");
  EXPECT_EQ(u.params.count("host"), 0u);  // moved into the field
  EXPECT_EQ(u.params.count("port"), 0u);

  const auto p = ok("postgres://h/db?user=carol&password=s%3Dcret");
  EXPECT_EQ(p.user, "carol");
  EXPECT_EQ(p.password, "s=cret");
  EXPECT_TRUE(p.params.empty());
}

TEST(UpstreamUrl, UnescapedAtInPasswordUsesLastAt) {
  const auto u = ok("postgres://alice:p@ss@host/db");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_EQ(u.host, "host");
}

TEST(UpstreamUrl, Errors) {
  EXPECT_NE(fails("mysql://h/db").find("unsupported scheme 'mysql://'"), std::string::npos);
  EXPECT_NE(fails("http://h/db").find("expected postgres:// or postgresql://"), std::string::npos);
  EXPECT_NE(fails("db.example.com:5432").find("is not a URL"), std::string::npos);
  EXPECT_NE(fails("").find("is empty"), std::string::npos);
  EXPECT_NE(fails("postgres://h:99999/db").find("bad port '99999'"), std::string::npos);
  EXPECT_NE(fails("postgres://h:0/db").find("bad port '0'"), std::string::npos);
  EXPECT_NE(fails("postgres://h:abc/db").find("bad port 'abc'"), std::string::npos);
  EXPECT_NE(fails("postgres://h:/db").find("bad port ''"), std::string::npos);
  EXPECT_NE(fails("postgres://u:p%zz@h/db").find("bad percent escape '%zz' in the password"), std::string::npos);
  EXPECT_NE(fails("postgres://h/db%4").find("bad percent escape"), std::string::npos);
  EXPECT_NE(fails("postgres://h/db%00").find("%00"), std::string::npos);
  EXPECT_NE(fails("postgres://h1,h2/db").find("multiple hosts are not supported"), std::string::npos);
  EXPECT_NE(fails("postgres://h1:5432,h2:5432/db").find("multiple hosts are not supported"), std::string::npos);
  EXPECT_NE(fails("postgres://[::1]:5432,[::2]/db").find("multiple hosts are not supported"), std::string::npos);
  EXPECT_NE(fails("postgres://h/db?host=a,b").find("multiple hosts are not supported"), std::string::npos);
  EXPECT_NE(fails("postgres://::1/db").find("brackets"), std::string::npos);
  EXPECT_NE(fails("postgres://[::1/db").find("unclosed '['"), std::string::npos);
  EXPECT_NE(fails("postgres://h/db?sslmode=maybe").find("bad sslmode 'maybe' (allowed: disable, allow, prefer"),
            std::string::npos);
  EXPECT_NE(fails("postgres://h/db?sslmod=require").find("unknown connection parameter 'sslmod', did you mean 'sslmode'?"),
            std::string::npos);
  EXPECT_NE(fails("postgres://h/db?sslmode").find("has no value"), std::string::npos);
  EXPECT_NE(fails("postgres://h/db#frag").find("fragment"), std::string::npos);
}

TEST(UpstreamUrl, RedactedAndRoundTrip) {
  const auto u = ok("postgres://alice:p%40ss@db.example.com:6543/my%20db?sslmode=require");
  EXPECT_EQ(u.redacted(), "postgres://alice:***@db.example.com:6543/my%20db?sslmode=require");
  EXPECT_EQ(u.redacted().find("p%40ss"), std::string::npos);
  EXPECT_EQ(u.to_string(), "postgres://alice:p%40ss@db.example.com:6543/my%20db?sslmode=require");

  for (std::string_view text : {"postgres://alice:p%40ss@db.example.com:6543/my%20db?sslmode=require",
                                "postgres://u@[::1]:5433/db", "postgres://u@/db?host=%2Ftmp&sslpassword=x",
                                "postgres://127.0.0.1:5432", "postgres://:only-password@h/db"}) {
    const auto parsed = ok(text);
    EXPECT_EQ(ok(parsed.to_string()), parsed) << text << " -> " << parsed.to_string();
  }
  EXPECT_EQ(ok("postgres://u@[::1]:5433/db").redacted(), "postgres://u@[::1]:5433/db");
  EXPECT_EQ(ok("postgres://u@h/db?sslpassword=x").redacted(), "postgres://u@h:5432/db?sslpassword=***");
}

}  // namespace
}  // namespace pgfunnel::config
