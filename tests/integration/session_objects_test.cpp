// Integration: session objects (temp tables, WITH HOLD cursors, SQL PREPARE, LISTEN) pin their client's server, unpin when gone, and leave nothing behind.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "server_rounds.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr int kPoolSize = 2;

// What the next client of a server must not find: every kind of session object, counted.
constexpr std::string_view kLeftovers =
    "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) || ',' || "
    "(SELECT count(*) FROM pg_cursors) || ',' || "
    "(SELECT count(*) FROM pg_prepared_statements WHERE from_sql) || ',' || "
    "(SELECT count(*) FROM pg_listening_channels())";

struct object_case {
  const char* name;
  const char* create;    // makes the object
  const char* use;       // uses it: its value is `expected`
  const char* expected;
  const char* drop;      // removes it
};

void PrintTo(const object_case& c, std::ostream* os) { *os << c.name; }

const object_case kCases[] = {
    {"temp_table", "CREATE TEMP TABLE so_t AS SELECT 'kept'::text AS v", "SELECT v FROM so_t", "kept",
     "DROP TABLE so_t"},
    {"temporary_table_on_commit", "CREATE TEMPORARY TABLE so_t (v text) ON COMMIT DELETE ROWS",
     "SELECT count(*)::text || 'rows' FROM so_t", "0rows", "DISCARD TEMP"},
    {"hold_cursor", "DECLARE so_c CURSOR WITH HOLD FOR SELECT 'kept'::text FROM generate_series(1, 1000)",
     "FETCH 1 FROM so_c", "kept", "CLOSE so_c"},
    {"sql_prepare", "PREPARE so_p AS SELECT 'kept'::text", "EXECUTE so_p", "kept", "DEALLOCATE so_p"},
    {"listen", "LISTEN so_channel", "SELECT string_agg(c, ',') FROM pg_listening_channels() c", "so_channel",
     "UNLISTEN *"},
};

class SessionObjects : public ::testing::TestWithParam<object_case> {
 public:
  static void SetUpTestSuite() {
    funnel_ = std::make_unique<pgfunnel_process>(
        std::vector<std::string>{"--upstream", shared_pg().url(), "--pool-size", std::to_string(kPoolSize),
                                 "--log-level", "debug", "--query-wait-timeout", "10s", "--admin-users", "postgres"});
  }
  static void TearDownTestSuite() { funnel_.reset(); }

  static pq_conn connect() { return pq_conn(funnel_->pooled_conninfo()); }
  static std::string log_text() { return funnel_->log(); }

  // Polls SHOW POOLS until `column` reads `want` (at most 5 s); returns the last value read.
  static std::string wait_for_pools(const std::string& column, const std::string& want) {
    pq_conn console(funnel_->pooled_conninfo("postgres", "postgres", "pgbouncer"));
    std::string got;
    for (int i = 0; i < 100; ++i) {
      got = show_pools_row(console.get(), "postgres", "postgres")[column];
      if (got == want) break;
      std::this_thread::sleep_for(50ms);
    }
    return got;
  }

  static inline std::unique_ptr<pgfunnel_process> funnel_;
};

// The creator keeps its object across transactions on its own server; the second client never
// sees it; after the creator leaves, its server is reused clean.
TEST_P(SessionObjects, ObjectStaysWithItsCreatorAndLeavesNothingBehind) {
  const object_case& c = GetParam();
  std::string pid;
  {
    pq_conn a = connect(), b = connect();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_TRUE(a.exec(c.create).ok);
    pid = a.value("SELECT pg_backend_pid()");
    EXPECT_EQ(wait_for_pools("sv_pinned_objects", "1"), "1") << log_text();
    for (int i = 0; i < 6; ++i) {
      const query_result used = a.exec(c.use);
      EXPECT_EQ(used.value(), c.expected) << used.describe() << log_text();
      EXPECT_EQ(a.value("SELECT pg_backend_pid()"), pid);
      EXPECT_TRUE(a.exec("BEGIN; SELECT 1; COMMIT").ok);
      EXPECT_NE(b.value("SELECT pg_backend_pid()"), pid) << "the pinned server was shared";
      EXPECT_EQ(b.value(std::string(kLeftovers)), "0,0,0,0");
    }
    // b holds the other server, so the next client gets a's once a has gone.
    ASSERT_TRUE(b.exec("BEGIN; SELECT 1").ok);
    a.close();
    pq_conn next = connect();
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next.value("SELECT pg_backend_pid()"), pid) << "the server was closed rather than cleaned and reused";
    EXPECT_EQ(next.value(std::string(kLeftovers)), "0,0,0,0") << log_text();
    ASSERT_TRUE(b.exec("COMMIT").ok);
  }
  EXPECT_EQ(wait_for_pools("sv_pinned_objects", "0"), "0") << log_text();
}

