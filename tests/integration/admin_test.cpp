// Integration: the admin console — SHOW columns against a running PgBouncer 1.18, SHOW POOLS under load, used servers
// and sockets, PAUSE/RESUME, KILL_CLIENT, access.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "libpq_helpers.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* pgbouncer_binary = "/usr/sbin/pgbouncer";
const std::vector<std::string> show_subjects = {"POOLS",     "STATS",     "STATS_TOTALS", "STATS_AVERAGES", "TOTALS",
                                                "CLIENTS",   "SERVERS",   "SOCKETS",      "ACTIVE_SOCKETS", "FDS",
                                                "DATABASES", "USERS",     "CONFIG",       "LISTS",          "VERSION",
                                                "MEM",       "DNS_HOSTS", "DNS_ZONES"};
// What pgfunnel answers with no rows by design: no online restart to hand sockets to, no DNS cache.
const std::set<std::string> rowless_subjects = {"FDS", "DNS_HOSTS", "DNS_ZONES"};

// A result with its column names and type OIDs (PQexec: the console speaks simple queries only).
struct described {
  bool ok = false;
  std::string error;  // "SQLSTATE message" when !ok
  std::vector<std::pair<std::string, Oid>> columns;
  std::vector<std::map<std::string, std::string>> rows;  // by column name; NULL as ""
  int column_of(const std::string& name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i].first == name) return static_cast<int>(i);
    return -1;
  }
};

described run_show(PGconn* conn, const std::string& sql) {
  described d;
  PGresult* res = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(res);
  d.ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
  if (!d.ok) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char* message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    d.error = std::string(state ? state : "-----") + " " + (message ? message : PQerrorMessage(conn));
  }
  for (int c = 0; c < PQnfields(res); ++c) d.columns.emplace_back(PQfname(res, c), PQftype(res, c));
  for (int r = 0; r < PQntuples(res); ++r) {
    auto& row = d.rows.emplace_back();
    for (int c = 0; c < PQnfields(res); ++c) row[PQfname(res, c)] = PQgetvalue(res, r, c);
  }
  PQclear(res);
  return d;
}

int as_int(const std::map<std::string, std::string>& row, const std::string& column) {
  const auto it = row.find(column);
  return it == row.end() || it->second.empty() ? -1 : std::stoi(it->second);
}

// The SHOW POOLS row of (database, user); empty when there is none.
std::map<std::string, std::string> pool_row(PGconn* console, const std::string& database, const std::string& user) {
  for (const auto& row : run_show(console, "SHOW POOLS").rows)
    if (row.at("database") == database && row.at("user") == user) return row;
  return {};
}

// Polls `pred` every 50 ms up to `timeout`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// A free TCP port below the ephemeral range (PgBouncer cannot listen on port 0 and tell us).
std::uint16_t free_low_port() {
  std::mt19937 rng(static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(std::time(nullptr)));
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto port = static_cast<std::uint16_t>(20000 + rng() % 12000);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return port;
  }
  throw std::runtime_error("no free port below 32768");
}

