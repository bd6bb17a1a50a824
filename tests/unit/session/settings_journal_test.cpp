// Unit tests for the settings journal: SETs take effect at COMMIT, vanish at ROLLBACK, follow savepoints.
#include "pgfunnel/session/settings_journal.hpp"

#include <gtest/gtest.h>

#include "pgfunnel/session/parameters.hpp"

namespace pgfunnel::session {
namespace {

using protocol::transaction_status;

// One simple Query through the journal: each statement completes until `fail_at` (which errors),
// then ReadyForQuery with `status`. Returns the names committed by it.
struct journal_driver {
  settings_journal j;
  std::vector<std::string> committed;

  void run(std::string_view sql, transaction_status status, int fail_at = -1) {
    const auto s = classify_session_sql(sql, &is_tracked_parameter, j.wants_transaction_control());
    const auto n = s.statements;
    j.on_query(s, 0);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (static_cast<int>(i) == fail_at) {
        j.on_error();
        break;
      }
      j.on_statement_done("X");
    }
    j.on_ready_for_query(status);
    for (auto &c : j.committed()) committed.push_back(c.kind == setting_change::set ? c.name : "reset " + c.name);
    j.committed().clear();
  }
};

constexpr auto idle = transaction_status::idle;
constexpr auto in_tx = transaction_status::in_transaction;
constexpr auto failed = transaction_status::failed;

TEST(SettingsJournal, OutsideATransactionASetCommitsWithItsRequest) {
  journal_driver d;
  d.run("SET work_mem = '7MB'", idle);
  EXPECT_EQ(d.committed, std::vector<std::string>{"work_mem"});
  d.run("SET work_mem = 'nonsense'", idle, 0);  // refused: nothing
  EXPECT_EQ(d.committed.size(), 1u);
  EXPECT_FALSE(d.j.pending());
  EXPECT_FALSE(d.j.uncertain());
}

TEST(SettingsJournal, CommitAndRollbackOfABlock) {
  journal_driver d;
  d.run("BEGIN", in_tx);
  d.run("SET work_mem = '7MB'", in_tx);
  EXPECT_TRUE(d.committed.empty());
  d.run("COMMIT", idle);
  EXPECT_EQ(d.committed, std::vector<std::string>{"work_mem"});

  journal_driver r;
  r.run("BEGIN; SET work_mem = '7MB'", in_tx);
  r.run("ROLLBACK", idle);
  EXPECT_TRUE(r.committed.empty());
  EXPECT_FALSE(r.j.pending());

  // One Query: BEGIN … COMMIT, and the implicit transaction of a multi-statement query.
  journal_driver m;
  m.run("BEGIN; SET work_mem = '7MB'; COMMIT", idle);
  m.run("SET myapp.a = '1'; SELECT 1", idle);
  EXPECT_EQ(m.committed, (std::vector<std::string>{"work_mem", "myapp.a"}));
  m.run("SET myapp.b = '1'; SELECT 1/0", idle, 1);  // the implicit transaction rolls back
  m.run("SET myapp.c = '1'; COMMIT; SET myapp.d = '1'; SELECT 1/0", idle, 3);
  EXPECT_EQ(m.committed, (std::vector<std::string>{"work_mem", "myapp.a", "myapp.c"}));
}

TEST(SettingsJournal, AFailedBlockRollsBack) {
  journal_driver d;
  d.run("BEGIN; SET work_mem = '7MB'", in_tx);
  d.run("SELECT 1/0", failed, 0);
  d.run("COMMIT", idle);  // answered ROLLBACK
  EXPECT_TRUE(d.committed.empty());
}

TEST(SettingsJournal, Savepoints) {
  journal_driver d;
  d.run("BEGIN; SET myapp.a = '1'; SAVEPOINT s1; SET myapp.b = '1'", in_tx);
  d.run("ROLLBACK TO SAVEPOINT s1", in_tx);  // drops b, keeps a and the savepoint
  d.run("SET myapp.c = '1'; RELEASE s1", in_tx);
  d.run("COMMIT", idle);
  EXPECT_EQ(d.committed, (std::vector<std::string>{"myapp.a", "myapp.c"}));

  // A savepoint older than every pending SET: rolling back to it drops them all.
  journal_driver e;
  e.run("BEGIN; SAVEPOINT early; SET myapp.a = '1'", in_tx);
  e.run("ROLLBACK TO early", in_tx);
  e.run("COMMIT", idle);
  EXPECT_TRUE(e.committed.empty());

  // An error, then ROLLBACK TO: the transaction goes on, and what came before the savepoint commits.
  journal_driver f;
  f.run("BEGIN; SET myapp.a = '1'; SAVEPOINT s; SET myapp.b = '1'", in_tx);
  f.run("SELECT 1/0", failed, 0);
  f.run("ROLLBACK TO s", in_tx);
  f.run("COMMIT", idle);
  EXPECT_EQ(f.committed, std::vector<std::string>{"myapp.a"});

  // Nested: releasing the inner one keeps its SETs in the outer one.
  journal_driver g;
  g.run("BEGIN; SET myapp.a = '1'; SAVEPOINT o; SET myapp.b = '1'; SAVEPOINT i; SET myapp.c = '1'", in_tx);
  g.run("RELEASE i; ROLLBACK TO o; SET myapp.d = '1'; COMMIT", idle);
  EXPECT_EQ(g.committed, (std::vector<std::string>{"myapp.a", "myapp.d"}));
}

TEST(SettingsJournal, ExtendedProtocolTransactionEnds) {
  journal_driver d;
  d.run("BEGIN; SET myapp.a = '1'", in_tx);
  EXPECT_FALSE(d.j.on_statement_done("ROLLBACK"));  // an Execute of a prepared ROLLBACK
  d.j.on_ready_for_query(idle);
  EXPECT_TRUE(d.j.committed().empty());
  EXPECT_FALSE(d.j.pending());

  journal_driver e;
  e.run("BEGIN; SET myapp.a = '1'", in_tx);
  e.j.on_statement_done("COMMIT");
  e.j.on_ready_for_query(idle);
  EXPECT_EQ(e.j.committed().size(), 1u);

  journal_driver f;
  f.run("BEGIN; SET myapp.a = '1'", in_tx);
  f.j.on_statement_done("ROLLBACK");  // ROLLBACK TO some savepoint: which is not known
  f.j.on_ready_for_query(in_tx);
  EXPECT_TRUE(f.j.uncertain());
}

TEST(SettingsJournal, PipelinedRequestsMatchTheirReplies) {
  settings_journal j;
  j.on_query(classify_session_sql("SELECT 1", &is_tracked_parameter), 0);  // nothing to record
  j.on_query(classify_session_sql("SET myapp.a = '1'", &is_tracked_parameter), 1);  // behind the SELECT
  j.on_statement_done("SELECT 1");  // the SELECT's
  j.on_ready_for_query(idle);
  EXPECT_TRUE(j.committed().empty());
  j.on_statement_done("SET");
  j.on_ready_for_query(idle);
  ASSERT_EQ(j.committed().size(), 1u);
  EXPECT_FALSE(j.uncertain());
}

TEST(SettingsJournal, WhatCannotBeFollowedMakesItUncertain) {
  journal_driver d;
  d.run("SELECT set_config('myapp.a', current_user, false)", idle);
  EXPECT_TRUE(d.j.uncertain());
  journal_driver e;
  e.run("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SET myapp.a = '1'", idle);
  EXPECT_TRUE(e.j.uncertain());
}

}  // namespace
}  // namespace pgfunnel::session
