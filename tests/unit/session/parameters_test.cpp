// Unit tests of session parameters: the case-insensitive set, tracked names, quote_literal, the SET batch.
#include <gtest/gtest.h>

#include <string>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::test {
namespace {

using session::build_set_batch;
using session::parameter_set;
using session::quote_literal;

parameter_set make(std::initializer_list<std::pair<const char*, const char*>> items) {
  parameter_set s;
  for (const auto& [k, v] : items) s.set(k, v);
  return s;
}

TEST(ParameterSet, CaseInsensitiveSetFindErase) {
  parameter_set s;
  EXPECT_TRUE(s.empty());
  s.set("DateStyle", "ISO, MDY");
  s.set("datestyle", "German");
  EXPECT_EQ(s.size(), 1u);
  ASSERT_NE(s.find("DATESTYLE"), nullptr);
  EXPECT_EQ(*s.find("DATESTYLE"), "German");
  EXPECT_EQ(s.begin()->first, "DateStyle");  // the first spelling stays
  EXPECT_EQ(s.find("TimeZone"), nullptr);
  s.set("TimeZone", "UTC");
  EXPECT_EQ(s.size(), 2u);
  EXPECT_FALSE(s.erase("nosuch"));
  EXPECT_TRUE(s.erase("DATEstyle"));
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.find("datestyle"), nullptr);
  ASSERT_NE(s.find("timezone"), nullptr);
  s.clear();
  EXPECT_TRUE(s.empty());
}

TEST(ParameterSet, KeepsInsertionOrder) {
  auto s = make({{"b", "1"}, {"a", "2"}, {"c", "3"}});
  std::string order;
  for (const auto& [k, v] : s) order += k;
  EXPECT_EQ(order, "bac");
}

TEST(ParameterSet, EmptyValueIsAValue) {
  parameter_set s;
  s.set("application_name", "");
  ASSERT_NE(s.find("application_name"), nullptr);
  EXPECT_EQ(*s.find("application_name"), "");
}

TEST(Parameters, Iequals) {
  EXPECT_TRUE(session::iequals("TimeZone", "timezone"));
  EXPECT_TRUE(session::iequals("", ""));
  EXPECT_FALSE(session::iequals("TimeZone", "timezones"));
  EXPECT_FALSE(session::iequals("a_b", "a-b"));
  // Only ASCII letters fold: '@' (0x40) and '`' (0x60) stay different.
  EXPECT_FALSE(session::iequals("@", "`"));
}

TEST(Parameters, TrackedAndConnectionParameters) {
  for (const char* name : {"client_encoding", "DateStyle", "timezone", "IntervalStyle", "standard_conforming_strings",
                           "APPLICATION_NAME"})
    EXPECT_TRUE(session::is_tracked_parameter(name)) << name;
  for (const char* name : {"search_path", "server_version", "work_mem", ""})
    EXPECT_FALSE(session::is_tracked_parameter(name)) << name;
  for (const char* name : {"user", "Database", "options", "replication", "_pq_.something"})
    EXPECT_TRUE(session::is_connection_parameter(name)) << name;
  for (const char* name : {"application_name", "search_path", "users"})
    EXPECT_FALSE(session::is_connection_parameter(name)) << name;
}

TEST(QuoteLiteral, PlainAndQuotes) {
  EXPECT_EQ(quote_literal(""), "''");
  EXPECT_EQ(quote_literal("UTC"), "'UTC'");
  EXPECT_EQ(quote_literal("it's"), "'it''s'");
  EXPECT_EQ(quote_literal("''"), "''''''");
  EXPECT_EQ(quote_literal("'; DROP TABLE t; --"), "'''; DROP TABLE t; --'");
}

// A backslash must mean the same whatever standard_conforming_strings the server has when it parses
// the batch: PostgreSQL 15..18 still accept SET standard_conforming_strings = off (a tracked
// parameter a client may carry), and a plain '...' literal would then treat a backslash as an escape.
// The escape-string form E'...' with doubled backslashes reads the same under both settings.
TEST(QuoteLiteral, BackslashesAreSafeUnderEitherStringSetting) {
  EXPECT_EQ(quote_literal(R"(C:\app\)"), R"(E'C:\\app\\')");
  EXPECT_EQ(quote_literal(R"(x\';SELECT 1;--)"), R"(E'x\\'';SELECT 1;--')");
  EXPECT_EQ(quote_literal("\\"), R"(E'\\')");
}

TEST(SetBatch, NothingWhenEqual) {
  const auto defaults = make({{"client_encoding", "UTF8"}, {"DateStyle", "ISO, MDY"}, {"TimeZone", "UTC"}});
  EXPECT_EQ(build_set_batch({}, defaults, defaults), "");
  const auto client = make({{"TimeZone", "UTC"}, {"client_encoding", "UTF8"}});
  EXPECT_EQ(build_set_batch(client, defaults, defaults), "");
  // Names compare case-insensitively.
  const auto client2 = make({{"timezone", "UTC"}});
  EXPECT_EQ(build_set_batch(client2, defaults, defaults), "");
}

TEST(SetBatch, SetForDifferingClientValue) {
  const auto defaults = make({{"TimeZone", "UTC"}, {"application_name", ""}});
  const auto client = make({{"TimeZone", "Europe/Paris"}, {"application_name", ""}});
  EXPECT_EQ(build_set_batch(client, defaults, defaults), "SELECT pg_catalog.set_config('TimeZone', 'Europe/Paris', false);");
}

TEST(SetBatch, SetForClientValueTheServerLacks) {
  const auto defaults = make({{"TimeZone", "UTC"}});
  const auto client = make({{"search_path", "app, public"}});
  EXPECT_EQ(build_set_batch(client, defaults, defaults), "SELECT pg_catalog.set_config('search_path', 'app, public', false);");
}