// Dropping the object unpins: the client shares servers again.
TEST_P(SessionObjects, DroppingTheObjectUnpins) {
  const object_case& c = GetParam();
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec(c.create).ok);
  EXPECT_EQ(wait_for_pools("sv_pinned_objects", "1"), "1") << log_text();
  ASSERT_TRUE(a.exec(c.drop).ok);
  EXPECT_EQ(wait_for_pools("sv_pinned_objects", "0"), "0") << log_text();
  std::set<std::string> pids;
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { pids.insert(a.value("SELECT pg_backend_pid()")); });
  EXPECT_EQ(pids.size(), static_cast<std::size_t>(kPoolSize)) << log_text();
}

INSTANTIATE_TEST_SUITE_P(Kinds, SessionObjects, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

class SessionObjectsMisc : public SessionObjects {};

// A temp table that ends with its transaction needs no pin.
TEST_F(SessionObjectsMisc, OnCommitDropInsideATransactionDoesNotPin) {
  pq_conn a = connect();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("BEGIN; CREATE TEMP TABLE so_gone (v int) ON COMMIT DROP; INSERT INTO so_gone VALUES (1); "
                     "COMMIT")
                  .ok);
  std::set<std::string> pids;
  on_both_servers(funnel_->pooled_conninfo(), 4, [&](int) { pids.insert(a.value("SELECT pg_backend_pid()")); });
  EXPECT_EQ(pids.size(), static_cast<std::size_t>(kPoolSize)) << log_text();
}

// A notification reaches the listener across its transactions, sent by a client of the other server.
TEST_F(SessionObjectsMisc, ListenerGetsNotificationsAcrossTransactions) {
  pq_conn a = connect(), b = connect();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a.exec("LISTEN so_news").ok);
  EXPECT_EQ(wait_for_pools("sv_pinned_objects", "1"), "1") << log_text();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.exec("NOTIFY so_news, 'n" + std::to_string(i) + "'").ok);
    std::string payload;
    for (int tries = 0; tries < 100 && payload.empty(); ++tries) {
      ASSERT_TRUE(a.exec("SELECT 1").ok);
      PQconsumeInput(a.get());
      if (PGnotify* n = PQnotifies(a.get())) {
        payload = n->extra;
        PQfreemem(n);
      }
    }
    EXPECT_EQ(payload, "n" + std::to_string(i)) << log_text();
  }
  ASSERT_TRUE(a.exec("UNLISTEN so_news").ok);
  EXPECT_EQ(wait_for_pools("sv_pinned_objects", "0"), "0") << log_text();
}

// pin_session_objects off: the old behaviour, chosen: logged, not kept (no pin).
TEST(SessionObjectsOff, LoggedNotPinned) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "1", "--pin-session-objects", "off",
                           "--admin-users", "postgres"});
  pq_conn a(funnel.pooled_conninfo());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a.exec("LISTEN so_off").ok);
  EXPECT_TRUE(funnel.wait_for_log("uses LISTEN")) << funnel.log();
  EXPECT_THAT(funnel.log(), HasSubstr("pin_session_objects"));
  // Not pinned: with one server, another client still gets it.
  pq_conn b(funnel.pooled_conninfo());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.value("SELECT 1"), "1");
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  EXPECT_EQ(show_pools_row(console.get(), "postgres", "postgres")["sv_pinned_objects"], "0");
  // Left where it was made, as before pinning existed (server_reset_query_always is off).
  EXPECT_EQ(b.value("SELECT count(*) FROM pg_listening_channels()"), "1");
  ASSERT_TRUE(a.exec("UNLISTEN *").ok);
}

// server_reset_query_always: PgBouncer's server_reset_query after every transaction. The client's
// prepared statements and SETs survive it (the statement cache and the replayed settings are
// forgotten with the server's own), and nothing a client left reaches the next.
TEST(ServerResetQuery, RunsAfterEveryTransactionWhenAlways) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "1", "--pin-session-objects", "off",
                           "--server-reset-query-always", "on"});
  pq_conn a(funnel.pooled_conninfo()), b(funnel.pooled_conninfo());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a.exec("LISTEN so_reset").ok);
  EXPECT_EQ(b.value("SELECT count(*) FROM pg_listening_channels()"), "0") << funnel.log();
  ASSERT_TRUE(a.exec("SET statement_timeout = '7s'").ok);
  query_result r = take_result(a.get(), PQprepare(a.get(), "so_named", "SELECT 'named'::text", 0, nullptr));
  ASSERT_TRUE(r.ok) << r.describe();
  for (int i = 0; i < 3; ++i) {
    r = take_result(a.get(), PQexecPrepared(a.get(), "so_named", 0, nullptr, nullptr, nullptr, 0));
    EXPECT_EQ(r.value(), "named") << r.describe() << funnel.log();
    EXPECT_EQ(a.value("SHOW statement_timeout"), "7s");
    EXPECT_EQ(b.value("SHOW statement_timeout"), "0");
  }
}

}  // namespace
}  // namespace pgfunnel::test
