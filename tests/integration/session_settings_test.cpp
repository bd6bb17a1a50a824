// Integration: SETs in transaction blocks, every SET form, RESET to startup values and refused replays, each compared with PostgreSQL itself.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "server_rounds.hpp"

namespace pgfunnel::test {
namespace {

using ::testing::HasSubstr;

constexpr int kPoolSize = 2;

// What a session's settings look like, in one row: compared between a direct session and a pooled one.
// A custom setting reads '' in PostgreSQL once a SET of it rolled back (its placeholder stays): that
// counts as unset here.
constexpr const char* kState =
    "SELECT concat_ws(' | ', current_user, session_user, current_setting('work_mem'), "
    "current_setting('statement_timeout'), current_setting('search_path'), "
    "current_setting('default_transaction_read_only'), current_setting('default_transaction_isolation'), "
    "current_setting('default_transaction_deferrable'), current_setting('client_encoding'), "
    "current_setting('TimeZone'), current_setting('DateStyle'), current_setting('IntervalStyle'), "
    "current_setting('default_text_search_config'), coalesce(nullif(current_setting('sst.a', true), ''), '-'), "
    "coalesce(nullif(current_setting('sst.b', true), ''), '-'), coalesce(nullif(current_setting('sst.c', true), ''), '-'), "
    "coalesce(nullif(current_setting('sst.d', true), ''), '-'))";

class SessionSettings : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    pg_server& pg = shared_pg();
    pg.exec(
        "SET client_min_messages = warning; DROP ROLE IF EXISTS sst_reader; CREATE ROLE sst_reader; "
        "DROP ROLE IF EXISTS sst_other; CREATE ROLE sst_other; DROP SCHEMA IF EXISTS sst_s CASCADE; "
        "CREATE SCHEMA sst_s; GRANT USAGE ON SCHEMA sst_s TO PUBLIC");
    funnel_ = std::make_unique<pgfunnel_process>(
        std::vector<std::string>{"--upstream", pg.url(), "--pool-size", std::to_string(kPoolSize), "--log-level",
                                 "debug", "--query-wait-timeout", "10s"});
  }
  static void TearDownTestSuite() { funnel_.reset(); }

  static pq_conn pooled(const std::string& extra = "") { return pq_conn(funnel_->pooled_conninfo() + extra); }
  static pq_conn direct(const std::string& extra = "") { return pq_conn(shared_pg().conninfo() + extra); }
  static std::string log_text() { return funnel_->log(); }

  static inline std::unique_ptr<pgfunnel_process> funnel_;
};

// The same statements on a direct session and a pooled one; each must succeed or fail alike.
void run_both(pq_conn& d, pq_conn& p, const std::vector<std::string>& script) {
  for (const auto& sql : script) {
    const query_result rd = d.exec(sql), rp = p.exec(sql);
    EXPECT_EQ(rd.ok, rp.ok) << sql << "\n direct: " << rd.describe() << "\n pooled: " << rp.describe();
  }
}

TEST_F(SessionSettings, SetsInsideTransactionBlocksCommitOrRollBackWithThem) {
  pq_conn d = direct(), p = pooled(), fresh_direct = direct(), bystander = pooled();
  ASSERT_TRUE(d.ok() && p.ok() && fresh_direct.ok() && bystander.ok());
  run_both(d, p,
           {"BEGIN; SET work_mem = '7MB'; COMMIT",
            "BEGIN", "SET statement_timeout = '5s'", "COMMIT",
            "SET search_path = sst_s, public; SELECT 1",
            "BEGIN; SET sst.a = 'rolled back'; ROLLBACK",
            "BEGIN", "SET sst.a = 'kept'", "SAVEPOINT p", "SET sst.b = 'dropped'", "ROLLBACK TO SAVEPOINT p",
            "SAVEPOINT q", "SET sst.c = 'released'", "RELEASE q", "COMMIT",
            "BEGIN; SET sst.d = 'failed block'", "SELECT 1/0", "COMMIT",
            "SET sst.d = 'implicit'; SELECT 1/0"});
  const std::string want = d.value(kState);
  EXPECT_THAT(want, HasSubstr("7MB | 5s | sst_s, public"));
  const std::string clean = fresh_direct.value(kState);
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) {
    EXPECT_EQ(p.value(kState), want) << log_text();
    EXPECT_EQ(bystander.value(kState), clean) << "another client's SETs leaked to this one";
  });
}

