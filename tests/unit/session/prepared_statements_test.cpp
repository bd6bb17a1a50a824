// Unit tests of named prepared statements across pooled servers: naming, caches, the rewriter and its reply plan.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"
#include "pgfunnel/protocol/bytes.hpp"
#include "pgfunnel/protocol/decode.hpp"
#include "pgfunnel/session/prepared_statements.hpp"

namespace pgfunnel::test {
namespace {

using session::client_statements;
using session::client_verdict;
using session::server_statements;
using session::statement_rewriter;
using session::statement_sql;

struct message {
  char tag;
  std::string body;
};

// Splits a byte string of whole tagged messages.
std::vector<message> split(std::string_view bytes) {
  std::vector<message> out;
  std::size_t pos = 0;
  while (pos + 5 <= bytes.size()) {
    const auto len = protocol::load_u32(reinterpret_cast<const std::uint8_t*>(bytes.data() + pos + 1));
    out.push_back({bytes[pos], std::string(bytes.substr(pos + 5, len - 4))});
    pos += 1 + len;
  }
  EXPECT_EQ(pos, bytes.size()) << "not whole messages";
  return out;
}

std::string tags_of(std::string_view bytes) {
  std::string t;
  for (const auto& m : split(bytes)) t.push_back(m.tag);
  return t;
}

std::string name_of(std::string_view sql) { return session::server_statement_name(sql, {}); }

// One lease, driven as the relay will drive it: the server stream it sends, the client stream it gets.
struct lease {
  lease(client_statements& c, server_statements& s) : rw(c, s) {}
  statement_rewriter rw;
  std::string to_server;
  std::string to_client;

  void from_client(std::string_view bytes) {
    for (const auto& m : split(bytes)) {
      std::string injected;
      const auto verdict = rw.on_client_message(static_cast<std::uint8_t>(m.tag), as_span(m.body), injected, to_client);
      to_server += injected;
      if (verdict == client_verdict::forward) to_server += msg(m.tag, m.body);
    }
  }
  void from_server(std::string_view bytes) {
    for (const auto& m : split(bytes)) {
      std::string after;
      if (rw.on_server_message(static_cast<std::uint8_t>(m.tag), as_span(m.body), after))
        to_client += msg(m.tag, m.body);
      to_client += after;
    }
  }
  std::string take_server() { return std::exchange(to_server, {}); }
  std::string take_client() { return std::exchange(to_client, {}); }
};

std::string error_code_of(std::string_view error_message) {
  const auto ms = split(error_message);
  if (ms.size() != 1 || ms[0].tag != 'E') return "<not an error>";
  protocol::error_fields f;
  if (protocol::decode_error_response(as_span(ms[0].body), f)) return "<malformed>";
  return std::string(f.code) + " " + std::string(f.message);
}

std::string pg_error(std::string_view code, std::string_view message) {
  return be::error({{'S', "ERROR"}, {'V', "ERROR"}, {'C', std::string(code)}, {'M', std::string(message)}});
}

// ---- naming and caches ------------------------------------------------------------------------------

TEST(ServerStatementName, DeterministicShortAndTypeSensitive) {
  const auto a = name_of("SELECT $1");
  EXPECT_EQ(a, name_of("SELECT $1"));
  EXPECT_NE(a, name_of("SELECT $2"));
  const std::string int4 = u32be(23), text = u32be(25);
  EXPECT_NE(session::server_statement_name("SELECT $1", as_span(int4)),
            session::server_statement_name("SELECT $1", as_span(text)));
  EXPECT_EQ(a.rfind("pgf_", 0), 0u);
  EXPECT_EQ(a.size(), 4 + 16 + 1 + 1u);  // "_9": the query's length
  EXPECT_LE(name_of(std::string(100000, 'x')).size(), 63u);
}

TEST(ServerStatements, LruVictimsUnknownFirst) {
  server_statements s(3);
  s.add("a");
  s.add("b");
  s.add("c");
  s.touch("a");
  EXPECT_EQ(s.pop_victim().value(), "b");
  s.mark_unknown("c");
  EXPECT_TRUE(s.maybe("c"));
  EXPECT_FALSE(s.known("c"));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.pop_victim().value(), "c");
  EXPECT_EQ(s.pop_victim().value(), "a");
  EXPECT_FALSE(s.pop_victim().has_value());
}

TEST(StatementSql, RecognisesExactly) {
  EXPECT_EQ(session::classify_statement_sql("DEALLOCATE ALL").kind, statement_sql::deallocate_all);
  EXPECT_EQ(session::classify_statement_sql("  deallocate prepare all ;  \n").kind, statement_sql::deallocate_all);
  EXPECT_EQ(session::classify_statement_sql("Discard All;").kind, statement_sql::discard_all);
  auto one = session::classify_statement_sql("DEALLOCATE _pg3_0");
  EXPECT_EQ(one.kind, statement_sql::deallocate_one);
  EXPECT_EQ(one.name, "_pg3_0");
  one = session::classify_statement_sql("deallocate prepare S1;");
  EXPECT_EQ(one.name, "s1");  // unquoted names fold to lower case
  one = session::classify_statement_sql("DEALLOCATE \"S\"\"1\"");
  EXPECT_EQ(one.name, "S\"1");
  EXPECT_EQ(session::classify_statement_sql("DEALLOCATE \"all\"").name, "all");
  EXPECT_EQ(session::classify_statement_sql("DEALLOCATE ALL; SELECT 1").kind, statement_sql::maybe_deallocates);
  EXPECT_EQ(session::classify_statement_sql("DISCARD PLANS").kind, statement_sql::maybe_deallocates);
  EXPECT_EQ(session::classify_statement_sql("SELECT 1").kind, statement_sql::other);
  EXPECT_EQ(session::classify_statement_sql("DEALLOCATEALL").kind, statement_sql::maybe_deallocates);
}

// ---- the rewriter -----------------------------------------------------------------------------------

TEST(StatementRewriter, UnnamedStatementsUntouchedByteForByte) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  const std::string batch = fe::parse("", "SELECT $1", {23}) + fe::bind("", "", {std::string("7")}) +
                            fe::describe('P', "") + fe::execute("") + fe::close('S', "") + fe::sync();
  l.from_client(batch);
  EXPECT_EQ(l.take_server(), batch);
  const std::string replies = be::parse_complete() + be::bind_complete() + be::no_data() +
                              be::command_complete("SELECT 1") + be::close_complete() + be::ready_for_query('I');
  l.from_server(replies);
  EXPECT_EQ(l.take_client(), replies);
  EXPECT_TRUE(l.rw.idle());
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(s.size(), 0u);
}

