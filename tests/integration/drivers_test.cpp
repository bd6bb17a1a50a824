// Real client drivers (node-postgres, psycopg2, psycopg 3, psql) as child processes against the pooled listener.
//
// One PostgreSQL (shared_pg) and one pgfunnel (--pool-size 4) serve every test. Each test creates
// its tables through the fixture, runs one program from tests/clients/ with the pooled URL, and
// expects exit status 0 plus the program's "ok ... 0 errors" summary line. Meanwhile a sampler
// counts the server connections pgfunnel holds open: hundreds of clients must share at most 4.
// The node programs need tests/clients/node/node_modules (scripts/test runs `npm ci` there).
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PGFUNNEL_SOURCE_DIR
#define PGFUNNEL_SOURCE_DIR "."
#endif
#ifndef PGFUNNEL_BINARY_DIR
#define PGFUNNEL_BINARY_DIR "."
#endif

namespace pgfunnel::test {
namespace {

constexpr int kPoolSize = 4;
// The programs stop themselves after 60 s; this is the harness's own backstop.
constexpr auto kProgramTimeout = std::chrono::seconds(90);

const std::string kClients = std::string(PGFUNNEL_SOURCE_DIR) + "/tests/clients";
const std::string kPython = "/usr/bin/python3";  // Debian's, which has python3-psycopg{,2}

struct program_result {
  int status = -1;  // as waitpid; -1 when it had to be killed at the timeout
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved

  bool exited_ok() const { return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string describe() const {
    if (timed_out) return "killed after " + std::to_string(kProgramTimeout.count()) + " s";
    if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }
};

// fork/exec `argv` (PATH lookup) in `cwd`, stdout+stderr into one pipe, stdin from /dev/null.
// The child leads its own process group, so a timeout kills everything it started.
program_result run_program(const std::vector<std::string>& argv, const std::string& cwd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (::chdir(cwd.c_str()) != 0) {
      std::fprintf(stderr, "chdir %s: %s\n", cwd.c_str(), std::strerror(errno));
      ::_exit(126);
    }
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);

  program_result r;
  const auto deadline = std::chrono::steady_clock::now() + kProgramTimeout;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    const ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got > 0) {
      r.output.append(buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;  // EOF: the program (and anything it forked) closed its output
    }
  }
  ::close(fds[0]);
  if (r.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = r.timed_out ? -1 : status;
  return r;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool has_line_starting_with(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(prefix)) return true;
  return false;
}

// The pgfunnel log is long at debug level: every warning/error line, then the last lines.
std::string log_excerpt(const std::string& log, size_t tail_lines = 150) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string out = "--- pgfunnel log: warn/error lines ---\n";
  for (const auto& l : lines)
    if (l.find(" warn ") != std::string::npos || l.find(" error ") != std::string::npos ||
        l.find(" critical ") != std::string::npos)
      out += l + "\n";
  const size_t from = lines.size() > tail_lines ? lines.size() - tail_lines : 0;
  out += "--- pgfunnel log: last " + std::to_string(lines.size() - from) + " of " + std::to_string(lines.size()) +
         " lines ---\n";
  for (size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

// The established TCP connections `pid` holds to `port` on 127.0.0.1: its fds' socket inodes
// matched against /proc/<pid>/net/tcp. Counting pgfunnel's own sockets (rather than
// pg_stat_activity rows) cannot be confused by the fixture's short-lived connections.
int upstream_connections(pid_t pid, std::uint16_t port) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::set<unsigned long> inodes;
  if (DIR* dir = ::opendir((proc + "/fd").c_str())) {
    while (const dirent* e = ::readdir(dir)) {
      char target[64] = {};
      const std::string fd = proc + "/fd/" + e->d_name;
      if (::readlink(fd.c_str(), target, sizeof target - 1) > 0 && std::strncmp(target, "socket:[", 8) == 0)
        inodes.insert(std::strtoul(target + 8, nullptr, 10));
    }
    ::closedir(dir);
  }
  int n = 0;
  std::ifstream tcp(proc + "/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    std::istringstream f(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    f >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    const auto colon = remote.find(':');
    if (colon == std::string::npos || state != "01") continue;  // 01 = ESTABLISHED
    if (std::stoul(remote.substr(colon + 1), nullptr, 16) == port && inodes.count(inode) != 0) ++n;
  }
  return n;
}

// Samples upstream_connections() every 10 ms while a program runs and keeps the largest count.
class upstream_sampler {
 public:
  upstream_sampler(pid_t pid, std::uint16_t port)
      : thread_([this, pid, port] {
          do {
            const int n = upstream_connections(pid, port);
            if (n > max_) max_ = n;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          } while (!stop_);
        }) {}
  ~upstream_sampler() {
    stop_ = true;
    thread_.join();
  }
  upstream_sampler(const upstream_sampler&) = delete;
  upstream_sampler& operator=(const upstream_sampler&) = delete;