// Debian's PgBouncer 1.18 with trust auth and an admin user, as the postgres OS user when we are root.
class pgbouncer_process {
 public:
  explicit pgbouncer_process(pg_server& pg) {
    std::string dir_template = (std::filesystem::temp_directory_path() / "pgfunnel-admin-pgbouncer.XXXXXX").string();
    dir_ = ::mkdtemp(dir_template.data());
    port_ = free_low_port();
    std::ofstream(dir_ + "/userlist.txt") << "\"postgres\" \"postgres\"\n";
    std::ofstream(dir_ + "/pgbouncer.ini")
        << "[databases]\npostgres = host=127.0.0.1 port=" << pg.port() << " dbname=postgres\n"
        << "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " << port_ << "\nunix_socket_dir =\n"
        << "auth_type = trust\nauth_file = " << dir_ << "/userlist.txt\nadmin_users = postgres\n"
        << "pool_mode = transaction\nlogfile = " << dir_ << "/pgbouncer.log\n";
    const bool root = ::geteuid() == 0;
    if (root) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) throw std::runtime_error("no postgres OS user");
      ::chmod(dir_.c_str(), 0755);
      for (const auto* f : {"", "/userlist.txt", "/pgbouncer.ini"})
        if (::chown((dir_ + f).c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown failed");
    }
    std::vector<std::string> args;
    if (root) args = {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"};
    args.insert(args.end(), {pgbouncer_binary, "-q", dir_ + "/pgbouncer.ini"});
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    const bool up = eventually([&] { return pq_conn(conninfo("pgbouncer"), 1s).ok(); }, 10s);
    if (!up) throw std::runtime_error("pgbouncer did not start; log:\n" + log());
  }
  ~pgbouncer_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string conninfo(const std::string& db) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres password=postgres dbname=" + db;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/pgbouncer.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST(AdminConsole, ShowColumnsStartWithPgBouncer118s) {
  if (::access(pgbouncer_binary, X_OK) != 0) GTEST_SKIP() << pgbouncer_binary << " is not installed";
  pg_server& pg = shared_pg();
  pgbouncer_process bouncer(pg);
  pgfunnel_process funnel({"--upstream", pg.url(), "--admin-users", "postgres"});
  // Traffic on both, so every list has rows (a pool, a server, a client).
  pq_conn via_bouncer(bouncer.conninfo("postgres"));
  ASSERT_TRUE(via_bouncer.ok()) << via_bouncer.error_message();
  EXPECT_EQ(via_bouncer.value("SELECT 1"), "1");
  pq_conn via_funnel(funnel.pooled_conninfo());
  ASSERT_TRUE(via_funnel.ok()) << via_funnel.error_message();
  EXPECT_EQ(via_funnel.value("SELECT 1"), "1");

  pq_conn bouncer_console(bouncer.conninfo("pgbouncer"));
  ASSERT_TRUE(bouncer_console.ok()) << bouncer_console.error_message() << bouncer.log();
  pq_conn funnel_console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  ASSERT_TRUE(funnel_console.ok()) << funnel_console.error_message() << funnel.log();
  for (const auto& subject : show_subjects) {
    SCOPED_TRACE("SHOW " + subject);
    const described theirs = run_show(bouncer_console.get(), "SHOW " + subject);
    const described ours = run_show(funnel_console.get(), "SHOW " + subject);
    ASSERT_TRUE(theirs.ok) << theirs.error;
    ASSERT_TRUE(ours.ok) << ours.error;
    ASSERT_GE(ours.columns.size(), theirs.columns.size());
    for (std::size_t i = 0; i < theirs.columns.size(); ++i) {
      EXPECT_EQ(ours.columns[i].first, theirs.columns[i].first) << "column " << i;
      EXPECT_EQ(ours.columns[i].second, theirs.columns[i].second) << "type of " << theirs.columns[i].first;
    }
    EXPECT_EQ(ours.rows.empty(), rowless_subjects.count(subject) == 1);
  }
  // pgfunnel's own POOLS columns come after PgBouncer's; the newest last.
  const described pools = run_show(funnel_console.get(), "SHOW POOLS");
  ASSERT_TRUE(pools.ok) << pools.error;
  EXPECT_EQ(pools.columns.back().first, "sv_pinned_objects");
  EXPECT_EQ(pool_row(funnel_console.get(), "postgres", "postgres")["sv_pinned_objects"], "0");
  // The console's own result framing: CommandComplete "SHOW", like PgBouncer's.
  PGresult* res = PQexec(funnel_console.get(), "SHOW VERSION");
  EXPECT_STREQ(PQcmdStatus(res), "SHOW");
  EXPECT_THAT(std::string(PQgetvalue(res, 0, 0)), HasSubstr("pgfunnel"));
  PQclear(res);
  const described state = run_show(funnel_console.get(), "show state;");
  ASSERT_TRUE(state.ok) << state.error;
  EXPECT_EQ(state.rows.at(0).at("paused"), "no");
  // The alias reaches the same console.
  pq_conn alias(funnel.pooled_conninfo("postgres", "postgres", "pgfunnel"));
  ASSERT_TRUE(alias.ok()) << alias.error_message();
  EXPECT_TRUE(run_show(alias.get(), "SHOW LISTS").ok);
}

TEST(AdminConsole, ShowPoolsAndClientsDuringAHundredClientLoad) {
  pg_server& pg = shared_pg();
  constexpr int holders = 5, waiters = 95, pool_size = 5;
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", std::to_string(pool_size), "--admin-users",
                           "postgres", "--workers", "2"});
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  ASSERT_TRUE(console.ok()) << console.error_message();

  // Phase 1: five clients hold every server in an open transaction; 95 more each send a query
  // and so queue for a server.
  std::vector<pq_conn> holding, queued;
  for (int i = 0; i < holders; ++i) {
    auto& c = holding.emplace_back(funnel.pooled_conninfo() + " application_name=holder");
    ASSERT_TRUE(c.ok()) << c.error_message();
    ASSERT_TRUE(c.exec("BEGIN").ok);
    ASSERT_EQ(c.value("SELECT 1"), "1");
  }
  std::vector<std::thread> connecting;
  queued.resize(waiters);
  for (int i = 0; i < waiters; ++i)
    connecting.emplace_back([&, i] { queued[i] = pq_conn(funnel.pooled_conninfo() + " application_name=waiter"); });
  for (auto& t : connecting) t.join();
  for (auto& c : queued) {
    ASSERT_TRUE(c.ok()) << c.error_message();
    ASSERT_EQ(PQsendQuery(c.get(), "SELECT 2"), 1);
  }
  std::map<std::string, std::string> row;
  ASSERT_TRUE(eventually([&] {
    row = pool_row(console.get(), "postgres", "postgres");
    return as_int(row, "cl_waiting") == waiters;
  })) << "cl_waiting "
      << row["cl_waiting"];
  EXPECT_EQ(as_int(row, "cl_active"), holders);
  EXPECT_EQ(as_int(row, "sv_active"), pool_size);
  EXPECT_EQ(as_int(row, "sv_idle"), 0);
  EXPECT_EQ(as_int(row, "sv_login"), 0);
  EXPECT_EQ(row["pool_mode"], "transaction");
  std::this_thread::sleep_for(1100ms);
  row = pool_row(console.get(), "postgres", "postgres");
  EXPECT_GE(as_int(row, "maxwait"), 1);  // the oldest waiter has waited over a second

  // SHOW CLIENTS lists each with its id; the holders are linked to the servers SHOW SERVERS lists.
  const described clients = run_show(console.get(), "SHOW CLIENTS");
  ASSERT_TRUE(clients.ok) << clients.error;
  std::map<std::string, std::string> link_of;  // client ptr → server ptr
  int waiting = 0, active = 0, console_rows = 0;
  std::set<std::string> ids;
  for (const auto& c : clients.rows) {
    EXPECT_EQ(c.at("type"), "C");
    EXPECT_EQ(c.at("ptr"), "c" + c.at("id"));
    EXPECT_TRUE(ids.insert(c.at("id")).second);
    EXPECT_EQ(c.at("addr"), "127.0.0.1");
    EXPECT_EQ(as_int(c, "local_port"), funnel.pooled_port());
    if (c.at("database") == "pgbouncer") {
      ++console_rows;
      continue;
    }
    if (c.at("state") == "waiting") {
      ++waiting;
      EXPECT_EQ(c.at("application_name"), "waiter");
      EXPECT_EQ(c.at("link"), "");
    } else {
      ++active;
      EXPECT_EQ(c.at("state"), "active");
      EXPECT_EQ(c.at("application_name"), "holder");
      link_of[c.at("ptr")] = c.at("link");
    }
  }
  EXPECT_EQ(console_rows, 1);
  EXPECT_EQ(waiting, waiters);
  EXPECT_EQ(active, holders);
  const described servers = run_show(console.get(), "SHOW SERVERS");
  ASSERT_TRUE(servers.ok) << servers.error;
  EXPECT_EQ(servers.rows.size(), static_cast<std::size_t>(pool_size));
  for (const auto& s : servers.rows) {
    EXPECT_EQ(s.at("type"), "S");
    EXPECT_EQ(s.at("state"), "active");
    EXPECT_GT(as_int(s, "remote_pid"), 0);
    EXPECT_EQ(as_int(s, "port"), pg.port());
    ASSERT_TRUE(link_of.count(s.at("link"))) << s.at("link");
    EXPECT_EQ(link_of[s.at("link")], s.at("ptr"));
  }

  // Phase 2: the holders commit; every client then runs transactions in a loop while the
  // console watches: the figures stay consistent.
  for (auto& c : holding) ASSERT_TRUE(c.exec("COMMIT").ok);
  for (auto& c : queued) EXPECT_EQ(get_single_result(c.get()).value(), "2");
  std::atomic<bool> stop{false};
  std::atomic<long> transactions{0}, failures{0};
  std::vector<std::thread> load;
  auto run_load = [&](pq_conn& c) {
    while (!stop) {
      const bool ok = c.exec("BEGIN").ok && c.exec("SELECT pg_sleep(0.002)").ok && c.exec("COMMIT").ok;
      ++(ok ? transactions : failures);
    }
  };
  for (auto& c : holding) load.emplace_back([&] { run_load(c); });
  for (auto& c : queued) load.emplace_back([&] { run_load(c); });
  for (int i = 0; i < 20; ++i) {
    row = pool_row(console.get(), "postgres", "postgres");
    EXPECT_EQ(as_int(row, "cl_active") + as_int(row, "cl_waiting"), holders + waiters);
    EXPECT_LE(as_int(row, "sv_active") + as_int(row, "sv_idle") + as_int(row, "sv_login"), pool_size);
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(transactions, 100);
  // A lease goes back just after its client has the COMMIT's reply: the last ones may lag a moment.
  EXPECT_TRUE(eventually([&] {
    row = pool_row(console.get(), "postgres", "postgres");
    return as_int(row, "sv_active") == 0;
  }));
  EXPECT_EQ(as_int(row, "cl_active"), holders + waiters);
  EXPECT_EQ(as_int(row, "cl_waiting"), 0);
  EXPECT_EQ(as_int(row, "sv_active"), 0);
  EXPECT_EQ(as_int(row, "sv_idle"), pool_size);
  // Each session counts its transaction just after the client has its reply.
  // (xact_count counts leases, and a client that sends its next BEGIN before the last COMMIT's
  // lease is given back keeps it: fewer leases than transactions. Every request is a query.)
  long query_count = 0;
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& r : run_show(console.get(), "SHOW STATS_TOTALS").rows)
          if (r.at("database") == "postgres") query_count = std::stol(r.at("query_count"));
        return query_count >= 3 * transactions.load();
      },
      5s))
      << query_count << " < 3 × " << transactions.load();
}

