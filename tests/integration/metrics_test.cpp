// Integration: the HTTP listener — /healthz, /readyz (upstream down, draining), /metrics checked by promtool and moved
// by load, bad requests.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
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

// Sends `bytes` to 127.0.0.1:port and reads until the server closes (or `timeout`).
std::string http_exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout = 5s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

struct http_reply {
  int status = 0;  // 0: no reply
  std::string headers;
  std::string body;
  std::string describe() const { return std::to_string(status) + " " + body; }
};

http_reply parse_reply(const std::string& raw) {
  http_reply r;
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return r;
  r.status = std::stoi(raw.substr(9, 3));
  const auto end = raw.find("\r\n\r\n");
  r.headers = raw.substr(0, end);
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  return r;
}

http_reply get(std::uint16_t port, const std::string& path) {
  return parse_reply(http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
}

// Polls `path` until it answers `status`, at most `timeout`; returns the last reply.
http_reply wait_for_status(std::uint16_t port, const std::string& path, int status, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  http_reply r;
  do {
    r = get(port, path);
    if (r.status == status) return r;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

// "name{labels}" -> value, for every sample line.
std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// promtool's verdict on an exposition ("" when it passes, its output otherwise).
std::string promtool_problems(const std::string& text) {
  const std::string path = std::string(PGFUNNEL_BINARY_DIR) + "/metrics-test-" + std::to_string(::getpid()) + ".prom";
  std::ofstream(path) << text;
  const auto r = run_process({"sh", "-c",
                              "command -v promtool >/dev/null || { echo 'promtool not installed "
                              "(Debian package prometheus; scripts/bootstrap)'; exit 99; }; "
                              "promtool check metrics < \"$1\"",
                              "sh", path},
                             60s);
  ::unlink(path.c_str());
  return r.exit_code == 0 ? std::string() : "exit " + std::to_string(r.exit_code) + ": " + r.output;
}

const std::string pool_labels = R"({database="postgres",user="postgres"})";

class Metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!shared_pg().running()) shared_pg().start();  // a failed test may have left it stopped
  }
};