  int max() const { return max_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> max_{0};
  std::thread thread_;  // last: starts after the counters exist
};

class DriversTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      pg_server& pg = shared_pg();
      funnel_ = std::make_unique<pgfunnel_process>(std::vector<std::string>{
          "--upstream", pg.url(), "--pool-size", std::to_string(kPoolSize), "--log-level", "debug"});
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { funnel_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << "could not start PostgreSQL + pgfunnel:\n" << setup_error_;
  }

  static std::string pooled_url() {
    return "postgres://postgres:postgres@127.0.0.1:" + std::to_string(funnel_->pooled_port()) +
           "/postgres?sslmode=disable";
  }

  // Runs argv (argv[1] is the client program) while sampling pgfunnel's server connections; checks
  // exit 0, `summary` at the start of a line, the pool size kept, and that pgfunnel still serves.
  static void expect_program_ok(const std::vector<std::string>& argv, const std::string& cwd, const std::string& summary) {
    program_result r;
    int max_backends = 0;  // the most server connections pgfunnel held at one time
    {
      upstream_sampler sampler(funnel_->pid(), shared_pg().port());
      r = run_program(argv, cwd);
      max_backends = sampler.max();
    }
    EXPECT_TRUE(r.exited_ok()) << argv[1] << ": " << r.describe();
    EXPECT_TRUE(has_line_starting_with(r.output, summary)) << "no line starting with \"" << summary << "\"";
    if (r.exited_ok()) {
      EXPECT_GT(max_backends, 0) << "no server connection seen: is the sampler counting the right sockets?";
    }
    EXPECT_LE(max_backends, kPoolSize) << "pgfunnel held " << max_backends << " server connections at once";
    // Still serving after the run: a fresh pooled connection answers.
    PGconn* c = PQconnectdb((funnel_->pooled_conninfo() + " connect_timeout=10").c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << "pgfunnel no longer answers: " << PQerrorMessage(c);
    PQfinish(c);
    if (HasFailure()) {  // the evidence, once: the program's output and pgfunnel's log
      std::fprintf(stderr, "--- output of %s (%s) ---\n%s\n%s", argv[1].c_str(), r.describe().c_str(), r.output.c_str(),
                   log_excerpt(funnel_->log()).c_str());
    }
    // Print the summary itself: the run's numbers and timing show up in the test log.
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("ok "))
        std::printf("    %s: %s (at most %d server connections)\n", argv[1].c_str(), line.c_str(), max_backends);
  }

  static void require_node_modules() {
    const std::string marker = kClients + "/node/node_modules/pg/package.json";
    ASSERT_TRUE(file_exists(marker)) << marker << " is missing: run `npm ci` in tests/clients/node "
                                     << "(scripts/test does it)";
  }

  static inline std::unique_ptr<pgfunnel_process> funnel_;
  static inline std::string setup_error_;
};

// 200 short-lived pg.Clients (connect, 10 transactions, end) alongside a pg.Pool of 50 running
// 1000 parameterized queries: every client reads back exactly what it committed, each transaction
// stays on one backend (same pid and txid), rollbacks leave nothing.
TEST_F(DriversTest, NodePostgresServerlessClientsAndPool) {
  require_node_modules();
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS node_tx; "
      "CREATE TABLE node_tx (client int, seq int, payload text, PRIMARY KEY (client, seq))");
  expect_program_ok({"node", kClients + "/node/serverless.js", pooled_url(), "200", "10", "50", "1000"},
                    kClients + "/node", "ok 200 clients 2000 transactions 1000 pool queries 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM node_tx"), "2000");
}