// PgBouncer's "used" servers: idle past server_check_delay, so server_check_query runs before their
// next client. SHOW SOCKETS lists clients and servers under PgBouncer's list names; ACTIVE_SOCKETS
// only those a request or transaction is passing through.
TEST(AdminConsole, ServersIdlePastServerCheckDelayAreUsedAndSocketsListEveryConnection) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel(
      {"--upstream", pg.url(), "--pool-size", "2", "--admin-users", "postgres", "--server-check-delay", "100ms"});
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  pq_conn holder(funnel.pooled_conninfo() + " application_name=holder");
  pq_conn quiet(funnel.pooled_conninfo() + " application_name=quiet");
  ASSERT_TRUE(console.ok() && holder.ok() && quiet.ok());
  // The holder keeps one server in its transaction; the quiet client's query takes the other,
  // which then idles.
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_EQ(holder.value("SELECT 1"), "1");
  ASSERT_EQ(quiet.value("SELECT 2"), "2");

  std::map<std::string, std::string> row;
  ASSERT_TRUE(eventually([&] {
    row = pool_row(console.get(), "postgres", "postgres");
    return as_int(row, "sv_used") == 1;
  })) << "sv_used "
      << row["sv_used"];
  EXPECT_EQ(as_int(row, "sv_idle"), 0);  // a used server is not also idle
  EXPECT_EQ(as_int(row, "sv_active"), 1);
  EXPECT_EQ(as_int(row, "sv_tested"), 0);
  std::multiset<std::string> states;
  for (const auto& s : run_show(console.get(), "SHOW SERVERS").rows) states.insert(s.at("state"));
  EXPECT_EQ(states, (std::multiset<std::string>{"active", "used"}));

  // A session marks its client idle just after giving its server back.
  ASSERT_TRUE(eventually([&] {
    for (const auto& c : run_show(console.get(), "SHOW CLIENTS").rows)
      if (c.at("application_name") == "quiet") return c.at("link").empty();
    return false;
  }));

  // SOCKETS: every client (the console included) and server, with PgBouncer's buffer columns.
  const described sockets = run_show(console.get(), "SHOW SOCKETS");
  ASSERT_TRUE(sockets.ok) << sockets.error;
  std::map<std::string, std::string> state_of_app;
  std::multiset<std::string> server_states;
  std::string holder_link, active_server;
  for (const auto& s : sockets.rows) {
    for (const std::string column :
         {"recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail"})
      EXPECT_EQ(s.at(column), "0") << column;
    if (s.at("type") == "S") {
      server_states.insert(s.at("state"));
      if (s.at("state") == "sv_active") active_server = s.at("ptr");
      EXPECT_GT(as_int(s, "remote_pid"), 0);
    } else {
      EXPECT_EQ(s.at("type"), "C");
      state_of_app[s.at("database") == "pgbouncer" ? "console" : s.at("application_name")] = s.at("state");
      if (s.at("application_name") == "holder") holder_link = s.at("link");
    }
  }
  EXPECT_EQ(server_states, (std::multiset<std::string>{"sv_active", "sv_used"}));
  EXPECT_EQ(state_of_app, (std::map<std::string, std::string>{
                              {"console", "cl_active"}, {"holder", "cl_active"}, {"quiet", "cl_active"}}));
  EXPECT_EQ(holder_link, active_server);

  // ACTIVE_SOCKETS: the holder and its server, and the console answering; not the quiet client
  // nor the parked server.
  const described active = run_show(console.get(), "SHOW ACTIVE_SOCKETS");
  ASSERT_TRUE(active.ok) << active.error;
  std::set<std::string> listed;
  for (const auto& s : active.rows) listed.insert(s.at("ptr"));
  std::set<std::string> expected{active_server};
  for (const auto& s : sockets.rows)
    if (s.at("type") == "C" && s.at("application_name") != "quiet") expected.insert(s.at("ptr"));
  EXPECT_EQ(listed, expected);

  // The used server serves again (server_check_query runs first); the quiet client never notices.
  EXPECT_EQ(quiet.value("SELECT 3"), "3");
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  EXPECT_TRUE(eventually([&] { return as_int(pool_row(console.get(), "postgres", "postgres"), "sv_used") == 2; }));
}

