// Unit tests for the SET/RESET recogniser and the replay of a client's settings.
#include "pgfunnel/session/session_settings.hpp"

#include <gtest/gtest.h>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::session {
namespace {

session_sql classify(std::string_view sql) { return classify_session_sql(sql, &is_tracked_parameter); }

// The one change of a one-statement text (kind unknown with an empty name when there is none).
setting_change only(std::string_view sql) {
  auto s = classify(sql);
  if (s.changes.size() != 1) return setting_change{setting_change::unknown, false, 0, "<" + std::to_string(s.changes.size()) + " changes>", {}};
  return s.changes[0];
}
bool none(std::string_view sql) { return classify(sql).changes.empty(); }

TEST(SessionSql, SetForms) {
  auto s = only("SET search_path TO app, public");
  EXPECT_EQ(s.kind, setting_change::set);
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(s.text, "SET search_path TO app, public");

  s = only("  set SESSION Search_Path = 'a', \"B\" ;  ");
  EXPECT_EQ(s.kind, setting_change::set);
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(s.text, "set SESSION Search_Path = 'a', \"B\"");

  s = only("SET myapp.tenant_id = '42'");
  EXPECT_EQ(s.kind, setting_change::set);
  EXPECT_EQ(s.name, "myapp.tenant_id");

  s = only("SET statement_timeout TO DEFAULT");
  EXPECT_EQ(s.kind, setting_change::reset);
  EXPECT_EQ(s.name, "statement_timeout");
}

TEST(SessionSql, SpecialSetForms) {
  auto s = only("SET ROLE app_reader");
  EXPECT_EQ(s.kind, setting_change::set);
  EXPECT_EQ(s.name, "role");
  EXPECT_EQ(s.text, "SET ROLE app_reader");
  EXPECT_EQ(only("set role to 'x'").name, "role");
  EXPECT_EQ(only("SET ROLE NONE").kind, setting_change::set);
  EXPECT_EQ(only("RESET ROLE").kind, setting_change::reset);
  EXPECT_EQ(only("RESET ROLE").name, "role");

  s = only("SET SESSION AUTHORIZATION bob");
  EXPECT_EQ(s.kind, setting_change::set);
  EXPECT_EQ(s.name, "session_authorization");
  EXPECT_EQ(s.text, "SET SESSION AUTHORIZATION bob");
  EXPECT_EQ(only("SET SESSION AUTHORIZATION DEFAULT").kind, setting_change::reset);
  EXPECT_EQ(only("RESET SESSION AUTHORIZATION").name, "session_authorization");

  auto c = classify("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY DEFERRABLE");
  ASSERT_EQ(c.changes.size(), 3u);
  EXPECT_EQ(c.changes[0].name, "default_transaction_isolation");
  EXPECT_EQ(c.changes[0].text, "SET SESSION default_transaction_isolation TO 'repeatable read'");
  EXPECT_EQ(c.changes[1].name, "default_transaction_read_only");
  EXPECT_EQ(c.changes[2].name, "default_transaction_deferrable");
  EXPECT_EQ(only("SET SESSION CHARACTERISTICS AS TRANSACTION READ SIDEWAYS").kind, setting_change::unknown);

  s = only("SET SCHEMA 'app'");
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(s.text, "SET SCHEMA 'app'");
  EXPECT_EQ(only("SET XML OPTION DOCUMENT").name, "xmloption");

  // Reported parameters follow through ParameterStatus; only their resets matter here.
  EXPECT_TRUE(none("SET NAMES 'LATIN1'"));
  EXPECT_TRUE(none("SET TIME ZONE 'Europe/Paris'"));
  s = only("SET TIME ZONE LOCAL");
  EXPECT_EQ(s.kind, setting_change::reset);
  EXPECT_TRUE(s.tracked);
  EXPECT_EQ(s.name, "timezone");
  EXPECT_TRUE(only("SET TIME ZONE DEFAULT").tracked);
  EXPECT_TRUE(only("RESET TIME ZONE").tracked);
  EXPECT_TRUE(only("RESET DateStyle").tracked);
  EXPECT_TRUE(only("SET datestyle TO DEFAULT").tracked);
}

TEST(SessionSql, SetConfigCalls) {
  auto s = only("SELECT set_config('work_mem', '7MB', false)");
  EXPECT_EQ(s.kind, setting_change::set);
  EXPECT_EQ(s.name, "work_mem");
  EXPECT_EQ(s.text, "SELECT pg_catalog.set_config('work_mem', '7MB', false)");
  EXPECT_EQ(only("select 1, PG_CATALOG.SET_CONFIG ( 'App.X' , 'it''s' , FALSE ) as v").name, "app.x");
  EXPECT_EQ(only("select 1, PG_CATALOG.SET_CONFIG ( 'App.X' , 'it''s' , FALSE ) as v").text,
            "SELECT pg_catalog.set_config('App.X', 'it''s', false)");
  EXPECT_TRUE(none("SELECT set_config('work_mem', '7MB', true)"));  // ends with the transaction
  EXPECT_TRUE(none("SELECT set_config('application_name', 'x', false)"));  // ParameterStatus
  EXPECT_TRUE(none("SELECT 'set_config(''a'', ''b'', false)'"));           // a string
  EXPECT_TRUE(none("SELECT set_config_col FROM t"));
  EXPECT_EQ(only("SELECT set_config($1, $2, false)").kind, setting_change::unknown);
  EXPECT_EQ(only("SELECT set_config('a.b', v, false) FROM t").kind, setting_change::unknown);
  EXPECT_EQ(only("DO $$BEGIN PERFORM set_config('a.b', 'c', false); END$$").kind, setting_change::unknown);
  auto two = classify("SELECT set_config('a.b', '1', false), set_config('a.c', '2', false)");
  ASSERT_EQ(two.changes.size(), 2u);
  EXPECT_EQ(two.changes[1].name, "a.c");
}

TEST(SessionSql, EveryStatementOfAQuery) {
  auto s = classify("SET work_mem = '7MB'; SELECT 1; ; SET myapp.x = 'a;b' -- note\n; RESET search_path");
  EXPECT_EQ(s.statements, 4u);  // the empty one does not count
  ASSERT_EQ(s.changes.size(), 3u);
  EXPECT_EQ(s.changes[0].statement, 0u);
  EXPECT_EQ(s.changes[1].statement, 2u);
  EXPECT_EQ(s.changes[1].text, "SET myapp.x = 'a;b'");
  EXPECT_EQ(s.changes[2].statement, 3u);
  EXPECT_EQ(s.changes[2].kind, setting_change::reset);
  EXPECT_EQ(classify("/* app */ SET work_mem = 1").changes.at(0).kind, setting_change::set);
  EXPECT_EQ(classify("SELECT $a$;$a$; SELECT E'\\';'; SELECT \";\"").statements, 3u);
  EXPECT_EQ(classify("SELECT 1 /* ; /* ; */ ; */; SELECT 2").statements, 2u);
  EXPECT_EQ(classify("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END").statements, 0u);

  auto t = classify("BEGIN; SAVEPOINT a; SET x.y = 1; RELEASE SAVEPOINT a; ROLLBACK TO b; ROLLBACK; COMMIT AND CHAIN; END");
  ASSERT_EQ(t.changes.size(), 7u);
  EXPECT_EQ(t.changes[0].kind, setting_change::savepoint);
  EXPECT_EQ(t.changes[0].name, "a");
  EXPECT_EQ(t.changes[2].kind, setting_change::release);
  EXPECT_EQ(t.changes[3].kind, setting_change::rollback_to);
  EXPECT_EQ(t.changes[3].name, "b");
  EXPECT_EQ(t.changes[4].kind, setting_change::rollback);
  EXPECT_EQ(t.changes[5].kind, setting_change::commit);
  EXPECT_EQ(t.changes[6].kind, setting_change::commit);
  EXPECT_TRUE(classify_session_sql("BEGIN; COMMIT", &is_tracked_parameter, false).changes.empty());
  EXPECT_TRUE(none("COMMIT PREPARED 'x'"));
}

TEST(SessionSql, MayChangeSettingsIsACheapFirstLook) {
  EXPECT_TRUE(may_change_settings("SET ROLE x"));
  EXPECT_TRUE(may_change_settings("  /* c */ -- d\n reset all"));
  EXPECT_TRUE(may_change_settings("DISCARD ALL"));
  EXPECT_TRUE(may_change_settings("SELECT set_config($1, $2, false)"));
  EXPECT_FALSE(may_change_settings("SELECT 1"));
  EXPECT_FALSE(may_change_settings("UPDATE t SET v = 1"));
  EXPECT_FALSE(may_change_settings("settle"));
  EXPECT_FALSE(may_change_settings("-* SET"));  // not a comment: stops at the first character
  EXPECT_FALSE(may_change_settings(""));
}

TEST(SessionSql, ResetAndDiscard) {
  auto s = only("RESET search_path;");
  EXPECT_EQ(s.kind, setting_change::reset);
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(only("reset all").kind, setting_change::reset_all);
  EXPECT_EQ(only("DISCARD ALL").kind, setting_change::discard_all);
  EXPECT_TRUE(none("DISCARD PLANS"));
}

TEST(SessionSql, WhatIsNotFollowed) {
  EXPECT_TRUE(none("SET LOCAL search_path TO x"));  // ends with the transaction
  EXPECT_TRUE(none("SET TRANSACTION READ ONLY"));
  EXPECT_TRUE(none("SET CONSTRAINTS ALL DEFERRED"));
  EXPECT_TRUE(none("SET application_name = 'x'"));  // ParameterStatus follows it
  EXPECT_TRUE(none("SET TimeZone TO 'UTC'"));
  EXPECT_TRUE(none("SELECT 1"));
  // What cannot be replayed safely is known to change the session: the server is not reused.
  EXPECT_EQ(only("SET search_path TO x /* c */ , y").kind, setting_change::unknown);
  EXPECT_EQ(only("SET search_path TO $$x$$").kind, setting_change::unknown);
  EXPECT_EQ(only("SET search_path").kind, setting_change::unknown);
  EXPECT_EQ(only("SET search_path TO x -- comment").kind, setting_change::set);  // the comment is not kept
  EXPECT_EQ(only("SET search_path TO x -- comment").text, "SET search_path TO x");
  // A quoted ';' or '--' is a value, not a second statement.
  EXPECT_EQ(only("SET myapp.note = 'a; b -- c'").kind, setting_change::set);
  EXPECT_EQ(only("SET myapp.note = E'it\\'s'").kind, setting_change::set);
}

void apply(session_settings &to, std::string_view sql) {
  for (const auto &c : classify(sql).changes) to.apply(c);
}

TEST(SessionSettings, ApplyAndReplay) {
  session_settings client;
  apply(client, "SET search_path TO app");
  apply(client, "SET myapp.tenant = '7'");
  apply(client, "SET search_path TO other");  // replaces, keeps its place
  ASSERT_EQ(client.size(), 2u);
  EXPECT_EQ(*client.find("search_path"), "SET search_path TO other");

  session_settings fresh;
  EXPECT_EQ(client.replay_from(fresh), "SET search_path TO other; SET myapp.tenant = '7'");
  EXPECT_EQ(client.replay_from(client), "");

  // A server that carries another client's settings: reset what the client lacks, set what differs.
  session_settings server;
  apply(server, "SET search_path TO app");
  apply(server, "SET work_mem = '64MB'");
  EXPECT_EQ(client.replay_from(server), "RESET \"work_mem\"; SET search_path TO other; SET myapp.tenant = '7'");
  EXPECT_EQ(fresh.replay_from(server), "RESET \"search_path\"; RESET \"work_mem\"");

  apply(client, "RESET myapp.tenant");
  EXPECT_EQ(client.find("myapp.tenant"), nullptr);
  apply(client, "RESET ALL");
  EXPECT_TRUE(client.empty());
}

TEST(SessionSettings, RoleAndAuthorization) {
  session_settings client;
  apply(client, "SET work_mem = '1MB'");
  apply(client, "SET ROLE reader");
  apply(client, "RESET ALL");  // keeps role and session_authorization, as PostgreSQL does
  ASSERT_EQ(client.size(), 1u);
  EXPECT_EQ(*client.find("role"), "SET ROLE reader");
  apply(client, "SET SESSION AUTHORIZATION bob");  // resets the role
  EXPECT_EQ(client.find("role"), nullptr);
  apply(client, "SET ROLE reader");
  // The authorization's RESET goes first: it resets the role too, and the rest runs as the login user.
  session_settings server = client;
  apply(server, "SET search_path TO x");
  EXPECT_EQ(session_settings{}.resets_from(server),
            "RESET SESSION AUTHORIZATION; RESET ROLE; RESET \"search_path\"");
  apply(client, "DISCARD ALL");
  EXPECT_TRUE(client.empty());
}

TEST(SessionSettings, ResetOfDottedNameQuotesEachPart) {
  session_settings server;
  apply(server, "SET MyApp.Tenant = 1");
  EXPECT_EQ(session_settings{}.replay_from(server), "RESET \"myapp\".\"tenant\"");
}

}  // namespace
}  // namespace pgfunnel::session
