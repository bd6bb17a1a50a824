// Tests of the PostgreSQL fixture itself: start, query, restart on the same port, two servers at once.
#include "pg_server.hpp"

#include <string>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/resource.h>

namespace pgfunnel::test {
namespace {

TEST(PgServerFixture, SharedServerAnswersQueries) {
  pg_server& pg = shared_pg();
  EXPECT_EQ(pg.host(), "127.0.0.1");
  EXPECT_NE(pg.port(), 0);
  EXPECT_EQ(pg.query_value("SELECT 1"), "1");
  EXPECT_EQ(pg.query_value("SHOW max_connections"), "100");
  EXPECT_EQ(pg.query_value("SHOW password_encryption"), "scram-sha-256");
  EXPECT_EQ(pg.query_value("SHOW fsync"), "off");
  EXPECT_EQ(pg.query_value("SELECT NULL"), "");
  EXPECT_EQ(&pg, &shared_pg());
}

TEST(PgServerFixture, ExecRunsSqlAndReportsErrors) {
  pg_server& pg = shared_pg();
  pg.exec("CREATE TABLE IF NOT EXISTS fixture_t (v int); TRUNCATE fixture_t; INSERT INTO fixture_t VALUES (7)");
  EXPECT_EQ(pg.query_value("SELECT v FROM fixture_t"), "7");
  EXPECT_THROW(pg.exec("SELECT * FROM no_such_table"), std::runtime_error);
  EXPECT_THROW(pg.query_value("SELECT 1 WHERE false"), std::runtime_error);
}

TEST(PgServerFixture, PasswordIsCheckedWithScramOverTcp) {
  pg_server& pg = shared_pg();
  pg.exec("DROP ROLE IF EXISTS fixture_user; CREATE ROLE fixture_user LOGIN PASSWORD 'p w''\\x'");
  EXPECT_EQ(pg.query_value("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'fixture_user'"),
            "SCRAM-SHA-256$");

  // Quoting in conninfo() and percent-encoding in url() survive a password with a space, ' and \.
  for (const std::string& target : {pg.conninfo("fixture_user", "p w'\\x"), pg.url("fixture_user", "p w'\\x")}) {
    PGconn* conn = PQconnectdb(target.c_str());
    EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << target << ": " << PQerrorMessage(conn);
    PQfinish(conn);
  }
  PGconn* bad = PQconnectdb(pg.conninfo("postgres", "wrong").c_str());
  EXPECT_EQ(PQstatus(bad), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(bad)).find("password authentication failed"), std::string::npos)
      << PQerrorMessage(bad);
  PQfinish(bad);
}

TEST(PgServerFixture, RestartKeepsThePort) {
  pg_server& pg = shared_pg();
  const auto port = pg.port();
  const std::string start_before = pg.query_value("SELECT pg_postmaster_start_time()");
  pg.restart();
  EXPECT_TRUE(pg.running());
  EXPECT_EQ(pg.port(), port);
  EXPECT_NE(pg.query_value("SELECT pg_postmaster_start_time()"), start_before);

  pg.stop();
  EXPECT_FALSE(pg.running());
  PGconn* conn = PQconnectdb(pg.conninfo().c_str());
  EXPECT_EQ(PQstatus(conn), CONNECTION_BAD);
  PQfinish(conn);
  pg.stop();  // idempotent
  pg.start();
  EXPECT_EQ(pg.port(), port);
  EXPECT_EQ(pg.query_value("SELECT 1"), "1");
}

TEST(PgServerFixture, SecondServerRunsSideBySide) {
  pg_server& shared = shared_pg();
  pg_server small({.max_connections = 20, .extra_conf = {"work_mem = '7MB'"}});
  EXPECT_NE(small.port(), shared.port());
  EXPECT_NE(small.data_dir(), shared.data_dir());
  EXPECT_EQ(small.query_value("SHOW max_connections"), "20");
  EXPECT_EQ(shared.query_value("SHOW max_connections"), "100");
  EXPECT_EQ(small.query_value("SHOW work_mem"), "7MB");
  EXPECT_EQ(small.query_value("SELECT inet_server_addr()::text"), "127.0.0.1/32");
}

TEST(PgServerFixture, DestructorStopsAndRemovesTheServer) {
  std::string dir;
  {
    pg_server pg;
    dir = pg.data_dir();
    EXPECT_EQ(pg.query_value("SELECT 1"), "1");
  }
  EXPECT_EQ(access(dir.c_str(), F_OK), -1);
}

TEST(PgServerFixture, NofileSoftLimitIsRaisedToTheHardLimit) {
  shared_pg();
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  EXPECT_EQ(lim.rlim_cur, lim.rlim_max);
}

}  // namespace
}  // namespace pgfunnel::test
