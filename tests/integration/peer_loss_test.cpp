// Integration: peers that vanish (TLS backends terminated, PostgreSQL restarted, TLS clients that reset or half-close, a log reader) cost one connection, never pgfunnel.
//
// pgfunnel_process starts the binary as a service manager would, with SIGPIPE at its default
// action: OpenSSL writing to a peer that went away raised SIGPIPE and ended the whole process.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <openssl/bio.h>

#include "libpq_helpers.hpp"
#include "pgfunnel/net/socket_bio.hpp"
#include "pg_server.hpp"
#include "pgfunnel_process.hpp"
#include "tls_fixture.hpp"

namespace pgfunnel::test {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// A big result: it streams for long enough to lose a peer in the middle of it.
constexpr const char* big_result = "SELECT repeat('x', 200) FROM generate_series(1, 5000000)";
// Rows that stream for a moment (4 MB): a load whose requests are in flight at any instant.
constexpr const char* medium_result = "SELECT repeat('x', 200) FROM generate_series(1, 20000)";

class TlsPeerLoss : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_options o;
    o.extra_conf = {"ssl = on", "ssl_cert_file = '" + certs().path("server_localhost.crt") + "'",
                    "ssl_key_file = '" + certs().path("server_localhost.key") + "'"};
    pg_ = new pg_server(o);
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override {
    if (!pg_->running()) pg_->start();
    funnel_ = std::make_unique<pgfunnel_process>(std::vector<std::string>{
        "--upstream", pg_->url() + "?sslmode=require", "--pool-size", "2", "--server-connect-timeout", "2s",
        "--client-tls", "require", "--client-tls-cert-file", certs().path("server_localhost.crt"),
        "--client-tls-key-file", certs().path("server_localhost.key")});
  }
  void TearDown() override {
    expect_serving_and_clean();
    funnel_.reset();
  }

  std::string tls_conninfo(std::uint16_t port, const std::string& app = "peer_loss") const {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " user=postgres password=postgres dbname=postgres sslmode=require application_name=" + app;
  }
  std::string pooled() const { return tls_conninfo(funnel_->pooled_port()); }

  // The real backend behind a pooled client's current server.
  static std::string server_pid(pq_conn& c) { return c.value("SELECT pg_backend_pid()"); }

  static void terminate(const std::string& pid) {
    ASSERT_EQ(pg_->query_value("SELECT pg_terminate_backend(" + pid + ")"), "t");
    ASSERT_TRUE(eventually([&] { return pg_->query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "0"; }));
  }

  // The backends serving pgfunnel (every client backend but the fixture's own query) in `states`.
  static int backends_in(const std::string& states) {
    return std::stoi(pg_->query_value(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
        "AND state IN (" + states + ")"));
  }

  template <class Condition>
  static bool eventually(Condition condition, std::chrono::milliseconds limit = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return condition();
  }

  // What every case ends with: pgfunnel still runs, both listeners serve TLS clients, and no
  // server is left inside a transaction or still running a request nobody waits for.
  void expect_serving_and_clean() {
    ASSERT_TRUE(funnel_->alive()) << "pgfunnel is gone:\n" << funnel_->log();
    for (const std::uint16_t port : {funnel_->pooled_port(), funnel_->direct_port()}) {
      pq_conn c(tls_conninfo(port, "after_case"));
      ASSERT_TRUE(c.ok()) << c.error_message() << funnel_->log();
      EXPECT_EQ(PQsslInUse(c.get()), 1);
      EXPECT_EQ(c.value("SELECT 'still serving'"), "still serving") << funnel_->log();
    }
    EXPECT_TRUE(eventually([] {
      return backends_in("'idle in transaction', 'idle in transaction (aborted)', 'active'") == 0;
    })) << pg_->query_value("SELECT string_agg(state || ': ' || query, E'\\n') FROM pg_stat_activity "
                            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        << funnel_->log();
  }

  // A pooled client that sent `sql` and has started to receive its rows.
  pq_conn client_receiving(const char* sql) {
    pq_conn c(pooled());
    EXPECT_TRUE(c.ok()) << c.error_message() << funnel_->log();
    EXPECT_EQ(PQsendQuery(c.get(), sql), 1);
    EXPECT_TRUE(wait_readable(c.get(), 10s)) << "no rows arrived";
    return c;
  }

  static pg_server* pg_;
  std::unique_ptr<pgfunnel_process> funnel_;
};
pg_server* TlsPeerLoss::pg_ = nullptr;

// The reproducer of the SIGPIPE crash: the server was idle in the pool when it was terminated.
// pgfunnel notices it before handing it out and gives the client another: no error at all.
TEST_F(TlsPeerLoss, BackendTerminatedWhileIdleInThePool) {
  pq_conn c(pooled());
  ASSERT_TRUE(c.ok()) << c.error_message() << funnel_->log();
  const std::string pid = server_pid(c);
  terminate(pid);
  for (int i = 0; i < 3; ++i) {  // whichever server each transaction gets, none is the dead one
    const query_result r = c.exec("SELECT 2");
    ASSERT_TRUE(r.ok) << r.describe() << funnel_->log();
    EXPECT_EQ(r.value(), "2");
  }
  EXPECT_NE(server_pid(c), pid);
}

// Terminated inside the client's transaction: the client is told its server is gone (08006, or
// PostgreSQL's own 57P01 relayed), and a new connection's transaction works on a fresh server.
TEST_F(TlsPeerLoss, BackendTerminatedWhileLeased) {
  pq_conn c(pooled());
  ASSERT_TRUE(c.ok()) << c.error_message();
  ASSERT_TRUE(c.exec("BEGIN").ok);
  terminate(server_pid(c));
  const query_result r = c.exec("SELECT 2");
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.error.sqlstate, AnyOf("08006", "57P01")) << r.describe();
  EXPECT_NE(PQstatus(c.get()), CONNECTION_OK) << "a session whose transaction was lost must end";
  pq_conn again(pooled());
  ASSERT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(again.value("SELECT 3"), "3");
}

