// Unit tests for the SET/RESET recogniser and the replay of a client's settings.
#include "pgfunnel/session/session_settings.hpp"

#include <gtest/gtest.h>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::session {
namespace {

session_sql classify(std::string_view sql) { return classify_session_sql(sql, &is_tracked_parameter); }

TEST(SessionSql, SetForms) {
  auto s = classify("SET search_path TO app, public");
  EXPECT_EQ(s.kind, session_sql::set);
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(s.statement, "SET search_path TO app, public");

  s = classify("  set SESSION Search_Path = 'a', \"B\" ;  ");
  EXPECT_EQ(s.kind, session_sql::set);
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(s.statement, "set SESSION Search_Path = 'a', \"B\"");

  s = classify("SET myapp.tenant_id = '42'");
  EXPECT_EQ(s.kind, session_sql::set);
  EXPECT_EQ(s.name, "myapp.tenant_id");

  s = classify("SET statement_timeout TO DEFAULT");
  EXPECT_EQ(s.kind, session_sql::reset);
  EXPECT_EQ(s.name, "statement_timeout");
}

TEST(SessionSql, ResetAndDiscard) {
  auto s = classify("RESET search_path;");
  EXPECT_EQ(s.kind, session_sql::reset);
  EXPECT_EQ(s.name, "search_path");
  EXPECT_EQ(classify("reset all").kind, session_sql::reset_all);
  EXPECT_EQ(classify("DISCARD ALL").kind, session_sql::reset_all);
  EXPECT_EQ(classify("DISCARD PLANS").kind, session_sql::other);
}

TEST(SessionSql, WhatIsNotFollowed) {
  EXPECT_EQ(classify("SET LOCAL search_path TO x").kind, session_sql::other);        // ends with the transaction
  EXPECT_EQ(classify("SET SESSION AUTHORIZATION bob").kind, session_sql::other);
  EXPECT_EQ(classify("SET application_name = 'x'").kind, session_sql::other);         // ParameterStatus follows it
  EXPECT_EQ(classify("SET TimeZone TO 'UTC'").kind, session_sql::other);
  EXPECT_EQ(classify("SET search_path TO x; SELECT 1").kind, session_sql::other);    // two statements
  EXPECT_EQ(classify("SET search_path TO x -- comment").kind, session_sql::other);   // would swallow a batch
  EXPECT_EQ(classify("SET search_path TO x /* c */").kind, session_sql::other);
  EXPECT_EQ(classify("SET search_path TO $$x$$").kind, session_sql::other);
  EXPECT_EQ(classify("SET search_path TO 'open").kind, session_sql::other);
  EXPECT_EQ(classify("SET search_path").kind, session_sql::other);
  EXPECT_EQ(classify("SELECT 1").kind, session_sql::other);
  // A quoted ';' or '--' is a value, not a second statement.
  EXPECT_EQ(classify("SET myapp.note = 'a; b -- c'").kind, session_sql::set);
  EXPECT_EQ(classify("SET myapp.note = E'it\\'s'").kind, session_sql::set);
}

TEST(SessionSettings, ApplyAndReplay) {
  session_settings client;
  client.apply(classify("SET search_path TO app"));
  client.apply(classify("SET myapp.tenant = '7'"));
  client.apply(classify("SET search_path TO other"));  // replaces, keeps its place
  ASSERT_EQ(client.size(), 2u);
  EXPECT_EQ(*client.find("search_path"), "SET search_path TO other");

  session_settings fresh;
  EXPECT_EQ(client.replay_from(fresh), "SET search_path TO other; SET myapp.tenant = '7'");
  EXPECT_EQ(client.replay_from(client), "");

  // A server that carries another client's settings: reset what the client lacks, set what differs.
  session_settings server;
  server.apply(classify("SET search_path TO app"));
  server.apply(classify("SET work_mem = '64MB'"));
  EXPECT_EQ(client.replay_from(server), "RESET \"work_mem\"; SET search_path TO other; SET myapp.tenant = '7'");
  EXPECT_EQ(fresh.replay_from(server), "RESET \"search_path\"; RESET \"work_mem\"");

  client.apply(classify("RESET myapp.tenant"));
  EXPECT_EQ(client.find("myapp.tenant"), nullptr);
  client.apply(classify("RESET ALL"));
  EXPECT_TRUE(client.empty());
}

TEST(SessionSettings, ResetOfDottedNameQuotesEachPart) {
  session_settings server;
  server.apply(classify("SET MyApp.Tenant = 1"));
  EXPECT_EQ(session_settings{}.replay_from(server), "RESET \"myapp\".\"tenant\"");
}

}  // namespace
}  // namespace pgfunnel::session