TEST_F(SessionSettings, EverySetFormFollowsItsClientAndNoOther) {
  pq_conn d = direct(), p = pooled(), fresh_direct = direct(), bystander = pooled();
  ASSERT_TRUE(d.ok() && p.ok() && fresh_direct.ok() && bystander.ok());
  const std::string clean = fresh_direct.value(kState);
  run_both(d, p,
           {"SET ROLE sst_reader", "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
            "SET SCHEMA 'sst_s'", "SET NAMES 'LATIN1'", "SET TIME ZONE 'Pacific/Auckland'",
            "SELECT 1, set_config('work_mem', '6MB', false) AS w",
            "SELECT 1; SELECT set_config('sst.a', 'two', false), set_config('sst.b', 'local', true)",
            "SET XML OPTION DOCUMENT"});
  const std::string want = d.value(kState);
  EXPECT_THAT(want, HasSubstr("sst_reader | postgres | 6MB"));
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) {
    EXPECT_EQ(p.value(kState), want) << log_text();
    EXPECT_EQ(bystander.value(kState), clean) << "another client's session state leaked to this one";
  });

  // SESSION AUTHORIZATION resets the role; RESET ROLE and RESET SESSION AUTHORIZATION undo them.
  run_both(d, p, {"SET SESSION AUTHORIZATION sst_other"});
  const std::string as_other = d.value(kState);
  EXPECT_THAT(as_other, HasSubstr("sst_other | sst_other"));
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) {
    EXPECT_EQ(p.value(kState), as_other);
    EXPECT_EQ(bystander.value(kState), clean);
  });
  run_both(d, p, {"RESET SESSION AUTHORIZATION", "SET ROLE sst_reader", "RESET ROLE",
                  "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"});
  const std::string back = d.value(kState);
  EXPECT_THAT(back, HasSubstr("postgres | postgres"));
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { EXPECT_EQ(p.value(kState), back); });
}

// RESET, SET … TO DEFAULT, RESET ALL and DISCARD ALL go back to the client's startup values
// (PGDATESTYLE, PGTZ, PGOPTIONS=-c …), on the server that ran them and on every other.
TEST_F(SessionSettings, ResetGoesBackToTheClientsStartupValues) {
  ::setenv("PGDATESTYLE", "Postgres, MDY", 1);
  ::setenv("PGTZ", "America/Chicago", 1);
  const std::string options = " options='-c work_mem=3MB -c intervalstyle=sql_standard -c sst.a=startup'";
  pq_conn d = direct(options), p = pooled(options);
  ::unsetenv("PGDATESTYLE");
  ::unsetenv("PGTZ");
  ASSERT_TRUE(d.ok() && p.ok()) << p.error().text;
  const std::string startup = d.value(kState);
  EXPECT_THAT(startup, HasSubstr("America/Chicago | Postgres, MDY | sql_standard"));
  ASSERT_EQ(p.value(kState), startup);
  run_both(d, p,
           {"SET datestyle = 'ISO, DMY'", "RESET datestyle", "SET TIME ZONE 'UTC'", "SET TIME ZONE LOCAL",
            "SET work_mem = '9MB'", "RESET work_mem", "SET intervalstyle = 'iso_8601'", "SET intervalstyle TO DEFAULT",
            "SET sst.a = 'changed'", "RESET sst.a"});
  EXPECT_EQ(d.value(kState), startup);
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { EXPECT_EQ(p.value(kState), startup) << log_text(); });

  for (const char* reset_all : {"RESET ALL", "DISCARD ALL"}) {
    run_both(d, p, {"SET datestyle = 'ISO, DMY'", "SET TIME ZONE 'UTC'", "SET work_mem = '9MB'", "SET sst.a = 'x'",
                    reset_all});
    EXPECT_EQ(d.value(kState), startup) << reset_all;
    on_both_servers(funnel_->pooled_conninfo(), 4,
                    [&](int) { EXPECT_EQ(p.value(kState), startup) << reset_all << "\n" << log_text(); });
  }
}

