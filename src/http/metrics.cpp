// Prometheus text rendering of a metrics_snapshot: families, labels, escaping, histogram buckets.
#include "pgfunnel/http/metrics.hpp"

#include <fmt/format.h>

namespace pgfunnel::http {

namespace {

// HELP text escapes only backslash and newline (quotes are fine there, unlike in label values).
std::string escape_help(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// Shortest text that reads back as the same double; integers stay integers ("60", not "60.0").
std::string number(double v) { return fmt::format("{}", v); }
std::string number(std::uint64_t v) { return fmt::format("{}", v); }

double seconds(std::uint64_t us) { return static_cast<double>(us) / 1e6; }

std::string pool_labels(const pool_snapshot& p) {
  return fmt::format("database=\"{}\",user=\"{}\"", escape_label_value(p.database), escape_label_value(p.user));
}

class exposition {
 public:
  // A family's header; the text format wants it once, before the family's samples, which must
  // not be interleaved with another family's.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
  }
  void sample(std::string_view name, std::string_view labels, const std::string& value) {
    if (labels.empty())
      out_ += fmt::format("{} {}\n", name, value);
    else
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
  }
  void histogram(std::string_view name, std::string_view labels, const histogram_snapshot& h) {
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < h.bounds.size() && i < h.cumulative.size(); ++i)
      out_ += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, number(h.bounds[i]), h.cumulative[i]);
    out_ += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, h.count);
    sample(std::string(name) + "_sum", labels, number(h.sum_seconds));
    sample(std::string(name) + "_count", labels, number(h.count));
  }
  // One sample per pool; nothing at all (not even HELP) when there is no pool yet.
  template <class Value>
  void per_pool(const metrics_snapshot& s, std::string_view name, std::string_view type, std::string_view help,
                Value value) {
    if (s.pools.empty()) return;
    family(name, type, help);
    for (const auto& p : s.pools) sample(name, pool_labels(p), number(value(p)));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_metrics(const metrics_snapshot& s) {
  exposition e;
  e.family("pgfunnel_build_info", "gauge", "pgfunnel build; the version is a label, the value is always 1");
  e.sample("pgfunnel_build_info", fmt::format("version=\"{}\"", escape_label_value(s.version)), "1");

  e.family("pgfunnel_client_connections", "gauge", "Client connections open now, by listener");
  e.sample("pgfunnel_client_connections", "listener=\"pooled\"", number(std::uint64_t{s.pooled_clients}));
  e.sample("pgfunnel_client_connections", "listener=\"direct\"", number(std::uint64_t{s.direct_clients}));

  if (!s.errors.empty()) {
    e.family("pgfunnel_errors_total", "counter",
             "Failures clients were shown, by kind: pool_timeout (query_wait_timeout), max_client_conn, "
             "upstream_refused (PostgreSQL said 53300), upstream_error, login_failed, server_lost");
    for (const auto& [kind, n] : s.errors)
      e.sample("pgfunnel_errors_total", fmt::format("kind=\"{}\"", escape_label_value(kind)), number(n));
  }

  e.family("pgfunnel_upstream_reachable", "gauge", "1 when the last TCP check of the upstream server succeeded");
  e.sample("pgfunnel_upstream_reachable", "", s.upstream_reachable ? "1" : "0");
  e.family("pgfunnel_draining", "gauge", "1 while pgfunnel is shutting down and accepts no new clients");
  e.sample("pgfunnel_draining", "", s.draining ? "1" : "0");
  e.family("pgfunnel_pools", "gauge", "Pools, one per (database, user) seen so far");
  e.sample("pgfunnel_pools", "", number(std::uint64_t{s.pools.size()}));

  if (!s.pools.empty()) {
    e.family("pgfunnel_pool_clients", "gauge",
             "Pooled clients by state: active (holding a server) or waiting (queued for one)");
    for (const auto& p : s.pools) {
      const std::string l = pool_labels(p);
      e.sample("pgfunnel_pool_clients", l + ",state=\"active\"", number(std::uint64_t{p.clients_active}));
      e.sample("pgfunnel_pool_clients", l + ",state=\"waiting\"", number(std::uint64_t{p.clients_waiting}));
    }
    e.family("pgfunnel_pool_servers", "gauge",
             "Server connections by state: active (leased), idle (parked), used (parked past server_check_delay: "
             "checked before reuse), connecting (logging in)");
    for (const auto& p : s.pools) {
      const std::string l = pool_labels(p);
      e.sample("pgfunnel_pool_servers", l + ",state=\"active\"", number(std::uint64_t{p.servers_active}));
      e.sample("pgfunnel_pool_servers", l + ",state=\"idle\"", number(std::uint64_t{p.servers_idle}));
      e.sample("pgfunnel_pool_servers", l + ",state=\"used\"", number(std::uint64_t{p.servers_used}));
      e.sample("pgfunnel_pool_servers", l + ",state=\"connecting\"", number(std::uint64_t{p.servers_connecting}));
    }
  }
  using P = const pool_snapshot&;
  // Pinned servers are also active ones: a family of their own keeps sum(pgfunnel_pool_servers) the total.
  e.per_pool(s, "pgfunnel_pool_servers_pinned", "gauge",
             "Active servers pinned to one client by its session-level advisory locks or session objects",
             [](P p) { return std::uint64_t{p.servers_pinned}; });
  e.per_pool(s, "pgfunnel_pool_servers_pinned_objects", "gauge",
             "Of the pinned servers, those pinned by temp tables, WITH HOLD cursors, SQL PREPARE or LISTEN",
             [](P p) { return std::uint64_t{p.servers_pinned_objects}; });
  e.per_pool(s, "pgfunnel_pool_transactions_total", "counter", "Transactions: leases of a server by a client",
             [](P p) { return p.transactions; });
  e.per_pool(s, "pgfunnel_pool_queries_total", "counter", "Requests answered with ReadyForQuery",
             [](P p) { return p.queries; });
  e.per_pool(s, "pgfunnel_pool_received_bytes_total", "counter", "Bytes pooled clients sent through the relay",
             [](P p) { return p.bytes_received; });
  e.per_pool(s, "pgfunnel_pool_sent_bytes_total", "counter", "Bytes the relay sent to pooled clients",
             [](P p) { return p.bytes_sent; });
  e.per_pool(s, "pgfunnel_pool_transaction_seconds_total", "counter", "Time servers were leased, summed",
             [](P p) { return seconds(p.transaction_time_us); });
  e.per_pool(s, "pgfunnel_pool_query_seconds_total", "counter", "Time servers were busy on requests, summed",
             [](P p) { return seconds(p.query_time_us); });
  e.per_pool(s, "pgfunnel_pool_wait_seconds_total", "counter", "Time clients waited for a server, summed",
             [](P p) { return seconds(p.wait_time_us); });
  e.per_pool(s, "pgfunnel_pool_server_assignments_total", "counter", "Servers handed to clients",
             [](P p) { return p.server_assignments; });
  e.per_pool(s, "pgfunnel_pool_prepared_statement_hits_total", "counter",
             "Named prepared statements already on the leased server", [](P p) { return p.prepared_hits; });
  e.per_pool(s, "pgfunnel_pool_prepared_statement_misses_total", "counter",
             "Named prepared statements parsed on a server (the client's Parse or an injected one)",
             [](P p) { return p.prepared_misses; });
  e.per_pool(s, "pgfunnel_pool_prepared_statement_injections_total", "counter",
             "Parses pgfunnel sent because a client's statement was on another server",
             [](P p) { return p.prepared_injected; });
  e.per_pool(s, "pgfunnel_pool_prepared_statement_evictions_total", "counter",
             "Prepared statements closed to keep a server under max_prepared_statements",
             [](P p) { return p.prepared_evictions; });

  if (!s.pools.empty()) {
    e.family("pgfunnel_pool_wait_duration_seconds", "histogram",
             "Per transaction: how long the client waited for a server");
    for (const auto& p : s.pools) e.histogram("pgfunnel_pool_wait_duration_seconds", pool_labels(p), p.wait_time);
    e.family("pgfunnel_pool_transaction_duration_seconds", "histogram",
             "Per transaction: how long the client held its server");
    for (const auto& p : s.pools)
      e.histogram("pgfunnel_pool_transaction_duration_seconds", pool_labels(p), p.transaction_time);
  }
  return e.take();
}

}  // namespace pgfunnel::http
