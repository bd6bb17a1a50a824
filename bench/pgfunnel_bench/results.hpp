// What one run against one target measured: counts, failures by SQLSTATE and message, histograms, per-second series.
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace bench {

// Failure kinds shown in progress and charts; the exact SQLSTATE + message is kept as well.
enum kind { too_many_clients, query_wait_timeout, connect_timeout, connection_failure, pool_timeout, request_timeout, other, kind_count };
inline const char* kind_name(int k) {
  static const char* n[] = {"53300_too_many_clients", "query_wait_timeout", "connect_timeout", "08006_connection_failure",
                            "pool_timeout", "request_timeout", "other"};
  return n[k];
}
// "FATAL:  53300: sorry, too many clients already" -> code 53300, message, kind.
struct failure { std::string code, message; int k = other; };
failure classify(const std::string& libpq_message, const char* sqlstate_or_null);

struct second {
  long ok = 0, attempts = 0, instances = 0, in_flight = 0;
  std::array<long, kind_count> errors{};
  histogram latency;
  int backends = -1, cl_waiting = -1;
  double maxwait_s = -1;
};

struct run_result {
  std::string name, url, client;
  long attempts = 0, successes = 0, failures = 0, instances_started = 0;
  std::array<long, kind_count> by_kind{};
  std::map<std::pair<std::string, std::string>, long> errors;  // (sqlstate, message) -> count
  histogram connect, request;
  double elapsed_s = 0;
  int backends_peak = -1, max_connections = -1, cl_waiting_peak = -1;
  double maxwait_peak_s = -1;
  bool console = false;
  std::vector<second> series;
};

}  // namespace bench