TEST_F(TlsPeerLoss, BackendTerminatedMidResult) {
  pq_conn c = client_receiving(big_result);
  terminate(pg_->query_value("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT repeat%' AND pid <> pg_backend_pid()"));
  const query_result r = get_single_result(c.get());
  ASSERT_FALSE(r.ok) << "the result cannot have completed";
  EXPECT_THAT(r.error.sqlstate, AnyOf("08006", "57P01", "")) << r.describe();
  pq_conn again(pooled());
  ASSERT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(again.value("SELECT 3"), "3");
}

// PostgreSQL restarted (fast shutdown: every backend ends) while TLS clients run transactions.
TEST_F(TlsPeerLoss, PostgresRestartedUnderLoad) {
  std::atomic<bool> stop{false};
  std::atomic<long> after_restart{0};
  std::atomic<bool> restarted{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&, i] {
      while (!stop) {
        pq_conn c(pooled(), 5s);
        while (!stop && c.ok()) {
          const query_result r = c.exec(i % 2 == 0 ? "SELECT count(*) FROM generate_series(1, 20000)" : medium_result);
          if (!r.ok) break;
          if (restarted) ++after_restart;
          if (i % 2 != 0) break;  // the big result: one per connection
        }
      }
    });
  ASSERT_TRUE(eventually([] { return backends_in("'active'") > 0; }));
  pg_->restart();
  restarted = true;
  const bool recovered = eventually([&] { return after_restart.load() >= 20; }, 30s);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(recovered) << funnel_->log();
}

// A TLS client that resets its connection (RST, no close_notify) while its rows stream.
TEST_F(TlsPeerLoss, ClientResetsMidResult) {
  pq_conn c = client_receiving(big_result);
  const int fd = c.socket();
  const linger reset_on_close{1, 0};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close), 0);
  // dup2 closes the socket (an RST: linger 0, unread data) and leaves /dev/null at its number, so
  // that libpq's own close later touches nothing else.
  const int null_fd = ::open("/dev/null", O_RDWR);
  ASSERT_GE(null_fd, 0);
  ASSERT_GE(::dup2(null_fd, fd), 0);
  ::close(null_fd);
  c.close();
  EXPECT_TRUE(eventually([] { return backends_in("'active'") == 0; })) << funnel_->log();
}

// A TLS client that half-closes (shutdown(SHUT_WR), no close_notify) right after its query.
TEST_F(TlsPeerLoss, ClientHalfClosesAfterSendingAQuery) {
  pq_conn c(pooled());
  ASSERT_TRUE(c.ok()) << c.error_message();
  ASSERT_EQ(PQsendQuery(c.get(), big_result), 1);
  ASSERT_EQ(PQflush(c.get()), 0);
  ASSERT_EQ(::shutdown(c.socket(), SHUT_WR), 0);
  // pgfunnel reads the end of the client's stream: it ends the session and cleans the server.
  EXPECT_TRUE(eventually([] { return backends_in("'active'") == 0; })) << funnel_->log();
  c.close();
}

// `pgfunnel | head`: the reader of pgfunnel's log went away. Logging on must cost nothing but the
// lost lines; with SIGPIPE at its default action the first line written after would end it.
TEST(LogPipe, AReaderThatWentAwayEndsNothing) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const std::string exe = pgfunnel_executable();
  const std::string upstream = shared_pg().url();
  std::vector<std::string> args = {exe, "--upstream", upstream, "--log-level", "debug", "--listen-pooled", "127.0.0.1:0",
                                   "--listen-direct", "off", "--listen-http", "off"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(out[0]);
    start_as_a_service_would();
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  // Read the log until the pooled listener's port shows, then stop reading for good.
  std::string text;
  std::smatch m;
  const std::regex pooled(R"(pooled listener \(transaction mode\) on [^ ]*:(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!std::regex_search(text, m, pooled) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_TRUE(std::regex_search(text, m, pooled)) << text;
  const std::string port = m[1];
  ::close(out[0]);
  // Every login and query logs at debug: the writes now meet a pipe nobody reads.
  const std::string conninfo = "host=127.0.0.1 port=" + port + " user=postgres password=postgres dbname=postgres";
  for (int i = 0; i < 5; ++i) {
    pq_conn c(conninfo);
    ASSERT_TRUE(c.ok()) << "login " << i << ": " << c.error_message();
    EXPECT_EQ(c.value("SELECT 1"), "1");
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "pgfunnel ended: signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}

// The BIO under every TLS connection, on its own: a write to a peer that closed is EPIPE on that
// call, with SIGPIPE at its default action in this very process (write(2) would end it here).
TEST(SocketBio, WritingToAClosedPeerIsEpipeNotSigpipe) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ::close(pair[1]);
  const auto previous = ::signal(SIGPIPE, SIG_DFL);
  BIO* bio = net::make_socket_bio(pair[0]);
  ASSERT_NE(bio, nullptr);
  errno = 0;
  EXPECT_EQ(BIO_write(bio, "ping", 4), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_FALSE(BIO_should_retry(bio));
  char byte;
  EXPECT_EQ(BIO_read(bio, &byte, 1), 0);  // and reading finds the end
  EXPECT_EQ(BIO_eof(bio), 1);
  BIO_free(bio);
  ::signal(SIGPIPE, previous);
  ::close(pair[0]);
}

}  // namespace
}  // namespace pgfunnel::test
