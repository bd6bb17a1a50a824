// Unit tests for startup_resets: RESETs rewritten to the client's startup values, and the replies put back as the client expects.
#include "pgfunnel/session/startup_resets.hpp"

#include <gtest/gtest.h>

namespace pgfunnel::session {
namespace {

using reply = startup_resets::reply;

struct fixture {
  parameter_set startup, defaults;
  startup_resets r;
  fixture() {
    startup.set("datestyle", "Postgres, MDY");
    startup.set("search_path", "sst_s, public");
    startup.set("application_name", "app");
    startup.set("client_encoding", "UTF8");
    defaults.set("DateStyle", "ISO, MDY");
    defaults.set("client_encoding", "UTF8");  // the same as the client's: nothing to do
    defaults.set("application_name", "");
  }
  std::string rewrite(std::string_view sql, bool in_block = false, std::uint32_t owed = 0) {
    std::string out;
    if (!r.on_query(sql, startup, defaults, in_block, owed, out)) return "(unchanged)";
    return out;
  }
};

constexpr const char *kDateStyle = "SELECT WHERE pg_catalog.set_config('datestyle', 'Postgres, MDY', false) IS NULL";

TEST(StartupResets, ResetOfAStartupValueBecomesASetConfig) {
  fixture f;
  EXPECT_EQ(f.rewrite("RESET datestyle; SHOW datestyle"), std::string(kDateStyle) + "; SHOW datestyle");
  EXPECT_EQ(f.rewrite("BEGIN; reset \"DateStyle\";SHOW datestyle; COMMIT"),
            "BEGIN; SELECT WHERE pg_catalog.set_config('DateStyle', 'Postgres, MDY', false) IS NULL;SHOW datestyle; "
            "COMMIT");  // GUC names are case-insensitive, quoted or not
  EXPECT_EQ(f.rewrite("SET DateStyle TO DEFAULT"), kDateStyle);
  EXPECT_EQ(f.rewrite("SET SESSION datestyle = default;"), std::string(kDateStyle) + ";");
  // A list setting keeps its list: set_config reads it as the startup packet did.
  EXPECT_EQ(f.rewrite("RESET search_path"),
            "SELECT WHERE pg_catalog.set_config('search_path', 'sst_s, public', false) IS NULL");
}

TEST(StartupResets, OtherStatementsAndSettingsStayAsTheyAre) {
  fixture f;
  for (const char *sql : {"SELECT 'RESET datestyle'", "RESET work_mem", "SET datestyle = 'ISO'",
                          "RESET client_encoding", "SELECT 1 -- reset datestyle", "SET LOCAL datestyle TO DEFAULT", "RESET ROLE",
                          "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC RESET datestyle; SELECT 1; END",
                          "SET datestyle TO DEFAULT; SELECT 'unterminated"})
    EXPECT_EQ(f.rewrite(sql), "(unchanged)") << sql;
  EXPECT_TRUE(f.r.idle());
  parameter_set none;
  std::string out;
  EXPECT_FALSE(f.r.on_query("RESET datestyle", none, f.defaults, false, 0, out));
}

TEST(StartupResets, SetLocalToDefaultOnlyInsideATransactionBlock) {
  fixture f;
  EXPECT_EQ(f.rewrite("SET LOCAL datestyle TO DEFAULT", true),
            "SELECT WHERE pg_catalog.set_config('datestyle', 'Postgres, MDY', true) IS NULL");
  EXPECT_EQ(f.rewrite("SET LOCAL TIME ZONE DEFAULT", true), "(unchanged)");  // no startup time zone
  f.startup.set("TimeZone", "America/Chicago");
  EXPECT_EQ(f.rewrite("SET TIME ZONE LOCAL"),
            "SELECT WHERE pg_catalog.set_config('timezone', 'America/Chicago', false) IS NULL");
}

TEST(StartupResets, ResetAllIsFollowedByEveryStartupValue) {
  fixture f;
  EXPECT_EQ(f.rewrite("RESET ALL; SHOW datestyle"),
            "RESET ALL; SELECT WHERE pg_catalog.set_config('datestyle', 'Postgres, MDY', false) IS NULL OR "
            "pg_catalog.set_config('search_path', 'sst_s, public', false) IS NULL OR "
            "pg_catalog.set_config('application_name', 'app', false) IS NULL; SHOW datestyle");
}

TEST(StartupResets, RepliesAreRenamedAndDroppedForTheirStatements) {
  fixture f;
  f.rewrite("SELECT 1; RESET datestyle; RESET ALL; SHOW datestyle");
  // SELECT 1
  EXPECT_EQ(f.r.on_server_message('T'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('D'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('C', "SELECT 1"), reply::forward);
  // RESET datestyle, rewritten
  EXPECT_EQ(f.r.on_server_message('T'), reply::drop);
  EXPECT_EQ(f.r.on_server_message('C', "SELECT 0"), reply::rename);
  EXPECT_EQ(f.r.renamed_tag(), "RESET");
  // RESET ALL, then the SELECT after it
  EXPECT_EQ(f.r.on_server_message('C', "RESET"), reply::forward);
  EXPECT_EQ(f.r.on_server_message('T'), reply::drop);
  EXPECT_EQ(f.r.on_server_message('C', "SELECT 0"), reply::drop);
  // SHOW
  EXPECT_EQ(f.r.on_server_message('T'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('D'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('C', "SHOW"), reply::forward);
  EXPECT_EQ(f.r.on_server_message('S'), reply::forward);
  EXPECT_FALSE(f.r.idle());
  EXPECT_EQ(f.r.on_server_message('Z'), reply::forward);
  EXPECT_TRUE(f.r.idle());
  EXPECT_FALSE(f.r.uncertain());
}

TEST(StartupResets, EarlierRequestsRepliesAndErrorsAreLeftAlone) {
  fixture f;
  // Two requests before it are still owed, and a second rewritten one is sent behind it (three
  // owed then: the two and the first rewritten one). The earlier replies pass untouched.
  f.rewrite("SET datestyle TO DEFAULT", false, 2);
  f.rewrite("RESET datestyle", false, 3);
  EXPECT_EQ(f.r.on_server_message('T'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('C', "SELECT 0"), reply::forward);
  EXPECT_EQ(f.r.on_server_message('Z'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('E'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('Z'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('T'), reply::drop);
  EXPECT_EQ(f.r.on_server_message('C', "SELECT 0"), reply::rename);
  EXPECT_EQ(f.r.renamed_tag(), "SET");
  EXPECT_EQ(f.r.on_server_message('Z'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('T'), reply::drop);
  EXPECT_EQ(f.r.on_server_message('C', "SELECT 0"), reply::rename);
  EXPECT_EQ(f.r.renamed_tag(), "RESET");
  EXPECT_EQ(f.r.on_server_message('Z'), reply::forward);
  EXPECT_TRUE(f.r.idle());

  // A statement before the RESET fails: the query ends there, nothing more is touched.
  f.rewrite("SELECT 1/0; RESET datestyle");
  EXPECT_EQ(f.r.on_server_message('E'), reply::forward);
  EXPECT_EQ(f.r.on_server_message('Z'), reply::forward);
  EXPECT_TRUE(f.r.idle());
  // A reply that is not the SELECT put there: forwarded, and the lease is uncertain.
  f.rewrite("RESET datestyle");
  EXPECT_EQ(f.r.on_server_message('C', "SET"), reply::forward);
  EXPECT_TRUE(f.r.uncertain());
}

}  // namespace
}  // namespace pgfunnel::session
