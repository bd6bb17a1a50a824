// Prometheus text exposition of pgfunnel's figures, rendered from a plain snapshot (sans-io, no Asio).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgfunnel::http {

// One latency histogram as read at snapshot time. `cumulative[i]` counts observations ≤ bounds[i];
// `count` is the +Inf bucket. The collector derives count from the buckets it read, so a scrape
// racing an observation still shows buckets that add up.
struct histogram_snapshot {
  std::vector<double> bounds;  // seconds, ascending, without +Inf
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

// One pool, (database, user), with pool_stats' and statement_stats' meanings.
struct pool_snapshot {
  std::string database;
  std::string user;
  unsigned clients_active = 0;  // holding a server (one per leased server)
  unsigned clients_waiting = 0;
  unsigned servers_active = 0;  // leased
  unsigned servers_idle = 0;    // parked, not due a check
  unsigned servers_used = 0;    // parked, idle past server_check_delay: checked before reuse (PgBouncer's sv_used)
  unsigned servers_connecting = 0;
  unsigned servers_pinned = 0;  // leased and held by one client for its advisory locks or session objects
  unsigned servers_pinned_objects = 0;  // ... of which for session objects (temp tables, LISTEN, ...)
  std::uint64_t transactions = 0;
  std::uint64_t queries = 0;
  std::uint64_t bytes_received = 0;  // from clients
  std::uint64_t bytes_sent = 0;      // to clients
  std::uint64_t transaction_time_us = 0;
  std::uint64_t query_time_us = 0;
  std::uint64_t wait_time_us = 0;
  std::uint64_t server_assignments = 0;
  std::uint64_t prepared_hits = 0;
  std::uint64_t prepared_misses = 0;
  std::uint64_t prepared_injected = 0;
  std::uint64_t prepared_evictions = 0;
  histogram_snapshot wait_time;
  histogram_snapshot transaction_time;
};

struct metrics_snapshot {
  std::string version;
  unsigned pooled_clients = 0;  // client connections on the pooled listener
  unsigned direct_clients = 0;
  std::vector<std::pair<std::string, std::uint64_t>> errors;  // kind, count
  bool upstream_reachable = false;
  bool draining = false;
  std::vector<pool_snapshot> pools;
};

// The whole /metrics body (text format 0.0.4): each family's HELP and TYPE once, its samples
// together, families with no samples left out.
std::string render_metrics(const metrics_snapshot& snapshot);

// The Content-Type that goes with render_metrics().
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// A label value with \, " and newline escaped, as the text format requires.
std::string escape_label_value(std::string_view value);

}  // namespace pgfunnel::http