// Each client's unnamed statement is its own: a Bind or Describe of "" on a server whose unnamed
// statement is another client's (or was dropped by a simple Query) re-sends the client's Parse first.
TEST(StatementRewriter, UnnamedStatementIsReSentWhereTheServerHoldsAnothersOrNone) {
  client_statements a, b;
  server_statements s;
  const std::string parse_a = fe::parse("", "SELECT 'A'"), parse_b = fe::parse("", "SELECT 'B'");
  {
    lease l{a, s};
    l.from_client(parse_a + fe::sync());
    EXPECT_EQ(l.take_server(), parse_a + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
  }
  {
    lease l{b, s};
    l.from_client(parse_b + fe::sync());
    EXPECT_EQ(l.take_server(), parse_b + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
  }
  {
    lease l{a, s};
    const std::string run = fe::bind("", "") + fe::execute("") + fe::sync();
    l.from_client(run);
    EXPECT_EQ(l.take_server(), parse_a + run);  // the server's "" is b's
    l.from_server(be::parse_complete() + be::bind_complete() + be::data_row({std::string("A")}) +
                  be::command_complete("SELECT 1") + be::ready_for_query('I'));
    EXPECT_EQ(tags_of(l.take_client()), "2DCZ");  // the injected ParseComplete is not the client's
    EXPECT_TRUE(l.rw.idle());
    // Now it is a's: the usual pipeline goes through untouched.
    l.from_client(run);
    EXPECT_EQ(l.take_server(), run);
  }
  {
    lease l{b, s};
    l.from_client(fe::query("SELECT 1"));  // drops b's unnamed statement, and the server's
    l.take_server();
    l.from_server(be::command_complete("SELECT 1") + be::ready_for_query('I'));
    l.take_client();
    // b has none now: the server answers that it does not exist (nothing to close first).
    l.from_client(fe::describe('S', "") + fe::sync());
    EXPECT_EQ(l.take_server(), fe::describe('S', "") + fe::sync());
  }
  {
    lease l{a, s};
    l.from_client(fe::describe('S', "") + fe::sync());
    EXPECT_EQ(l.take_server(), parse_a + fe::describe('S', "") + fe::sync());
  }
  {
    // b has none, the server holds a's: closed first, so b gets PostgreSQL's own 26000.
    lease l{b, s};
    l.from_client(fe::bind("", "") + fe::execute("") + fe::sync());
    EXPECT_EQ(l.take_server(), fe::close('S', "") + fe::bind("", "") + fe::execute("") + fe::sync());
    l.from_server(be::close_complete() + pg_error("26000", "unnamed prepared statement does not exist") +
                  be::ready_for_query('I'));
    EXPECT_EQ(tags_of(l.take_client()), "EZ");
    EXPECT_TRUE(l.rw.idle());
  }
}

// The client's own Close of "" or simple Query drops its unnamed statement, as PostgreSQL does: no
// later Bind brings it back.
TEST(StatementRewriter, CloseOrQueryDropsTheClientsUnnamedStatement) {
  for (const std::string& drop : {fe::close('S', "") + fe::sync(), fe::query("SELECT 1")}) {
    client_statements a;
    server_statements s;
    lease l{a, s};
    l.from_client(fe::parse("", "SELECT 'ok'") + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
    l.from_client(drop);
    EXPECT_EQ(a.unnamed().stamp, 0u);
    EXPECT_EQ(s.unnamed(), server_statements::no_unnamed);
    l.take_server();
    // Nothing to re-send and nothing on the server to close: PostgreSQL answers 26000 itself.
    l.from_client(fe::bind("", "") + fe::execute("") + fe::sync());
    EXPECT_EQ(tags_of(l.take_server()), "BES");
  }
}

// A failed Parse of "" leaves the client none (PostgreSQL drops the old one first).
TEST(StatementRewriter, FailedUnnamedParseLeavesNone) {
  client_statements a;
  server_statements s;
  lease l{a, s};
  l.from_client(fe::parse("", "SELECT 'ok'") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.from_client(fe::parse("", "SELEC broken") + fe::sync());
  l.from_server(pg_error("42601", "syntax error") + be::ready_for_query('I'));
  EXPECT_EQ(a.unnamed().stamp, 0u);
  l.take_server();
  l.from_client(fe::bind("", "") + fe::execute("") + fe::sync());
  EXPECT_EQ(tags_of(l.take_server()), "CBES");  // closes whatever the server may hold
}

// A Parse of "" the server skips (an earlier message of the same pipeline failed) changes nothing:
// the client keeps the unnamed statement it had, as in PostgreSQL, and a later Bind finds it.
TEST(StatementRewriter, SkippedUnnamedParseKeepsThePreviousOne) {
  client_statements a;
  server_statements s;
  lease l{a, s};
  const std::string parse_ok = fe::parse("", "SELECT 'ok'");
  l.from_client(parse_ok + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  const std::uint64_t before = a.unnamed().stamp;
  ASSERT_NE(before, 0u);
  l.take_server();
  // Two skipped Parses of "" behind the failing Execute: the chain unwinds to the first statement.
  l.from_client(fe::bind("p", "") + fe::execute("nonexistent") + fe::parse("", "SELECT 'skipped'") +
                fe::parse("", "SELECT 'skipped too'") + fe::sync());
  l.take_server();
  l.from_server(be::bind_complete() + pg_error("34000", "portal \"nonexistent\" does not exist") +
                be::ready_for_query('I'));
  EXPECT_EQ(a.unnamed().stamp, before);
  EXPECT_EQ(a.unnamed().parse, parse_ok);
  EXPECT_TRUE(l.rw.idle());
  // The server's unnamed statement is not known now: the Bind re-sends the client's Parse first.
  l.from_client(fe::bind("", "") + fe::execute("") + fe::sync());
  EXPECT_EQ(l.take_server(), parse_ok + fe::bind("", "") + fe::execute("") + fe::sync());
}

TEST(StatementRewriter, SameNameTwoClientsDifferentTexts) {
  client_statements a, b;
  server_statements s;
  const auto na = name_of("SELECT 'a'"), nb = name_of("SELECT 'b'");
  ASSERT_NE(na, nb);
  {
    lease l{a, s};
    l.from_client(fe::parse("s0", "SELECT 'a'") + fe::bind("", "s0") + fe::execute("") + fe::sync());
    EXPECT_EQ(l.take_server(), fe::parse(na, "SELECT 'a'") + fe::bind("", na) + fe::execute("") + fe::sync());
    l.from_server(be::parse_complete() + be::bind_complete() + be::command_complete("SELECT 1") + be::ready_for_query('I'));
    EXPECT_EQ(tags_of(l.take_client()), "12CZ");
  }
  {
    lease l{b, s};
    l.from_client(fe::parse("s0", "SELECT 'b'") + fe::bind("", "s0") + fe::execute("") + fe::sync());
    EXPECT_EQ(l.take_server(), fe::parse(nb, "SELECT 'b'") + fe::bind("", nb) + fe::execute("") + fe::sync());
  }
  EXPECT_EQ(a.find("s0")->server_name, na);
  EXPECT_EQ(b.find("s0")->server_name, nb);
}

TEST(StatementRewriter, SameTextSharedAcrossClients) {
  client_statements a, b;
  server_statements s;
  {
    lease l{a, s};
    l.from_client(fe::parse("x", "SELECT 1") + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
  }
  lease l{b, s};
  l.from_client(fe::parse("y", "SELECT 1"));
  EXPECT_EQ(l.take_server(), "");
  EXPECT_EQ(l.take_client(), be::parse_complete());  // nothing outstanding: due at once
  EXPECT_EQ(l.rw.counters().hits, 1u);
}

TEST(StatementRewriter, StatementMovesToSecondServer) {
  client_statements c;
  server_statements s1, s2;
  const std::string sql = "SELECT * FROM t WHERE id = $1";
  const auto n = session::server_statement_name(sql, as_span(u32be(23)));
  {
    lease l{c, s1};
    l.from_client(fe::parse("s1", sql, {23}) + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
    EXPECT_EQ(l.take_client(), be::parse_complete() + be::ready_for_query('I'));
  }
  lease l{c, s2};
  const std::string bind_tail = fe::bind("p", "s1", {std::string("42")}, {1});
  l.from_client(bind_tail + fe::describe('S', "s1") + fe::execute("p") + fe::sync());
  EXPECT_EQ(l.take_server(), fe::parse(n, sql, {23}) + fe::bind("p", n, {std::string("42")}, {1}) +
                                 fe::describe('S', n) + fe::execute("p") + fe::sync());
  const std::string t = be::row_description({{"id", 23}});
  l.from_server(be::parse_complete() + be::bind_complete() + msg('t', i16be(1) + u32be(23)) + t +
                be::data_row({std::string("42")}) + be::command_complete("SELECT 1") + be::ready_for_query('I'));
  // Exactly what one PostgreSQL session answers to Bind, Describe, Execute, Sync.
  EXPECT_EQ(l.take_client(), be::bind_complete() + msg('t', i16be(1) + u32be(23)) + t +
                                 be::data_row({std::string("42")}) + be::command_complete("SELECT 1") +
                                 be::ready_for_query('I'));
  EXPECT_TRUE(s2.known(n));
  EXPECT_EQ(l.rw.counters().injected, 1u);
  EXPECT_EQ(l.rw.counters().hits, 1u);  // the Describe found it (injected just before)
  EXPECT_TRUE(l.rw.idle());
}

TEST(StatementRewriter, CachedParseSynthesisedInPipelineOrder) {
  client_statements c;
  server_statements s;
  s.add(name_of("SELECT 1"));  // P1 cached, P2 not
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::bind("", "a") + fe::execute("") + fe::parse("b", "SELECT 2") +
                fe::bind("", "b") + fe::execute("") + fe::sync());
  const auto n1 = name_of("SELECT 1"), n2 = name_of("SELECT 2");
  EXPECT_EQ(l.take_server(), fe::bind("", n1) + fe::execute("") + fe::parse(n2, "SELECT 2") + fe::bind("", n2) +
                                 fe::execute("") + fe::sync());
  EXPECT_EQ(l.take_client(), be::parse_complete());  // P1's reply comes first, at once
  l.from_server(be::bind_complete() + be::command_complete("SELECT 1") + be::parse_complete() + be::bind_complete() +
                be::command_complete("SELECT 1") + be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "2C12CZ");
}

TEST(StatementRewriter, CachedParseAfterOutstandingRepliesWaitsItsTurn) {
  client_statements c;
  server_statements s;
  s.add(name_of("SELECT 2"));
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::parse("b", "SELECT 2") + fe::sync());
  EXPECT_EQ(l.take_client(), "");
  l.from_server(be::parse_complete());
  EXPECT_EQ(tags_of(l.take_client()), "11");
  l.from_server(be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "Z");
}

TEST(StatementRewriter, CloseStatementOnlyDropsTheMapping) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  l.from_client(fe::bind("", "a") + fe::execute("") + fe::close('S', "a") + fe::sync());
  EXPECT_EQ(l.take_server(), fe::bind("", name_of("SELECT 1")) + fe::execute("") + fe::sync());
  EXPECT_EQ(c.find("a"), nullptr);
  EXPECT_TRUE(s.known(name_of("SELECT 1")));
  l.from_server(be::bind_complete() + be::command_complete("SELECT 1") + be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "2C3Z");
  // Closing a name that does not exist is no error in PostgreSQL either.
  l.from_client(fe::close('S', "nope") + fe::sync());
  EXPECT_EQ(l.take_server(), fe::sync());
  EXPECT_EQ(tags_of(l.take_client()), "3");
  // And the name is free again.
  l.from_client(fe::parse("a", "SELECT 3"));
  EXPECT_EQ(tags_of(l.take_server()), "P");
}

TEST(StatementRewriter, EvictionKeepsTheBoundAndSwallowsCloseComplete) {
  client_statements c;
  server_statements s(5);
  lease l{c, s};
  std::uint64_t closes = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string sql = "SELECT " + std::to_string(i);
    l.from_client(fe::parse("s" + std::to_string(i), sql) + fe::bind("", "s" + std::to_string(i)) +
                  fe::execute("") + fe::sync());
    const auto sent = split(l.take_server());
    std::string replies;
    for (const auto& m : sent) {
      if (m.tag == 'C') {
        ++closes;
        replies += be::close_complete();
      } else if (m.tag == 'P') {
        replies += be::parse_complete();
      } else if (m.tag == 'B') {
        replies += be::bind_complete();
      } else if (m.tag == 'E') {
        replies += be::command_complete("SELECT 1");
      } else if (m.tag == 'S') {
        replies += be::ready_for_query('I');
      }
    }
    ASSERT_LE(s.size(), 5u);
    l.from_server(replies);
    ASSERT_EQ(tags_of(l.take_client()), "12CZ") << i;  // the Close's '3' never reaches the client
    ASSERT_TRUE(l.rw.idle());
  }
  EXPECT_EQ(closes, 995u);
  EXPECT_EQ(l.rw.counters().evictions, 995u);
  EXPECT_EQ(s.size(), 5u);
}

TEST(StatementRewriter, ErrorMidPipelineDropsEverythingUpToReadyForQuery) {
  client_statements c;
  server_statements s;
  s.add(name_of("SELECT 2"));
  lease l{c, s};
  // B1 fails; P2 was cached, so its ParseComplete would have been synthesised after E1.
  l.from_client(fe::parse("a", "SELECT 1") + fe::bind("", "a") + fe::execute("") + fe::parse("b", "SELECT 2") +
                fe::bind("", "b") + fe::execute("") + fe::sync() + fe::parse("z", "SELECT 2") + fe::sync());
  EXPECT_EQ(l.take_client(), "");
  const auto err = pg_error("22012", "division by zero");
  l.from_server(be::parse_complete() + be::bind_complete() + err + be::ready_for_query('I'));
  // PostgreSQL: 1 2 E Z, then the next batch (z cached: its ParseComplete is due right after Z).
  EXPECT_EQ(l.take_client(), be::parse_complete() + be::bind_complete() + err + be::ready_for_query('I') +
                                 be::parse_complete());
  // PostgreSQL never ran Parse b: the name does not exist; a was prepared before the error.
  EXPECT_EQ(c.find("b"), nullptr);
  EXPECT_NE(c.find("a"), nullptr);
  l.from_server(be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "Z");
  EXPECT_TRUE(l.rw.idle());
}

TEST(StatementRewriter, ErrorBeforeSyncArrivesSkipsTheRestOfTheBatch) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::bind("", "missing") + fe::execute(""));
  EXPECT_EQ(l.take_server(), fe::bind("", "missing") + fe::execute(""));
  const auto err = pg_error("26000", "prepared statement \"missing\" does not exist");
  l.from_server(err);
  EXPECT_EQ(l.take_client(), err);
  // The server ignores what follows until Sync; so does the rewriter.
  l.from_client(fe::parse("a", "SELECT 1") + fe::close('S', "x") + fe::sync());
  EXPECT_EQ(l.take_server(), fe::sync());
  EXPECT_EQ(l.take_client(), "");
  EXPECT_EQ(c.find("a"), nullptr);
  l.from_server(be::ready_for_query('I'));
  EXPECT_EQ(l.take_client(), be::ready_for_query('I'));
  EXPECT_TRUE(l.rw.idle());
}

TEST(StatementRewriter, InjectedParseErrorReachesClientAsItsBindsError) {
  client_statements c;
  server_statements s1, s2;
  {
    lease l{c, s1};
    l.from_client(fe::parse("a", "SELECT * FROM t") + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
  }
  lease l{c, s2};
  l.from_client(fe::bind("", "a") + fe::execute("") + fe::sync());
  EXPECT_EQ(tags_of(l.take_server()), "PBES");
  const auto err = pg_error("42P01", "relation \"t\" does not exist");
  l.from_server(err + be::ready_for_query('I'));
  EXPECT_EQ(l.take_client(), err + be::ready_for_query('I'));
  EXPECT_FALSE(s2.known(name_of("SELECT * FROM t")));  // it failed: the server does not hold it
  EXPECT_NE(c.find("a"), nullptr);                     // the client's statement still exists
  // The next use injects it again.
  l.from_client(fe::bind("", "a") + fe::sync());
  EXPECT_EQ(tags_of(l.take_server()), "PBS");
}

TEST(StatementRewriter, DuplicateNameIs42P05AndSkipsToSync) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  l.from_client(fe::parse("a", "SELECT 2") + fe::bind("", "a") + fe::execute("") + fe::sync());
  // The server fails the batch at the same point (so it skips to Sync and aborts a transaction block).
  const auto sent = split(l.take_server());
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].tag, 'E');
  EXPECT_EQ(sent[0].body, cstr("pgfunnel.duplicate_statement") + i32be(0));
  l.from_server(pg_error("34000", "portal \"pgfunnel.duplicate_statement\" does not exist") +
                be::ready_for_query('I'));
  const auto got = split(l.take_client());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(error_code_of(msg(got[0].tag, got[0].body)), "42P05 prepared statement \"a\" already exists");
  EXPECT_EQ(got[1].tag, 'Z');
  EXPECT_EQ(c.find("a")->server_name, name_of("SELECT 1"));  // the first one stands
}

