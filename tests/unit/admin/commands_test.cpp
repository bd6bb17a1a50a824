// Unit tests for the admin console's command parser: PgBouncer's syntax, its errors, who may run what.
#include "pgfunnel/admin/commands.hpp"

#include <gtest/gtest.h>

namespace pgfunnel::admin {
namespace {

command parse_ok(std::string_view sql) {
  const auto p = parse_command(sql);
  EXPECT_TRUE(p.cmd.has_value()) << sql << ": " << p.message;
  return p.cmd.value_or(command{});
}

TEST(AdminParse, ShowSubjectsAreCaseInsensitiveWithOptionalSemicolon) {
  EXPECT_EQ(parse_ok("SHOW POOLS").argument, "POOLS");
  EXPECT_EQ(parse_ok("show pools;").argument, "POOLS");
  EXPECT_EQ(parse_ok("  Show   Stats_Totals ;; \n").argument, "STATS_TOTALS");
  for (auto subject : show_subjects()) {
    const auto c = parse_ok("show " + std::string(subject));
    EXPECT_EQ(c.what, verb::show);
    EXPECT_EQ(c.argument, subject);
  }
}

TEST(AdminParse, ControlCommandsTakeAnOptionalDatabase) {
  EXPECT_EQ(parse_ok("PAUSE").what, verb::pause);
  EXPECT_EQ(parse_ok("PAUSE").argument, "");
  const auto c = parse_ok("pause mydb;");
  EXPECT_EQ(c.what, verb::pause);
  EXPECT_EQ(c.argument, "mydb");
  EXPECT_EQ(parse_ok("RESUME \"My DB\"").argument, "My DB");
  EXPECT_EQ(parse_ok("RESUME \"a\"\"b\"").argument, "a\"b");
  EXPECT_EQ(parse_ok("reconnect").what, verb::reconnect);
  EXPECT_EQ(parse_ok("WAIT_CLOSE app").what, verb::wait_close);
  EXPECT_EQ(parse_ok("KILL app").argument, "app");
  EXPECT_EQ(parse_ok("reload").what, verb::reload);
  EXPECT_EQ(parse_ok("SHUTDOWN;").what, verb::shutdown);
}

TEST(AdminParse, KillClientTakesAnId) {
  const auto c = parse_ok("KILL_CLIENT c42");
  EXPECT_EQ(c.what, verb::kill_client);
  EXPECT_EQ(parse_client_id(c.argument), 42u);
  EXPECT_EQ(parse_client_id("7"), 7u);
  EXPECT_EQ(parse_client_id("C7"), 7u);
  EXPECT_FALSE(parse_client_id("s7"));
  EXPECT_FALSE(parse_client_id("c"));
  EXPECT_FALSE(parse_client_id("12x"));
  EXPECT_FALSE(parse_client_id("99999999999999999999"));
  const auto bad = parse_command("KILL_CLIENT s7");
  EXPECT_FALSE(bad.cmd);
  EXPECT_EQ(bad.sqlstate, "08P01");
  EXPECT_EQ(parse_command("KILL_CLIENT").message, "a client id is required");
}

TEST(AdminParse, UnknownCommandsGetPgBouncersError) {
  for (std::string_view sql : {"SELECT 1", "SHOW", "SHOW FOO", "show pools extra", "RELOAD now", "PAUSE a b",
                               "SHOW POOLS; SHOW STATS", "RESUME \"open", "SUSPEND"}) {
    const auto p = parse_command(sql);
    EXPECT_FALSE(p.cmd) << sql;
    EXPECT_FALSE(p.empty) << sql;
    EXPECT_EQ(p.sqlstate, "08P01") << sql;
  }
  EXPECT_EQ(parse_command("select 1;").message, "invalid command 'select 1', use SHOW HELP;");
  EXPECT_EQ(parse_command("KILL").message, "a database is required");
}

TEST(AdminParse, EmptyQuery) {
  EXPECT_TRUE(parse_command("").empty);
  EXPECT_TRUE(parse_command(" ;\n").empty);
}

TEST(AdminParse, OnlyShowIsForStatsUsers) {
  EXPECT_FALSE(needs_admin(parse_ok("SHOW CONFIG")));
  EXPECT_FALSE(needs_admin(parse_ok("show sockets")));
  EXPECT_TRUE(needs_admin(parse_ok("show fds")));  // as in PgBouncer: its rows hold cancel keys
  for (std::string_view sql :
       {"PAUSE", "RESUME", "RECONNECT", "KILL db", "KILL_CLIENT 1", "RELOAD", "SHUTDOWN", "WAIT_CLOSE"})
    EXPECT_TRUE(needs_admin(parse_ok(sql))) << sql;
}

TEST(AdminParse, PgBouncer118sShowSubjectsAreAllKnown) {
  for (std::string_view subject : {"HELP", "CONFIG", "DATABASES", "POOLS", "CLIENTS", "SERVERS", "USERS", "VERSION",
                                   "FDS", "SOCKETS", "ACTIVE_SOCKETS", "LISTS", "MEM", "DNS_HOSTS", "DNS_ZONES",
                                   "STATS", "STATS_TOTALS", "STATS_AVERAGES", "TOTALS"}) {
    EXPECT_EQ(parse_ok("SHOW " + std::string(subject)).argument, subject);
    EXPECT_NE(help_text().find(subject), std::string::npos) << subject << " missing from SHOW HELP";
  }
}

TEST(AdminParse, CommandTagsArePgBouncers) {
  EXPECT_EQ(command_tag(verb::show), "SHOW");
  EXPECT_EQ(command_tag(verb::kill_client), "KILL_CLIENT");
  EXPECT_EQ(command_tag(verb::wait_close), "WAIT_CLOSE");
}

TEST(AdminParse, ConsoleDatabases) {
  EXPECT_TRUE(is_console_database("pgbouncer"));
  EXPECT_TRUE(is_console_database("pgfunnel"));
  EXPECT_FALSE(is_console_database("PGBOUNCER"));
  EXPECT_FALSE(is_console_database("postgres"));
}

}  // namespace
}  // namespace pgfunnel::admin