TEST(AdminConsole, PauseWaitsForTransactionsAndResumeServesTheQueue) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2", "--admin-users", "postgres"});
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  pq_conn holder(funnel.pooled_conninfo()), other(funnel.pooled_conninfo());
  ASSERT_TRUE(console.ok() && holder.ok() && other.ok());
  ASSERT_TRUE(holder.exec("BEGIN").ok);
  ASSERT_EQ(holder.value("SELECT 1"), "1");

  // PAUSE does not return while a transaction holds a server...
  ASSERT_EQ(PQsendQuery(console.get(), "PAUSE"), 1);
  EXPECT_FALSE(wait_readable(console.get(), 500ms));
  // ... and returns once it ends.
  ASSERT_TRUE(holder.exec("COMMIT").ok);
  ASSERT_TRUE(wait_readable(console.get(), 5s));
  PGresult* res = PQgetResult(console.get());
  EXPECT_EQ(PQresultStatus(res), PGRES_COMMAND_OK) << PQresultErrorMessage(res);
  EXPECT_STREQ(PQcmdStatus(res), "PAUSE");
  PQclear(res);
  while ((res = PQgetResult(console.get())) != nullptr) PQclear(res);

  // Paused: a query waits.
  ASSERT_EQ(PQsendQuery(other.get(), "SELECT 42"), 1);
  EXPECT_FALSE(wait_readable(other.get(), 500ms));
  auto row = pool_row(console.get(), "postgres", "postgres");
  EXPECT_EQ(as_int(row, "cl_waiting"), 1);
  EXPECT_EQ(as_int(row, "paused"), 1);
  EXPECT_EQ(run_show(console.get(), "SHOW DATABASES").rows.back().at("paused"), "1");
  EXPECT_EQ(run_show(console.get(), "SHOW STATE").rows.at(0).at("paused"), "yes");

  // RESUME serves it.
  const described resumed = run_show(console.get(), "RESUME postgres");
  EXPECT_TRUE(resumed.ok) << resumed.error;
  EXPECT_EQ(get_single_result(other.get()).value(), "42");
  EXPECT_EQ(as_int(pool_row(console.get(), "postgres", "postgres"), "paused"), 0);

  // RECONNECT closes the idle servers; WAIT_CLOSE returns once they are gone; the pool refills.
  const int before = count_client_backends(pg);
  EXPECT_TRUE(run_show(console.get(), "RECONNECT").ok);
  EXPECT_TRUE(run_show(console.get(), "WAIT_CLOSE postgres").ok);
  EXPECT_TRUE(eventually([&] { return count_client_backends(pg) < before; }, 5s));
  EXPECT_EQ(other.value("SELECT 7"), "7");
}