TEST(StatementRewriter, DeallocateAllAndDiscardAll) {
  for (const char* sql : {"DEALLOCATE ALL", "discard all;"}) {
    client_statements c;
    server_statements s;
    lease l{c, s};
    l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
    l.from_server(be::parse_complete() + be::ready_for_query('I'));
    l.take_client();
    l.take_server();
    l.from_client(fe::query(sql));
    EXPECT_EQ(l.take_server(), fe::query(sql));
    EXPECT_EQ(c.size(), 0u);
    const auto n = name_of("SELECT 1");
    EXPECT_TRUE(s.maybe(n));  // until the server confirms
    l.from_server(be::command_complete(sql[0] == 'D' ? "DEALLOCATE ALL" : "DISCARD ALL") + be::ready_for_query('I'));
    EXPECT_EQ(tags_of(l.take_client()), "CZ");
    EXPECT_FALSE(s.maybe(n));
    EXPECT_EQ(s.size(), 0u);
    l.from_client(fe::parse("a", "SELECT 1"));  // free again, prepared again, no Close needed
    EXPECT_EQ(l.take_server(), fe::parse(n, "SELECT 1"));
  }
}

TEST(StatementRewriter, FailedDeallocateAllRestoresAndClosesBeforeReparse) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('T'));
  l.take_client();
  l.from_client(fe::query("DEALLOCATE ALL"));
  l.from_server(pg_error("25P02", "current transaction is aborted") + be::ready_for_query('E'));
  EXPECT_EQ(tags_of(l.take_client()), "EZ");
  EXPECT_NE(c.find("a"), nullptr);  // PostgreSQL kept them
  l.take_server();
  // The server may or may not hold it: a Close goes first, swallowed.
  l.from_client(fe::bind("", "a") + fe::sync());
  const auto n = name_of("SELECT 1");
  EXPECT_EQ(l.take_server(), fe::close('S', n) + fe::parse(n, "SELECT 1") + fe::bind("", n) + fe::sync());
  l.from_server(be::close_complete() + be::parse_complete() + be::bind_complete() + be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "2Z");
}

