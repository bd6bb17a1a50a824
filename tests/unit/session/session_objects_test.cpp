// Unit tests for the session-object scan, the catalog check's text and answer, and the reset statements.
#include "pgfunnel/session/session_objects.hpp"

#include <gtest/gtest.h>

namespace pgfunnel::session {
namespace {

session_objects creates(std::string_view sql) { return scan_session_objects(sql).creates; }
bool releases(std::string_view sql) { return scan_session_objects(sql).releases; }

TEST(SessionObjects, WhatCreatesObjects) {
  EXPECT_EQ(creates("CREATE TEMP TABLE t (a int)"), object_temp_table);
  EXPECT_EQ(creates("create temporary table t (a int) on commit preserve rows"), object_temp_table);
  EXPECT_EQ(creates("CREATE GLOBAL TEMPORARY TABLE t (a int)"), object_temp_table);
  EXPECT_EQ(creates("SELECT 1 INTO TEMP t"), object_temp_table);
  EXPECT_EQ(creates("DECLARE c CURSOR WITH HOLD FOR SELECT 1"), object_hold_cursor);
  EXPECT_EQ(creates("declare c cursor\n\twith\n\thold for select 1"), object_hold_cursor);
  EXPECT_EQ(creates("PREPARE p AS SELECT 1"), object_sql_prepare);
  EXPECT_EQ(creates("  listen \"Chan\""), object_listen);
  EXPECT_EQ(creates("SELECT pg_advisory_lock(1)"), object_advisory_lock);
  EXPECT_EQ(creates("SELECT PG_TRY_ADVISORY_LOCK_SHARED(1)"), object_advisory_lock);
  EXPECT_EQ(creates("LISTEN a; CREATE TEMP TABLE t (a int)"), object_listen | object_temp_table);
  EXPECT_EQ(creates("CREATE LOCAL TEMP TABLE t (a int)"), object_temp_table);
  EXPECT_EQ(creates("create or replace temp view v as select 1"), object_temp_table);
  EXPECT_EQ(creates("CREATE TEMP SEQUENCE s"), object_temp_table);
}

TEST(SessionObjects, WhatDoesNot) {
  EXPECT_EQ(creates("SELECT abalance FROM pgbench_accounts WHERE aid = $1"), 0);
  EXPECT_EQ(creates("SELECT template, tempo, holder, prepared, listener FROM x"), 0);  // whole words only
  EXPECT_EQ(creates("SELECT pg_advisory_xact_lock(1)"), 0);  // ends with the transaction
  EXPECT_EQ(creates("SELECT pg_try_advisory_xact_lock(1)"), 0);
  EXPECT_EQ(creates("DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1"), 0);
  EXPECT_EQ(creates("SELECT temp, hold FROM readings WHERE temp > 3"), 0);  // columns of those names
  EXPECT_EQ(creates("UPDATE t SET temp = 1"), 0);
  EXPECT_EQ(creates("UNLISTEN *"), 0);
  EXPECT_EQ(creates(""), 0);
  EXPECT_FALSE(releases("SELECT 1"));
  EXPECT_FALSE(releases("SELECT dropped, closed FROM x"));
}

TEST(SessionObjects, WhatMayRelease) {
  for (const char* sql : {"DROP TABLE t", "DISCARD TEMP", "discard all", "CLOSE c", "CLOSE ALL", "DEALLOCATE p",
                          "DEALLOCATE ALL", "UNLISTEN *", "unlisten chan", "SELECT pg_advisory_unlock(1)",
                          "SELECT pg_advisory_unlock_all()", "SELECT pg_advisory_unlock_shared(1)"})
    EXPECT_TRUE(releases(sql)) << sql;
}

TEST(SessionObjects, CheckQueryAsksOnlyForTheKindsWanted) {
  EXPECT_EQ(session_objects_query(0), "SELECT 0");
  const std::string advisory = session_objects_query(object_advisory_lock);
  EXPECT_NE(advisory.find("pg_locks"), std::string::npos);
  EXPECT_EQ(advisory.find("pg_cursors"), std::string::npos);
  const std::string all = session_objects_query(all_session_objects);
  for (const char* part : {"pg_locks", "pg_my_temp_schema()", "is_holdable", "from_sql", "pg_listening_channels()"})
    EXPECT_NE(all.find(part), std::string::npos) << part;
}

TEST(SessionObjects, CheckAnswer) {
  EXPECT_EQ(parse_session_objects("0"), 0);
  EXPECT_EQ(parse_session_objects("18"), object_temp_table | object_listen);
  EXPECT_EQ(parse_session_objects("31"), all_session_objects);
  EXPECT_EQ(parse_session_objects(""), 0);
  EXPECT_EQ(parse_session_objects("x"), 0);
  EXPECT_EQ(parse_session_objects("2x"), 0);
}

TEST(SessionObjects, ResetRemovesExactlyWhatIsHeld) {
  EXPECT_EQ(session_objects_reset(0), "");
  EXPECT_EQ(session_objects_reset(object_temp_table), "DISCARD TEMP");
  EXPECT_EQ(session_objects_reset(object_hold_cursor | object_listen), "CLOSE ALL; UNLISTEN *");
  EXPECT_EQ(session_objects_reset(all_session_objects),
            "DISCARD TEMP; CLOSE ALL; UNLISTEN *; DEALLOCATE ALL; SELECT pg_catalog.pg_advisory_unlock_all()");
  EXPECT_EQ(describe_session_objects(object_temp_table | object_listen), "a temporary table, LISTEN");
}

}  // namespace
}  // namespace pgfunnel::session