TEST(AdminConsole, KillClientEndsThatClientOnly) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2", "--admin-users", "postgres"});
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  pq_conn victim(funnel.pooled_conninfo() + " application_name=victim");
  pq_conn in_transaction(funnel.pooled_conninfo() + " application_name=busy");
  pq_conn bystander(funnel.pooled_conninfo() + " application_name=bystander");
  ASSERT_TRUE(console.ok() && victim.ok() && in_transaction.ok() && bystander.ok());
  ASSERT_EQ(victim.value("SELECT 1"), "1");
  ASSERT_TRUE(in_transaction.exec("BEGIN").ok);
  ASSERT_EQ(in_transaction.value("SELECT 1"), "1");
  auto id_of = [&](const std::string& app) {
    for (const auto& c : run_show(console.get(), "SHOW CLIENTS").rows)
      if (c.at("application_name") == app) return c.at("id");
    return std::string();
  };
  const std::string victim_id = id_of("victim"), busy_id = id_of("busy");
  ASSERT_FALSE(victim_id.empty());
  ASSERT_FALSE(busy_id.empty());

  // The number form and the c42 form.
  const described killed = run_show(console.get(), "KILL_CLIENT " + victim_id);
  ASSERT_TRUE(killed.ok) << killed.error;
  const described killed_busy = run_show(console.get(), "kill_client c" + busy_id + ";");
  ASSERT_TRUE(killed_busy.ok) << killed_busy.error;
  const auto r = victim.exec("SELECT 1");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.sqlstate, "57P01") << r.describe();
  EXPECT_FALSE(in_transaction.exec("SELECT 1").ok);
  EXPECT_TRUE(eventually([&] { return id_of("victim").empty() && id_of("busy").empty(); }, 5s));
  // The killed transaction's server came back (rolled back) and serves the others.
  EXPECT_TRUE(
      eventually([&] { return as_int(pool_row(console.get(), "postgres", "postgres"), "sv_active") == 0; }, 10s));
  EXPECT_EQ(bystander.value("SELECT 5"), "5");
  EXPECT_THAT(funnel.log(), HasSubstr("client killed by an admin command"));

  const described missing = run_show(console.get(), "KILL_CLIENT 999999");
  EXPECT_FALSE(missing.ok);
  EXPECT_THAT(missing.error, HasSubstr("no such client"));
}