TEST(StatementRewriter, DeallocateOneNameDropsTheMapping) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("_pg3_0", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  l.from_client(fe::query("DEALLOCATE _pg3_0"));
  EXPECT_EQ(c.find("_pg3_0"), nullptr);
  EXPECT_TRUE(s.known(name_of("SELECT 1")));  // other clients may use it
  EXPECT_EQ(l.take_server(), fe::query("PREPARE pgfunnel_deallocate AS SELECT 1; DEALLOCATE pgfunnel_deallocate"));
  l.from_server(be::command_complete("PREPARE") + be::command_complete("DEALLOCATE") + be::ready_for_query('I'));
  EXPECT_EQ(l.take_client(), be::command_complete("DEALLOCATE") + be::ready_for_query('I'));
  // A name that is not the client's goes to the server as it is.
  l.from_client(fe::query("DEALLOCATE other"));
  EXPECT_EQ(l.take_server(), fe::query("DEALLOCATE other"));
}

// pgjdbc and psycopg 3 send DEALLOCATE ALL as an unnamed (or named) extended-protocol statement.
TEST(StatementRewriter, ExtendedProtocolDeallocateAll) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  const std::string batch = fe::parse("", "DEALLOCATE ALL") + fe::bind("", "") + fe::execute("") + fe::sync();
  l.from_client(batch);
  EXPECT_EQ(l.take_server(), batch);  // untouched
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(s.maybe(name_of("SELECT 1")));
  // It failed (an aborted transaction): the client keeps its statements, as PostgreSQL would.
  l.from_server(be::parse_complete() + be::bind_complete() + pg_error("25P02", "current transaction is aborted") +
                be::ready_for_query('E'));
  EXPECT_EQ(tags_of(l.take_client()), "12EZ");
  EXPECT_NE(c.find("a"), nullptr);
  // Ran: gone for the client; the server's copy is re-prepared behind a Close.
  l.from_client(batch);
  l.from_server(be::parse_complete() + be::bind_complete() + be::command_complete("DEALLOCATE ALL") +
                be::ready_for_query('I'));
  EXPECT_EQ(c.size(), 0u);
  l.take_server();
  l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
  const auto n = name_of("SELECT 1");
  EXPECT_EQ(l.take_server(), fe::close('S', n) + fe::parse(n, "SELECT 1") + fe::sync());
}