TEST(SetBatch, TrackedParameterReturnsToDefault) {
  const auto defaults = make({{"TimeZone", "UTC"}, {"DateStyle", "ISO, MDY"}});
  // An earlier client left its time zone on the server; this client never set one.
  const auto server = make({{"TimeZone", "Asia/Tokyo"}, {"DateStyle", "ISO, MDY"}});
  EXPECT_EQ(build_set_batch({}, server, defaults), "SELECT pg_catalog.set_config('TimeZone', 'UTC', false);");
}

TEST(SetBatch, TrackedParameterWithoutDefaultIsLeftAlone) {
  const auto defaults = make({{"TimeZone", "UTC"}});
  const auto server = make({{"TimeZone", "UTC"}, {"application_name", "old"}});
  // No default to go back to: no SET, and no RESET either (tracked parameters are never RESET).
  EXPECT_EQ(build_set_batch({}, server, defaults), "");
}

TEST(SetBatch, NonTrackedSettingFromEarlierClientIsReset) {
  const auto defaults = make({{"TimeZone", "UTC"}, {"server_version", "16.1"}});
  const auto server = make({{"TimeZone", "UTC"}, {"server_version", "16.1"}, {"search_path", "evil"},
                            {"myapp.tenant", "42"}});
  EXPECT_EQ(build_set_batch({}, server, defaults), "RESET search_path;RESET myapp.tenant;");
}

TEST(SetBatch, ClientValueWinsOverReset) {
  const auto defaults = make({{"TimeZone", "UTC"}});
  const auto server = make({{"TimeZone", "UTC"}, {"search_path", "a"}});
  const auto client = make({{"search_path", "b"}});
  EXPECT_EQ(build_set_batch(client, server, defaults), "SELECT pg_catalog.set_config('search_path', 'b', false);");
  const auto same = make({{"SEARCH_PATH", "a"}});
  EXPECT_EQ(build_set_batch(same, server, defaults), "");
}

TEST(SetBatch, SetsAndResetsTogether) {
  const auto defaults = make({{"TimeZone", "UTC"}, {"DateStyle", "ISO, MDY"}});
  const auto server = make({{"TimeZone", "Asia/Tokyo"}, {"DateStyle", "ISO, MDY"}, {"work_mem", "1GB"}});
  const auto client = make({{"DateStyle", "German"}});
  EXPECT_EQ(build_set_batch(client, server, defaults),
            "SELECT pg_catalog.set_config('DateStyle', 'German', false);SELECT pg_catalog.set_config('TimeZone', 'UTC', false);RESET work_mem;");
}

TEST(SetBatch, NonIdentifierNamesAreSkipped) {
  const auto defaults = make({{"TimeZone", "UTC"}});
  const auto client = make({{"TimeZone TO 'x'; DROP TABLE t; --", "y"},
                            {"a b", "1"},
                            {"x;y", "1"},
                            {"\"quoted\"", "1"},
                            {"", "1"},
                            {"naïve", "1"},
                            {"ok_name", "1"}});
  const auto server = make({{"TimeZone", "UTC"}, {"bad-name", "1"}, {"x'; DROP TABLE t; --", "2"}});
  const std::string sql = build_set_batch(client, server, defaults);
  EXPECT_EQ(sql, "SELECT pg_catalog.set_config('ok_name', '1', false);");
  EXPECT_EQ(sql.find("DROP"), std::string::npos);
}

TEST(SetBatch, ValuesWithQuotesAreQuoted) {
  const auto defaults = make({{"application_name", ""}});
  const auto client = make({{"application_name", "x'; DROP TABLE t; --"}});
  EXPECT_EQ(build_set_batch(client, defaults, defaults), "SELECT pg_catalog.set_config('application_name', 'x''; DROP TABLE t; --', false);");
}

TEST(SetBatch, ValuesWithBackslashesUseEscapeStrings) {
  const auto defaults = make({{"application_name", ""}, {"standard_conforming_strings", "on"}});
  // The server was left with standard_conforming_strings off by an earlier client.
  const auto server = make({{"application_name", ""}, {"standard_conforming_strings", "off"}});
  const auto client = make({{"application_name", R"(C:\app\)"}});
  EXPECT_EQ(build_set_batch(client, server, defaults),
            R"(SELECT pg_catalog.set_config('application_name', E'C:\\app\\', false);SELECT pg_catalog.set_config('standard_conforming_strings', 'on', false);)");
}

}  // namespace
}  // namespace pgfunnel::test

// ---- parse_options: the settings inside a startup packet's `options` -------------------------

TEST(ParseOptions, DashCPairsInBothSpellings) {
  pgfunnel::session::parameter_set out;
  pgfunnel::session::parse_options("-c search_path=app -cstatement_timeout=5s --lock-timeout=1s", out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(*out.find("search_path"), "app");
  EXPECT_EQ(*out.find("statement_timeout"), "5s");
  EXPECT_EQ(*out.find("lock_timeout"), "1s");
}

TEST(ParseOptions, EscapedSpacesStayInTheValue) {
  pgfunnel::session::parameter_set out;
  pgfunnel::session::parse_options(R"(-c search_path=a,\ b  -c application_name=my\ app)", out);
  EXPECT_EQ(*out.find("search_path"), "a, b");
  EXPECT_EQ(*out.find("application_name"), "my app");
}

TEST(ParseOptions, WordsThatAreNotSettingsAreSkipped) {
  pgfunnel::session::parameter_set out;
  pgfunnel::session::parse_options("endpoint=ep-cool-123 -c =x -c noequals -c", out);
  EXPECT_TRUE(out.empty());
}