// Every result of one simple Query, as the client sees it: each statement's command tag and rows,
// or its error.
std::string every_result(pq_conn& c, const std::string& sql) {
  if (PQsendQuery(c.get(), sql.c_str()) != 1) return "send failed: " + c.error_message();
  std::string out;
  while (PGresult* res = PQgetResult(c.get())) {
    const ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR) {
      const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      out += std::string("ERROR ") + (code ? code : "?") + "\n";
    } else {
      out += std::string(PQcmdStatus(res));
      for (int r = 0; r < PQntuples(res); ++r)
        for (int f = 0; f < PQnfields(res); ++f)
          out += std::string(f == 0 ? " [" : " | ") + PQgetvalue(res, r, f) + "]";
      out += "\n";
    }
    PQclear(res);
  }
  return out;
}

// A RESET (SET … TO DEFAULT, RESET ALL) and the statements after it in the same request or
// transaction see the client's startup values, as in PostgreSQL; the command tags are the client's
// own, and a ROLLBACK takes the RESET back.
TEST_F(SessionSettings, ResetInTheSameRequestOrTransactionSeesTheStartupValue) {
  ::setenv("PGDATESTYLE", "Postgres, MDY", 1);
  ::setenv("PGTZ", "America/Chicago", 1);
  const std::string options =
      " options='-c search_path=sst_s,public -c intervalstyle=sql_standard -c work_mem=3MB -c sst.a=startup'";
  pq_conn d = direct(options), p = pooled(options);
  ::unsetenv("PGDATESTYLE");
  ::unsetenv("PGTZ");
  ASSERT_TRUE(d.ok() && p.ok()) << p.error().text;
  const std::string state = kState;
  const std::vector<std::vector<std::string>> scripts = {
      {"SET datestyle = 'ISO, DMY'; RESET datestyle; SHOW datestyle"},
      {"RESET datestyle; SHOW datestyle"},
      {"BEGIN; RESET datestyle; SHOW datestyle; COMMIT"},
      {"SET TIME ZONE 'UTC'; SET TIME ZONE LOCAL; SHOW TimeZone"},
      {"SET search_path = public; RESET search_path; SHOW search_path; SELECT current_schemas(false)"},
      {"SET intervalstyle = 'iso_8601'; SET intervalstyle TO DEFAULT; SELECT interval '1 day 2 hours'"},
      {"BEGIN; SET work_mem = '9MB'; RESET work_mem; SHOW work_mem; COMMIT"},
      {"SET sst.a = 'changed'; RESET sst.a; SHOW sst.a"},
      // One statement per Query inside a transaction: they share the lease.
      {"BEGIN", "SET datestyle = 'SQL, DMY'", "RESET datestyle", "SHOW datestyle", "SET LOCAL TimeZone = 'UTC'",
       "SET LOCAL TimeZone TO DEFAULT", "SHOW TimeZone", "COMMIT"},
      // ROLLBACK takes the RESET back.
      {"SET datestyle = 'SQL, DMY'; SET search_path = public"},
      {"BEGIN; RESET datestyle; RESET search_path; SHOW datestyle; ROLLBACK; SHOW datestyle; SHOW search_path"},
      {"BEGIN", "SAVEPOINT s", "RESET datestyle", "SHOW datestyle", "ROLLBACK TO SAVEPOINT s", "SHOW datestyle",
       "COMMIT"},
      {"SET datestyle = 'ISO, DMY'; SET TIME ZONE 'UTC'; SET work_mem = '9MB'; RESET ALL; " + state},
      {"SET datestyle = 'ISO, DMY'; SET TIME ZONE 'UTC'; BEGIN; RESET ALL; " + state + "; ROLLBACK; " + state},
      {"BEGIN; RESET ALL; RESET datestyle; SELECT 1/0", "COMMIT", state},
  };
  for (const auto& script : scripts) {
    for (const auto& sql : script) {
      const std::string want = every_result(d, sql);
      EXPECT_EQ(every_result(p, sql), want) << sql << "\n" << log_text();
    }
    EXPECT_EQ(p.value(kState), d.value(kState)) << script.front();
    // What ParameterStatus told each client.
    for (const char* name : {"DateStyle", "TimeZone", "IntervalStyle"})
      EXPECT_STREQ(PQparameterStatus(p.get(), name), PQparameterStatus(d.get(), name))
          << name << ": " << script.front();
  }
  const std::string want = d.value(kState);
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { EXPECT_EQ(p.value(kState), want) << log_text(); });
}