TEST(StatementRewriter, ExtendedProtocolDeallocateOneNamesTheServerStatement) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("_pg3_0", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  const auto n = name_of("SELECT 1");
  l.from_client(fe::parse("", "DEALLOCATE _pg3_0") + fe::bind("", "") + fe::execute("") + fe::sync());
  EXPECT_EQ(l.take_server(), fe::parse("", "DEALLOCATE " + n) + fe::bind("", "") + fe::execute("") + fe::sync());
  EXPECT_EQ(c.find("_pg3_0"), nullptr);
  l.from_server(be::parse_complete() + be::bind_complete() + be::command_complete("DEALLOCATE") +
                be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "12CZ");
}

// SQL the recogniser cannot see through (a function running DEALLOCATE ALL) drops our statements:
// the server's 26000 is shown once, and the next use prepares again.
TEST(StatementRewriter, StatementDroppedBehindOurBackIsPreparedAgain) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT 1") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  const auto n = name_of("SELECT 1");
  l.from_client(fe::bind("", "a") + fe::execute("") + fe::sync());
  EXPECT_EQ(l.take_server(), fe::bind("", n) + fe::execute("") + fe::sync());
  l.from_server(pg_error("26000", "prepared statement \"" + n + "\" does not exist") + be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "EZ");
  l.from_client(fe::bind("", "a") + fe::execute("") + fe::sync());
  EXPECT_EQ(l.take_server(),
            fe::close('S', n) + fe::parse(n, "SELECT 1") + fe::bind("", n) + fe::execute("") + fe::sync());
}