TEST_F(Metrics, HealthReadyAndUnknownPaths) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3"});
  ASSERT_NE(funnel.http_port(), 0);
  const auto health = get(funnel.http_port(), "/healthz");
  EXPECT_EQ(health.status, 200) << health.describe();
  EXPECT_EQ(health.body, "ok\n");
  const auto ready = wait_for_status(funnel.http_port(), "/readyz", 200, 10s);
  EXPECT_EQ(ready.status, 200) << ready.describe();
  EXPECT_EQ(get(funnel.http_port(), "/nope").status, 404);
  EXPECT_EQ(get(funnel.http_port(), "/").status, 404);
  EXPECT_EQ(get(funnel.http_port(), "/metricsx").status, 404);
  EXPECT_EQ(get(funnel.http_port(), "/metrics?name[]=x").status, 200);  // query strings are ignored
  const auto post = parse_reply(http_exchange(
      funnel.http_port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"));
  EXPECT_EQ(post.status, 405) << post.describe();
  EXPECT_THAT(post.headers, HasSubstr("Allow: GET"));
  EXPECT_THAT(funnel.log(), HasSubstr("http listener (metrics, health) on 127.0.0.1:"));
}

TEST_F(Metrics, KeepAliveServesSeveralRequestsOnOneConnection) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3"});
  const std::string raw = http_exchange(funnel.http_port(),
                                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                                        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  int replies = 0;
  for (auto at = raw.find("HTTP/1.1 200 "); at != std::string::npos; at = raw.find("HTTP/1.1 200 ", at + 1)) ++replies;
  EXPECT_EQ(replies, 3) << raw.substr(0, 2000);
  EXPECT_THAT(raw, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
}

TEST_F(Metrics, ExpositionPassesPromtoolAndCountersFollowTheLoad) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3"});
  const auto before = get(funnel.http_port(), "/metrics");
  ASSERT_EQ(before.status, 200) << before.describe();
  EXPECT_EQ(promtool_problems(before.body), "") << before.body;
  EXPECT_THAT(before.body, HasSubstr("pgfunnel_build_info{version=\""));
  EXPECT_THAT(before.body, HasSubstr("pgfunnel_pools 0\n"));

  // A failed login shows up as an error kind.
  {
    pq_conn bad(funnel.pooled_conninfo("postgres", "wrong"));
    EXPECT_FALSE(bad.ok());
  }

  constexpr int clients = 6, rounds = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      pq_conn conn(funnel.pooled_conninfo());
      if (!conn.ok()) {
        ++failures;
        return;
      }
      // A named prepared statement, so the statement figures move too.
      PGresult* prep = PQprepare(conn.get(), "metrics_s", "SELECT $1::int + 1", 1, nullptr);
      if (PQresultStatus(prep) != PGRES_COMMAND_OK) ++failures;
      PQclear(prep);
      for (int i = 0; i < rounds; ++i) {
        if (!conn.exec("SELECT pg_sleep(0.001), repeat('x', 1000)").ok) ++failures;
        if (!conn.exec("BEGIN; SELECT 1; SELECT 2; COMMIT").ok) ++failures;
        const char* value = "41";
        PGresult* r = PQexecPrepared(conn.get(), "metrics_s", 1, &value, nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) ++failures;
        PQclear(r);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures, 0);

  const auto after = get(funnel.http_port(), "/metrics");
  ASSERT_EQ(after.status, 200) << after.describe();
  EXPECT_EQ(promtool_problems(after.body), "") << after.body;
  auto m = parse_samples(after.body);
  const auto v = [&](const std::string& series) {
    EXPECT_TRUE(m.count(series)) << series << " missing from\n" << after.body;
    return m[series];
  };
  EXPECT_EQ(v("pgfunnel_pools"), 1);
  // Each round: two simple-query requests and one extended-protocol one, each its own lease.
  EXPECT_GE(v("pgfunnel_pool_transactions_total" + pool_labels), clients * rounds * 3);
  EXPECT_GE(v("pgfunnel_pool_queries_total" + pool_labels), clients * rounds * 3);
  EXPECT_GE(v("pgfunnel_pool_sent_bytes_total" + pool_labels), clients * rounds * 1000);
  EXPECT_GT(v("pgfunnel_pool_received_bytes_total" + pool_labels), clients * rounds * 50);
  EXPECT_GT(v("pgfunnel_pool_query_seconds_total" + pool_labels), clients * rounds * 0.001);
  EXPECT_GT(v("pgfunnel_pool_transaction_seconds_total" + pool_labels), 0);
  EXPECT_GE(v("pgfunnel_pool_server_assignments_total" + pool_labels), clients * rounds * 3);
  EXPECT_GT(v("pgfunnel_pool_prepared_statement_hits_total" + pool_labels) +
                v("pgfunnel_pool_prepared_statement_misses_total" + pool_labels),
            0);
  const std::string l = pool_labels.substr(0, pool_labels.size() - 1);
  for (const std::string h : {"pgfunnel_pool_transaction_duration_seconds", "pgfunnel_pool_wait_duration_seconds"}) {
    const double count = v(h + "_count" + pool_labels);
    EXPECT_GE(count, clients * rounds * 3) << h;
    EXPECT_EQ(v(h + "_bucket" + l + ",le=\"+Inf\"}"), count) << h;
    // The buckets are cumulative and agree with the sum: each observation counted in (lower, upper]
    // added between lower and upper to it. A histogram that counted into the wrong bucket, or
    // summed something other than what it counted, fails one of these.
    std::vector<std::pair<double, double>> buckets;  // finite `le`, cumulative count
    const std::string prefix = h + "_bucket" + l + ",le=\"";
    for (const auto& [series, value] : m)
      if (series.starts_with(prefix) && series.find("+Inf") == std::string::npos)
        buckets.emplace_back(std::stod(series.substr(prefix.size())), value);
    std::sort(buckets.begin(), buckets.end());
    ASSERT_GE(buckets.size(), 2u) << h;
    double lowest = 0, highest = 0, below = 0, bound = 0;
    for (const auto& [le, cumulative] : buckets) {
      EXPECT_GE(cumulative, below) << h << " le=" << le << ": buckets must be cumulative";
      lowest += (cumulative - below) * bound;
      highest += (cumulative - below) * le;
      below = cumulative;
      bound = le;
    }
    lowest += (count - below) * bound;  // past the last finite bound: at least that much each
    const double sum = v(h + "_sum" + pool_labels);
    EXPECT_GE(sum, lowest * 0.999) << h;
    if (count == below) EXPECT_LE(sum, highest * 1.001) << h;
  }
  EXPECT_GT(v("pgfunnel_pool_transaction_duration_seconds_sum" + pool_labels), clients * rounds * 0.001);
  // The pool never had more than 3 servers; all clients have left, so none is leased.
  EXPECT_LE(v("pgfunnel_pool_servers" + l + ",state=\"idle\"}"), 3);
  EXPECT_EQ(v("pgfunnel_pool_servers" + l + ",state=\"active\"}"), 0);
  EXPECT_EQ(v("pgfunnel_pool_clients" + l + ",state=\"waiting\"}"), 0);
  EXPECT_EQ(v("pgfunnel_pool_servers_pinned" + pool_labels), 0);
  EXPECT_EQ(v("pgfunnel_pool_servers_pinned_objects" + pool_labels), 0);
  EXPECT_GE(v("pgfunnel_errors_total{kind=\"login_failed\"}"), 1);
  EXPECT_EQ(v("pgfunnel_errors_total{kind=\"server_lost\"}"), 0);
  EXPECT_EQ(v("pgfunnel_draining"), 0);

  // Clients connected now are counted per listener.
  pq_conn pooled(funnel.pooled_conninfo());
  pq_conn direct(funnel.direct_conninfo());
  ASSERT_TRUE(pooled.ok() && direct.ok());
  m = parse_samples(get(funnel.http_port(), "/metrics").body);
  EXPECT_EQ(m["pgfunnel_client_connections{listener=\"pooled\"}"], 1);
  EXPECT_EQ(m["pgfunnel_client_connections{listener=\"direct\"}"], 1);
}

// A server idle past server_check_delay is "used" (PgBouncer's sv_used: checked before reuse), not idle.
TEST_F(Metrics, ServersIdlePastServerCheckDelayAreCountedAsUsed) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3", "--server-check-delay", "100ms"});
  pq_conn conn(funnel.pooled_conninfo());
  ASSERT_EQ(conn.value("SELECT 1"), "1");
  const std::string l = pool_labels.substr(0, pool_labels.size() - 1);
  const auto servers = [&](const std::string& state) {
    return "pgfunnel_pool_servers" + l + ",state=\"" + state + "\"}";
  };
  http_reply reply;
  std::map<std::string, double> m;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  do {
    reply = get(funnel.http_port(), "/metrics");
    m = parse_samples(reply.body);
    if (m[servers("used")] == 1) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(m[servers("used")], 1) << reply.body;
  EXPECT_EQ(m[servers("idle")], 0);
  EXPECT_EQ(m[servers("active")], 0);
  EXPECT_EQ(promtool_problems(reply.body), "") << reply.body;
  // Leased again (after its check), it is active and no longer used.
  pq_conn tx(funnel.pooled_conninfo());
  ASSERT_TRUE(tx.exec("BEGIN").ok);
  ASSERT_EQ(tx.value("SELECT 2"), "2");
  m = parse_samples(get(funnel.http_port(), "/metrics").body);
  EXPECT_EQ(m[servers("active")], 1);
  EXPECT_EQ(m[servers("used")], 0);
}

// A client holding a temp table pins its server: both gauges say so until it drops the table.
TEST_F(Metrics, ServersPinnedBySessionObjects) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "2"});
  pq_conn conn(funnel.pooled_conninfo());
  ASSERT_TRUE(conn.exec("CREATE TEMP TABLE metrics_pin (v int)").ok);
  const auto scrape_until = [&](double want) {
    std::map<std::string, double> m;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
      m = parse_samples(get(funnel.http_port(), "/metrics").body);
      if (m["pgfunnel_pool_servers_pinned_objects" + pool_labels] == want) break;
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return m;
  };
  auto m = scrape_until(1);
  EXPECT_EQ(m["pgfunnel_pool_servers_pinned_objects" + pool_labels], 1);
  EXPECT_EQ(m["pgfunnel_pool_servers_pinned" + pool_labels], 1);
  ASSERT_TRUE(conn.exec("DROP TABLE metrics_pin").ok);
  m = scrape_until(0);
  EXPECT_EQ(m["pgfunnel_pool_servers_pinned_objects" + pool_labels], 0);
  EXPECT_EQ(m["pgfunnel_pool_servers_pinned" + pool_labels], 0);
}