TEST(AdminConsole, KillDatabaseDropsItsClientsUntilResume) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel({"--upstream", pg.url(), "--pool-size", "2", "--admin-users", "postgres"});
  pq_conn console(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  pq_conn a(funnel.pooled_conninfo()), b(funnel.pooled_conninfo());
  ASSERT_TRUE(console.ok() && a.ok() && b.ok());
  ASSERT_EQ(a.value("SELECT 1"), "1");
  ASSERT_TRUE(b.exec("BEGIN").ok);
  const described kill = run_show(console.get(), "KILL postgres");
  ASSERT_TRUE(kill.ok) << kill.error;
  EXPECT_FALSE(a.exec("SELECT 1").ok);
  EXPECT_FALSE(b.exec("SELECT 1").ok);
  EXPECT_TRUE(console.exec("SHOW VERSION").ok);  // the console itself stays
  // A new client of the killed database waits until RESUME.
  pq_conn c(funnel.pooled_conninfo());
  ASSERT_TRUE(c.ok()) << c.error_message();
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT 3"), 1);
  EXPECT_FALSE(wait_readable(c.get(), 300ms));
  EXPECT_TRUE(run_show(console.get(), "RESUME").ok);
  EXPECT_EQ(get_single_result(c.get()).value(), "3");
}