// "cached plan must not change result type": once, then the statement is prepared afresh.
TEST(StatementRewriter, StalePlanIsPreparedAgain) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("a", "SELECT * FROM t") + fe::sync());
  l.from_server(be::parse_complete() + be::ready_for_query('I'));
  l.take_client();
  l.take_server();
  const auto n = name_of("SELECT * FROM t");
  l.from_client(fe::bind("", "a") + fe::execute("") + fe::sync());
  l.take_server();
  l.from_server(pg_error("0A000", "cached plan must not change result type") + be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "EZ");
  EXPECT_TRUE(s.maybe(n));
  l.from_client(fe::bind("", "a") + fe::execute("") + fe::sync());
  EXPECT_EQ(l.take_server(),
            fe::close('S', n) + fe::parse(n, "SELECT * FROM t") + fe::bind("", n) + fe::execute("") + fe::sync());
}

TEST(StatementRewriter, NoticesAndUnplannedRepliesNeverUnderflow) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_server(be::notice({{'S', "NOTICE"}, {'C', "00000"}, {'M', "hi"}}) + be::parameter_status("TimeZone", "UTC"));
  EXPECT_FALSE(l.rw.uncertain());
  l.from_server(be::ready_for_query('I') + be::bind_complete());
  EXPECT_TRUE(l.rw.uncertain());
  EXPECT_EQ(tags_of(l.take_client()), "NSZ2");
  EXPECT_EQ(l.rw.planned(), 0u);
}