TEST_F(Metrics, ReadyzFollowsTheUpstream) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3"});
  ASSERT_EQ(wait_for_status(funnel.http_port(), "/readyz", 200, 10s).status, 200);
  shared_pg().stop();
  const auto down = wait_for_status(funnel.http_port(), "/readyz", 503, 15s);
  EXPECT_EQ(down.status, 503) << down.describe();
  EXPECT_THAT(down.body, HasSubstr("upstream 127.0.0.1:" + std::to_string(shared_pg().port()) + " unreachable"));
  EXPECT_EQ(std::count(down.body.begin(), down.body.end(), '\n'), 1) << down.body;  // one line
  EXPECT_EQ(get(funnel.http_port(), "/healthz").status, 200);                       // alive all the same
  EXPECT_THAT(get(funnel.http_port(), "/metrics").body, HasSubstr("pgfunnel_upstream_reachable 0\n"));
  shared_pg().start();
  const auto up = wait_for_status(funnel.http_port(), "/readyz", 200, 15s);
  EXPECT_EQ(up.status, 200) << up.describe();
  EXPECT_THAT(get(funnel.http_port(), "/metrics").body, HasSubstr("pgfunnel_upstream_reachable 1\n"));
  pq_conn conn(funnel.pooled_conninfo());
  EXPECT_EQ(conn.value("SELECT 1"), "1");
}