// pg-copy-streams: 5 concurrent clients COPY 10k rows each in, one COPY rolled back, and read
// them back byte for byte with COPY TO STDOUT.
TEST_F(DriversTest, NodePostgresCopy) {
  require_node_modules();
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS node_copy; "
      "CREATE TABLE node_copy (copier int, n int, word text, PRIMARY KEY (copier, n))");
  expect_program_ok({"node", kClients + "/node/copy.js", pooled_url(), "5", "10000"}, kClients + "/node",
                    "ok 5 copiers 50000 rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM node_copy"), "50000");
}

// psycopg2 (simple protocol, BEGIN as its own message): 50 threads of commit/rollback
// transactions, errors mid-transaction then reuse, and a 10k-row COPY in/out including a COPY
// that fails on bad data.
TEST_F(DriversTest, Psycopg2ThreadsCopyAndErrors) {
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS py2_tx, py2_copy; "
      "CREATE TABLE py2_tx (worker int, seq int, amount numeric, note text, PRIMARY KEY (worker, seq)); "
      "CREATE TABLE py2_copy (id int PRIMARY KEY, label text, amount numeric)");
  expect_program_ok({kPython, kClients + "/python/psycopg2_clients.py", pooled_url(), "50", "20", "10000"},
                    kClients + "/python", "ok 50 threads 1000 transactions (750 committed, 250 rolled back) 10000 copy rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py2_tx"), "750");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py2_copy"), "10000");
}

// psycopg 3 over asyncio, prepare_threshold=None (extended protocol, unnamed statements only):
// 50 connections of transactions, pipeline mode (including an error that aborts a pipeline), and
// text + binary COPY in both directions plus a client-aborted COPY.
TEST_F(DriversTest, Psycopg3AsyncPipelineAndCopy) {
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS py3_tx, py3_copy; "
      "CREATE TABLE py3_tx (conn int, seq int, amount numeric, note text, PRIMARY KEY (conn, seq)); "
      "CREATE TABLE py3_copy (id int PRIMARY KEY, label text, amount numeric)");
  expect_program_ok({kPython, kClients + "/python/psycopg3_clients.py", pooled_url(), "50", "20", "10000"},
                    kClients + "/python",
                    "ok 50 connections 1000 transactions (750 committed, 250 rolled back) 50 pipelines 10000 copy rows 0 errors");
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py3_tx"), "1000");  // 750 + 5 pipelined rows per connection
  EXPECT_EQ(shared_pg().query_value("SELECT count(*) FROM py3_copy"), "10000");
}

// psql's \copy (COPY FROM STDIN / TO STDOUT driven by psql) through the pooled listener: a file
// goes in and comes back out identical.
TEST_F(DriversTest, PsqlBackslashCopy) {
  shared_pg().exec(
      "SET client_min_messages = warning; DROP TABLE IF EXISTS psql_copy; "
      "CREATE TABLE psql_copy (id int PRIMARY KEY, label text)");
  const std::string dir = std::string(PGFUNNEL_BINARY_DIR) + "/drivers-psql-" + std::to_string(::getpid());
  ASSERT_TRUE(::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) << dir;
  const std::string in_path = dir + "/in.tsv";
  const std::string out_path = dir + "/out.tsv";
  std::string data;
  for (int i = 0; i < 10000; ++i)
    data += std::to_string(i) + "\tlabel " + std::to_string(i) + (i % 9 == 0 ? " tab\\there ✓" : "") + "\n";
  std::ofstream(in_path, std::ios::binary) << data;

  const program_result r = run_program(
      {"psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", pooled_url(), "-c", "\\copy psql_copy FROM '" + in_path + "'",
       "-c", "\\copy (SELECT id, label FROM psql_copy ORDER BY id) TO '" + out_path + "'"},
      dir);
  EXPECT_TRUE(r.exited_ok()) << r.describe() << "\n" << r.output << log_excerpt(funnel_->log());
  EXPECT_TRUE(has_line_starting_with(r.output, "COPY 10000")) << r.output;
  std::ifstream out(out_path, std::ios::binary);
  std::stringstream got;
  got << out.rdbuf();
  EXPECT_TRUE(got.str() == data) << "\\copy TO wrote " << got.str().size() << " bytes, want " << data.size();
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace pgfunnel::test