// A SET that no longer works on another server (its text search configuration was dropped) is
// reported to the client, which keeps its session; the server stays in use, clean.
TEST_F(SessionSettings, ASetTheNextServerRefusesIsReportedNotFatal) {
  shared_pg().exec(
      "DROP TEXT SEARCH CONFIGURATION IF EXISTS public.sst_cfg; CREATE TEXT SEARCH CONFIGURATION public.sst_cfg "
      "(COPY = english)");
  pq_conn a = pooled(), bystander = pooled();
  ASSERT_TRUE(a.ok() && bystander.ok());
  std::string notices;
  PQsetNoticeProcessor(
      a.get(), [](void* arg, const char* message) { *static_cast<std::string*>(arg) += message; }, &notices);
  const std::string default_config = bystander.value("SHOW default_text_search_config");
  ASSERT_TRUE(a.exec("SET default_text_search_config = 'public.sst_cfg'").ok);
  const std::string a_pid = a.value("SELECT pg_backend_pid()");
  shared_pg().exec("DROP TEXT SEARCH CONFIGURATION public.sst_cfg");
  bool moved = false;
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) {
    const query_result r = a.exec("SELECT pg_backend_pid()");
    ASSERT_TRUE(r.ok) << r.describe() << "\n" << log_text();
    if (r.value() != a_pid) moved = true;
    EXPECT_EQ(bystander.value("SHOW default_text_search_config"), default_config);
  });
  EXPECT_TRUE(moved);
  EXPECT_THAT(notices, HasSubstr("default_text_search_config")) << log_text();
  EXPECT_THAT(notices, HasSubstr("WARNING"));
  EXPECT_EQ(a.value("SELECT 42"), "42");
}

// Through the extended protocol (pgjdbc sends every statement so) a SET is not followed, but it must
// not reach another client either: the server it ran on is not reused.
TEST_F(SessionSettings, ExtendedProtocolSetsDoNotLeak) {
  pq_conn a = pooled(), bystander = pooled(), fresh_direct = direct();
  ASSERT_TRUE(a.ok() && bystander.ok() && fresh_direct.ok());
  const std::string clean = fresh_direct.value(kState);
  for (const char* sql : {"SET ROLE sst_reader", "SET work_mem = '5MB'", "SELECT set_config('sst.a', 'x', false)"}) {
    ASSERT_TRUE(a.exec_params(sql, {}).ok) << sql;
    on_both_servers(funnel_->pooled_conninfo(), 2,
                    [&](int) { EXPECT_EQ(bystander.value(kState), clean) << sql << "\n" << log_text(); });
  }
  // SET LOCAL, the common extended-protocol SET, ends with its transaction: the server stays in use,
  // once the unnamed statement that SET for the session is replaced.
  ASSERT_TRUE(a.exec_params("SELECT 1", {}).ok);
  pq_conn local = pooled();
  for (pq_conn* c : {&local, &a}) {
    ASSERT_TRUE(c->ok());
    ASSERT_TRUE(c->exec("BEGIN").ok);
    ASSERT_TRUE(c->exec_params("SET LOCAL work_mem = '5MB'", {}).ok);
    const std::string pid = c->value("SELECT pg_backend_pid()");
    ASSERT_TRUE(c->exec("COMMIT").ok);
    EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid), "1");
  }
}

}  // namespace
}  // namespace pgfunnel::test