TEST_F(Metrics, ReadyzSaysDrainingDuringAShutdown) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3", "--shutdown-timeout", "20s"});
  ASSERT_EQ(wait_for_status(funnel.http_port(), "/readyz", 200, 10s).status, 200);
  // An open transaction keeps a server leased, so SIGINT waits for it.
  pq_conn conn(funnel.pooled_conninfo());
  const auto begin = conn.exec("BEGIN");
  ASSERT_TRUE(begin.ok) << begin.describe() << "\n" << funnel.log();
  funnel.signal(SIGINT);
  const auto draining = wait_for_status(funnel.http_port(), "/readyz", 503, 10s);
  EXPECT_EQ(draining.status, 503) << draining.describe();
  EXPECT_THAT(draining.body, HasSubstr("draining"));
  EXPECT_EQ(get(funnel.http_port(), "/healthz").status, 200);
  EXPECT_THAT(get(funnel.http_port(), "/metrics").body, HasSubstr("pgfunnel_draining 1\n"));
  EXPECT_TRUE(conn.exec("COMMIT").ok);
  EXPECT_NE(funnel.wait_exit(10000), -1) << funnel.log();
}

TEST_F(Metrics, MalformedRequestsAreRefusedWithoutHarm) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3"});
  const std::uint16_t port = funnel.http_port();
  const auto garbage = parse_reply(http_exchange(port, "\x01\x02 garbage \xff\r\n\r\n"));
  EXPECT_EQ(garbage.status, 400) << garbage.describe();
  EXPECT_EQ(parse_reply(http_exchange(port, "GET /healthz HTTP/x.y\r\n\r\n")).status, 400);
  EXPECT_EQ(parse_reply(http_exchange(port, "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")).status, 400);
  const auto big = parse_reply(
      http_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n"));
  EXPECT_EQ(big.status, 431) << big.describe();
  const auto body = parse_reply(http_exchange(
      port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(30000, 'b')));
  EXPECT_EQ(body.status, 413) << body.describe();
  EXPECT_EQ(parse_reply(http_exchange(port, "GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n")).status, 400);
  http_exchange(port, "GET /heal", 300ms);  // half a request, then the client goes away
  http_exchange(port, std::string(50000, '\0'));
  // A handful of idle connections left open, then closed.
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    idle.push_back(fd);
  }
  EXPECT_EQ(get(port, "/healthz").status, 200);
  for (int fd : idle) ::close(fd);
  EXPECT_EQ(get(port, "/healthz").status, 200) << funnel.log();
  pq_conn conn(funnel.pooled_conninfo());
  EXPECT_EQ(conn.value("SELECT 1"), "1");
  EXPECT_EQ(funnel.wait_exit(0), -1) << "pgfunnel exited:\n" << funnel.log();
}

TEST_F(Metrics, ConcurrentScrapesDuringLoadWithTwoWorkers) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--pool-size", "3", "--workers", "2"});
  std::atomic<bool> stop{false};
  std::atomic<int> bad_replies{0}, scrapes{0}, queries{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      pq_conn conn(funnel.pooled_conninfo());
      while (!stop && conn.ok())
        if (conn.exec("SELECT 1").ok) ++queries;
    });
  }
  // Scrapes start once the load runs (the SCRAM logins take a moment).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (queries < 30 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 40; ++n) {
        const auto r = get(funnel.http_port(), i % 2 == 0 ? "/metrics" : "/readyz");
        if (r.status != 200) ++bad_replies;
        ++scrapes;
      }
    });
  }
  for (std::size_t i = 3; i < threads.size(); ++i) threads[i].join();
  stop = true;
  for (std::size_t i = 0; i < 3; ++i) threads[i].join();
  EXPECT_EQ(bad_replies, 0);
  EXPECT_EQ(scrapes, 160);
  EXPECT_GT(queries, 0);
  const auto m = parse_samples(get(funnel.http_port(), "/metrics").body);
  EXPECT_GE(m.at("pgfunnel_pool_queries_total" + pool_labels), queries.load());
}

TEST_F(Metrics, OffDisablesTheListener) {
  pgfunnel_process funnel({"--upstream", shared_pg().url(), "--listen-http", "off"});
  EXPECT_EQ(funnel.http_port(), 0);
  EXPECT_THAT(funnel.log(), ::testing::Not(HasSubstr("http listener")));
}

}  // namespace
}  // namespace pgfunnel::test