TEST(StatementRewriter, CopyInThroughExecuteIgnoresSyncsSentDuringCopy) {
  client_statements c;
  server_statements s;
  lease l{c, s};
  l.from_client(fe::parse("", "COPY t FROM STDIN") + fe::bind("", "") + fe::execute("") + fe::sync());
  l.from_server(be::parse_complete() + be::bind_complete() + msg('G', std::string(1, '\0') + i16be(0)));
  l.from_client(fe::copy_data("1\n") + fe::copy_done() + fe::sync());
  l.from_server(be::command_complete("COPY 1") + be::ready_for_query('I'));
  EXPECT_EQ(tags_of(l.take_client()), "12GCZ");
  EXPECT_TRUE(l.rw.idle());
  EXPECT_FALSE(l.rw.uncertain());
}

// ---- end to end against a model of one PostgreSQL backend ------------------------------------------

// Answers the extended and simple protocol the way PostgreSQL does, for what these tests send:
// named statements, portals, skip-to-Sync after an error, DEALLOCATE, and "fail" queries.
class pg_model {
 public:
  std::string replies;
  std::map<std::string, std::string> statements;  // name → query
  std::map<std::string, std::string> portals;  // name → query

  void feed(std::string_view bytes) {
    for (const auto& m : split(bytes)) one(m);
  }

 private:
  bool skipping_ = false;
  void error(std::string_view code, std::string_view text) {
    replies += pg_error(code, text);
    skipping_ = true;
  }
  void one(const message& m) {
    if (skipping_ && m.tag != 'S') return;
    const auto body = as_span(m.body);
    switch (m.tag) {
      case 'P': {
        protocol::parse_message p;
        ASSERT_FALSE(protocol::decode_parse(body, p));
        if (p.query.find("fail") != std::string_view::npos) return error("42601", "syntax error");
        if (!p.statement.empty() && statements.count(std::string(p.statement)))
          return error("42P05", "prepared statement \"" + std::string(p.statement) + "\" already exists");
        statements[std::string(p.statement)] = std::string(p.query);
        replies += be::parse_complete();
        return;
      }
      case 'B': {
        protocol::bind_names n;
        ASSERT_FALSE(protocol::decode_bind_names(body, n));
        if (!statements.count(std::string(n.statement)))
          return error("26000", "prepared statement \"" + std::string(n.statement) + "\" does not exist");
        portals[std::string(n.portal)] = statements[std::string(n.statement)];
        replies += be::bind_complete();
        return;
      }
      case 'D': {
        protocol::target_name t;
        ASSERT_FALSE(protocol::decode_describe(body, t));
        if (t.kind == 'S') {
          auto it = statements.find(std::string(t.name));
          if (it == statements.end())
            return error("26000", "prepared statement \"" + std::string(t.name) + "\" does not exist");
          replies += msg('t', i16be(0)) + be::row_description({{it->second, 25}});
        } else {
          replies += be::no_data();
        }
        return;
      }
      case 'E': {
        protocol::execute_message e;
        ASSERT_FALSE(protocol::decode_execute(body, e));
        if (auto it = portals.find(std::string(e.portal)); it != portals.end()) {
          replies += be::data_row({it->second}) + be::command_complete("SELECT 1");
          return;
        }
        return error("34000", "portal \"" + std::string(e.portal) + "\" does not exist");
      }
      case 'C': {
        protocol::target_name t;
        ASSERT_FALSE(protocol::decode_close(body, t));
        if (t.kind == 'S') statements.erase(std::string(t.name));
        replies += be::close_complete();
        return;
      }
      case 'S':
        skipping_ = false;
        portals.clear();  // implicit transaction ends
        replies += be::ready_for_query('I');
        return;
      case 'Q': {
        std::string_view sql;
        ASSERT_FALSE(protocol::decode_query(body, sql));
        if (sql == "DEALLOCATE ALL") {
          statements.clear();
          replies += be::command_complete("DEALLOCATE ALL");
        } else if (sql.rfind("PREPARE pgfunnel_deallocate", 0) == 0) {
          replies += be::command_complete("PREPARE") + be::command_complete("DEALLOCATE");
        } else if (sql.rfind("DEALLOCATE ", 0) == 0) {
          const std::string name(sql.substr(11));
          if (statements.erase(name) == 0) {
            replies += pg_error("26000", "prepared statement \"" + name + "\" does not exist");
          } else {
            replies += be::command_complete("DEALLOCATE");
          }
        } else {
          replies += be::command_complete("SELECT 1");
        }
        replies += be::ready_for_query('I');
        return;
      }
      default:
        return;
    }
  }
};

