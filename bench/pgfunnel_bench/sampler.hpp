// A thread sampling PostgreSQL's backends (admin URL) and pgfunnel's SHOW POOLS (console URL) every 200 ms.
#pragma once
#include <atomic>
#include <string>
#include <thread>

namespace bench {

class sampler {
 public:
  sampler(std::string admin_url, std::string console_url);
  ~sampler();
  // Largest values since the last take (-1: not sampled); the main loop calls it once a second.
  int take_backends() { return backends_window_.exchange(-1); }
  int take_cl_waiting() { return waiting_window_.exchange(-1); }
  double take_maxwait() { return maxwait_window_.exchange(-1); }
  int max_connections() const { return max_connections_; }
  bool console_ok() const { return console_ok_; }

 private:
  void loop();
  std::string admin_, console_;
  std::atomic<bool> stop_{false};
  std::atomic<int> backends_window_{-1}, waiting_window_{-1};
  std::atomic<double> maxwait_window_{-1};
  std::atomic<int> max_connections_{-1};
  std::atomic<bool> console_ok_{false};
  std::thread thread_;
};

// Client backends other than the asking one, or -1 when the URL does not answer.
int count_backends(const std::string& admin_url);
// The console URL for a target: given, or the target's address with dbname=pgbouncer when it answers SHOW POOLS.
std::string detect_console(const std::string& setting, const std::string& target_url);

}  // namespace bench
