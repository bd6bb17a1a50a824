// Unit: the Prometheus text rendering of a metrics snapshot (families once, labels escaped, cumulative buckets).
#include "pgfunnel/http/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace pgfunnel::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

histogram_snapshot histogram(std::vector<std::uint64_t> cumulative, std::uint64_t count, double sum) {
  histogram_snapshot h;
  h.bounds = {0.001, 0.01, 0.1, 1, 60};
  h.cumulative = std::move(cumulative);
  h.count = count;
  h.sum_seconds = sum;
  return h;
}

metrics_snapshot sample_snapshot() {
  metrics_snapshot s;
  s.version = "1.2.3";
  s.pooled_clients = 7;
  s.direct_clients = 2;
  s.errors = {{"pool_timeout", 3}, {"max_client_conn", 0}, {"server_lost", 1}};
  s.upstream_reachable = true;
  pool_snapshot a;
  a.database = "app";
  a.user = "alice";
  a.clients_active = 2;
  a.clients_waiting = 5;
  a.servers_active = 2;
  a.servers_idle = 1;
  a.servers_used = 3;
  a.servers_connecting = 1;
  a.servers_pinned = 1;
  a.servers_pinned_objects = 1;
  a.transactions = 100;
  a.queries = 250;
  a.bytes_received = 4096;
  a.bytes_sent = 65536;
  a.transaction_time_us = 1'500'000;
  a.query_time_us = 250;
  a.wait_time_us = 0;
  a.prepared_hits = 9;
  a.prepared_misses = 4;
  a.prepared_injected = 2;
  a.prepared_evictions = 1;
  a.wait_time = histogram({90, 95, 99, 100, 100}, 100, 0.5);
  a.transaction_time = histogram({10, 50, 90, 99, 100}, 101, 12.25);
  pool_snapshot b = a;
  b.database = "we\"ird\\db\nname";
  b.user = "bob";
  s.pools = {a, b};
  return s;
}

// Every line is a comment (# HELP / # TYPE) or `name{labels} value`, with a valid metric name and
// a number for the value.
TEST(Metrics, EveryLineIsWellFormed) {
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  const std::string text = render_metrics(sample_snapshot());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  for (const auto& line : lines(text))
    EXPECT_TRUE(std::regex_match(line, sample) || std::regex_match(line, comment)) << line;
}

// HELP and TYPE once per family, TYPE before the family's samples, and the samples of one family
// together (the text format forbids interleaving).
TEST(Metrics, HelpAndTypeOncePerFamilyAndSamplesGrouped) {
  std::map<std::string, int> helps, types;
  std::map<std::string, std::string> type_of;
  std::vector<std::string> family_order;  // families in the order their samples appear
  const std::string text = render_metrics(sample_snapshot());
  for (const auto& line : lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, std::regex(R"(# HELP (\S+) .*)"))) {
      ++helps[m[1]];
    } else if (std::regex_match(line, m, std::regex(R"(# TYPE (\S+) (\S+))"))) {
      ++types[m[1]];
      type_of[m[1]] = m[2];
    } else if (std::regex_match(line, m, std::regex(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ].*)"))) {
      std::string name = m[1];
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (name.ends_with(suffix) && type_of.count(name.substr(0, name.size() - std::string(suffix).size())) &&
            type_of[name.substr(0, name.size() - std::string(suffix).size())] == "histogram")
          name = name.substr(0, name.size() - std::string(suffix).size());
      ASSERT_TRUE(type_of.count(name)) << "sample before its TYPE: " << line;
      if (family_order.empty() || family_order.back() != name) family_order.push_back(name);
    }
  }
  for (const auto& [name, n] : helps) EXPECT_EQ(n, 1) << name;
  for (const auto& [name, n] : types) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(helps.size(), types.size());
  std::map<std::string, int> seen;
  for (const auto& f : family_order) EXPECT_EQ(++seen[f], 1) << f << " is interleaved with another family";
  for (const auto& [name, type] : type_of) {
    if (type == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    }
  }
}