TEST(StatementRewriter, EndToEndMatchesOnePostgresSession) {
  // Transactions (each ends with Sync or a Query) of one client, as a driver would send them.
  const std::vector<std::string> transactions = {
      fe::parse("s0", "SELECT a") + fe::parse("s1", "SELECT b") + fe::bind("", "s0") + fe::execute("") + fe::sync(),
      fe::bind("", "s1") + fe::describe('S', "s1") + fe::execute("") + fe::bind("p", "s0") + fe::execute("p") +
          fe::sync(),
      fe::parse("s0", "SELECT dup") + fe::bind("", "s0") + fe::execute("") + fe::sync(),
      fe::describe('S', "s0") + fe::close('S', "s1") + fe::sync(),
      fe::bind("", "s1") + fe::execute("") + fe::sync(),
      fe::parse("s1", "SELECT c") + fe::parse("bad", "fail here") + fe::bind("", "s1") + fe::sync(),
      fe::bind("", "bad") + fe::sync(),
      fe::parse("s2", "SELECT b") + fe::bind("", "s2") + fe::execute("") + fe::flush() + fe::sync(),
      fe::query("DEALLOCATE s2"),
      fe::query("DEALLOCATE s2"),
      fe::parse("s3", "SELECT a") + fe::bind("", "s3") + fe::execute("") + fe::sync(),
      fe::query("DEALLOCATE ALL"),
      fe::bind("", "s0") + fe::sync(),
      fe::parse("s0", "SELECT a") + fe::parse("", "SELECT u") + fe::bind("", "") + fe::execute("") +
          fe::bind("", "s0") + fe::execute("") + fe::sync(),
  };
  // The reference: one session on one backend.
  pg_model reference;
  for (const auto& t : transactions) reference.feed(t);

  // Through the rewriter: each transaction on the next of three backends, shared by a second
  // client that prepares the same texts under other names.
  client_statements mine, other;
  std::vector<std::unique_ptr<server_statements>> caches;
  std::vector<pg_model> backends(3);
  for (int i = 0; i < 3; ++i) caches.push_back(std::make_unique<server_statements>(2));
  std::string client_saw;
  for (std::size_t i = 0; i < transactions.size(); ++i) {
    const std::size_t k = i % 3;
    {
      lease other_lease{other, *caches[k]};
      other_lease.from_client(fe::parse("o" + std::to_string(i), i % 2 ? "SELECT a" : "SELECT b") + fe::sync());
      backends[k].feed(other_lease.take_server());
      other_lease.from_server(std::exchange(backends[k].replies, {}));
      ASSERT_TRUE(other_lease.rw.idle());
    }
    lease l{mine, *caches[k]};
    l.from_client(transactions[i]);
    backends[k].feed(l.take_server());
    l.from_server(std::exchange(backends[k].replies, {}));
    EXPECT_TRUE(l.rw.idle()) << i;
    EXPECT_FALSE(l.rw.uncertain()) << i;
    client_saw += l.take_client();
    // What the cache believes is what the backend holds (named ones), and it stays bounded.
    std::set<std::string> held;
    for (const auto& [name, q] : backends[k].statements)
      if (!name.empty()) held.insert(name);
    EXPECT_LE(held.size(), 2u) << i;
    for (const auto& name : held) EXPECT_TRUE(caches[k]->known(name) || caches[k]->maybe(name)) << name;
  }
  EXPECT_EQ(tags_of(client_saw), tags_of(reference.replies));
  EXPECT_EQ(client_saw, reference.replies);
}

}  // namespace
}  // namespace pgfunnel::test