TEST(AdminConsole, AccessAndErrors) {
  pg_server& pg = shared_pg();
  pgfunnel_process funnel({"--upstream", pg.url(), "--admin-users", "postgres", "--stats-users", "watcher", "--users",
                           "watcher:watchpw,nobody:nopw", "--client-login-timeout", "1s"});
  // A stats user may SHOW, and nothing else.
  pq_conn stats(funnel.pooled_conninfo("watcher", "watchpw", "pgbouncer"));
  ASSERT_TRUE(stats.ok()) << stats.error_message();
  EXPECT_TRUE(run_show(stats.get(), "SHOW POOLS").ok);
  const described config = run_show(stats.get(), "SHOW CONFIG");
  ASSERT_TRUE(config.ok) << config.error;
  for (const auto& row : config.rows) {
    EXPECT_THAT(row.at("value"), ::testing::Not(HasSubstr("watchpw"))) << row.at("key");
    EXPECT_THAT(row.at("value"), ::testing::Not(HasSubstr(":postgres@"))) << row.at("key");
    EXPECT_TRUE(row.at("changeable") == "yes" || row.at("changeable") == "no");
  }
  EXPECT_TRUE(run_show(stats.get(), "SHOW SOCKETS").ok);
  // SHOW FDS is admin_users' only, as in PgBouncer.
  for (const std::string sql : {"PAUSE", "KILL postgres", "RELOAD", "SHUTDOWN", "KILL_CLIENT 1", "SHOW FDS"}) {
    const auto r = stats.exec(sql);
    EXPECT_FALSE(r.ok) << sql;
    EXPECT_EQ(r.error.sqlstate, "42501") << sql << ": " << r.describe();
    EXPECT_EQ(r.error.message, "admin access needed");
  }
  EXPECT_TRUE(stats.exec("SHOW STATS").ok);  // the session goes on after a refusal

  // A user in neither list cannot get in; a wrong password fails as anywhere else.
  pq_conn nobody(funnel.pooled_conninfo("nobody", "nopw", "pgbouncer"));
  EXPECT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.error().sqlstate, "28000") << nobody.error().text;
  pq_conn wrong(funnel.pooled_conninfo("postgres", "wrong", "pgbouncer"));
  EXPECT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().sqlstate, "28P01") << wrong.error().text;

  // Unknown commands: PgBouncer's words; the extended protocol is refused, the session goes on.
  pq_conn admin(funnel.pooled_conninfo("postgres", "postgres", "pgbouncer"));
  ASSERT_TRUE(admin.ok()) << admin.error_message();
  for (const std::string sql : {"SELECT 1", "SHOW NOTHING", "FLY AWAY"}) {
    const auto r = admin.exec(sql);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error.sqlstate, "08P01") << r.describe();
    EXPECT_EQ(r.error.message, "invalid command '" + sql + "', use SHOW HELP;");
  }
  const auto params = admin.exec_params("SHOW POOLS", {});
  EXPECT_FALSE(params.ok);
  EXPECT_EQ(params.error.sqlstate, "08P01");
  EXPECT_EQ(admin.pqexec("SHOW HELP").status, PGRES_COMMAND_OK);
  EXPECT_TRUE(admin.exec("").status == PGRES_EMPTY_QUERY);
  EXPECT_TRUE(admin.exec("SHOW USERS").ok);
  // The console never took a server connection: no pool exists.
  const described pools = run_show(admin.get(), "SHOW POOLS");
  ASSERT_EQ(pools.rows.size(), 1u);
  EXPECT_EQ(pools.rows[0].at("database"), "pgbouncer");
  // A console session outlives client_login_timeout: it is logged in.
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(admin.exec("SHOW VERSION").ok);
}

}  // namespace
}  // namespace pgfunnel::test
