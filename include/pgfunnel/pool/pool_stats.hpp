// Per-pool activity totals and latency histograms: what SHOW STATS, SHOW POOLS and /metrics read.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace pgfunnel::pool {

// A latency histogram with fixed bucket bounds (seconds), updated lock-free from any thread.
// Bounds follow Prometheus' usual spread from 100 µs to 60 s.
class latency_histogram {
 public:
  static constexpr std::array<double, 14> bounds = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                    0.05,   0.1,    0.25,  0.5,    1,     5,     60};

  void observe(std::chrono::microseconds d) noexcept {
    const double seconds = static_cast<double>(d.count()) / 1e6;
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);  // i == bounds.size(): +Inf only
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  }
  // Observations ≤ bounds[i] (cumulative, as Prometheus wants).
  std::uint64_t cumulative(std::size_t i) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t j = 0; j <= i && j < buckets_.size(); ++j) n += buckets_[j].load(std::memory_order_relaxed);
    return n;
  }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t sum_us() const noexcept { return sum_us_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

// Totals since the pool was created, PgBouncer's SHOW STATS meanings: a transaction is one lease
// of a server by a client; a query is one request answered with ReadyForQuery; bytes count what
// clients sent (received) and were sent (sent) through the pooled relay; times are microseconds.
struct pool_stats {
  std::atomic<std::uint64_t> xact_count{0};
  std::atomic<std::uint64_t> query_count{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> xact_time_us{0};   // leases, from acquire to release
  std::atomic<std::uint64_t> query_time_us{0};  // time a server was busy on a request
  std::atomic<std::uint64_t> wait_time_us{0};   // clients waiting for a server
  std::atomic<std::uint64_t> server_assignments{0};
  latency_histogram wait_time;  // per lease: how long the client waited for its server
  latency_histogram xact_time;  // per lease: how long it held the server
};

}  // namespace pgfunnel::pool