TEST(Metrics, HistogramHasCumulativeBucketsInfSumAndCount) {
  const std::string text = render_metrics(sample_snapshot());
  const std::string l = R"(database="app",user="alice")";
  EXPECT_THAT(text, HasSubstr("# TYPE pgfunnel_pool_transaction_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_transaction_duration_seconds_bucket{" + l +
                              ",le=\"0.001\"} 10\n"
                              "pgfunnel_pool_transaction_duration_seconds_bucket{" +
                              l +
                              ",le=\"0.01\"} 50\n"
                              "pgfunnel_pool_transaction_duration_seconds_bucket{" +
                              l +
                              ",le=\"0.1\"} 90\n"
                              "pgfunnel_pool_transaction_duration_seconds_bucket{" +
                              l +
                              ",le=\"1\"} 99\n"
                              "pgfunnel_pool_transaction_duration_seconds_bucket{" +
                              l +
                              ",le=\"60\"} 100\n"
                              "pgfunnel_pool_transaction_duration_seconds_bucket{" +
                              l +
                              ",le=\"+Inf\"} 101\n"
                              "pgfunnel_pool_transaction_duration_seconds_sum{" +
                              l +
                              "} 12.25\n"
                              "pgfunnel_pool_transaction_duration_seconds_count{" +
                              l + "} 101\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_wait_duration_seconds_bucket{" + l + ",le=\"+Inf\"} 100\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_wait_duration_seconds_count{" + l + "} 100\n"));

  // Buckets never decrease and end at the count, for every series.
  std::map<std::string, std::uint64_t> last;
  const std::regex bucket(R"re((\w+)_bucket\{(.*),le="([^"]+)"\} (\d+))re");
  for (const auto& line : lines(text)) {
    std::smatch m;
    if (!std::regex_match(line, m, bucket)) continue;
    const std::string series = std::string(m[1]) + "{" + std::string(m[2]) + "}";
    const std::uint64_t v = std::stoull(m[4]);
    EXPECT_GE(v, last[series]) << line;
    last[series] = v;
  }
  EXPECT_EQ(last.size(), 4u);  // two histograms, two pools
}

TEST(Metrics, GaugesCountersAndLabels) {
  const std::string text = render_metrics(sample_snapshot());
  EXPECT_THAT(text, HasSubstr("pgfunnel_build_info{version=\"1.2.3\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_client_connections{listener=\"pooled\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_client_connections{listener=\"direct\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE pgfunnel_errors_total counter\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_errors_total{kind=\"pool_timeout\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_errors_total{kind=\"max_client_conn\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_upstream_reachable 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_draining 0\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pools 2\n"));
  const std::string l = R"(database="app",user="alice")";
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_clients{" + l + ",state=\"active\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_clients{" + l + ",state=\"waiting\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_servers{" + l + ",state=\"idle\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_servers{" + l + ",state=\"used\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_servers{" + l + ",state=\"connecting\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_servers_pinned{" + l + "} 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_servers_pinned_objects{" + l + "} 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_transactions_total{" + l + "} 100\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_queries_total{" + l + "} 250\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_received_bytes_total{" + l + "} 4096\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_sent_bytes_total{" + l + "} 65536\n"));
  // Times in seconds.
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_transaction_seconds_total{" + l + "} 1.5\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_query_seconds_total{" + l + "} 0.00025\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_wait_seconds_total{" + l + "} 0\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_prepared_statement_hits_total{" + l + "} 9\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_prepared_statement_misses_total{" + l + "} 4\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_prepared_statement_injections_total{" + l + "} 2\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pool_prepared_statement_evictions_total{" + l + "} 1\n"));
  // Quote, backslash and newline in a label value are escaped.
  EXPECT_THAT(text, HasSubstr(R"(pgfunnel_pool_queries_total{database="we\"ird\\db\nname",user="bob"} 250)"));
}

TEST(Metrics, NoPoolsMeansNoPoolFamilies) {
  metrics_snapshot s;
  s.version = "0.1.0";
  const std::string text = render_metrics(s);
  EXPECT_THAT(text, HasSubstr("pgfunnel_build_info{version=\"0.1.0\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pgfunnel_pools 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("pgfunnel_pool_")));
  EXPECT_THAT(text, Not(HasSubstr("pgfunnel_errors_total")));  // no kinds given, no empty family
}

TEST(Metrics, EscapeLabelValue) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
}

}  // namespace
}  // namespace pgfunnel::http
