// Runs client-driver programs (node, python, java) for integration tests: capture, timeout, server-connection sampling.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace pgfunnel::test {

struct program_result {
  int status = -1;  // as waitpid; -1 when it had to be killed at the timeout
  bool timed_out = false;
  std::chrono::seconds timeout{0};
  std::string output;  // stdout and stderr, interleaved

  bool exited_ok() const;
  std::string describe() const;
};

// fork/exec `argv` (PATH lookup) in `cwd`, stdout+stderr into one pipe, stdin from /dev/null.
// The child leads its own process group, so a timeout kills everything it started. `env` entries
// ("NAME=value") are added to the child's environment.
program_result run_program(const std::vector<std::string>& argv, const std::string& cwd,
                           std::chrono::seconds timeout = std::chrono::seconds(90),
                           const std::vector<std::string>& env = {});

bool file_exists(const std::string& path);
bool has_line_starting_with(const std::string& text, const std::string& prefix);

// The pgfunnel log is long at debug level: every warning/error line, then the last lines.
std::string log_excerpt(const std::string& log, size_t tail_lines = 150);

// The established TCP connections `pid` holds to `port` on 127.0.0.1 (its socket inodes matched
// against /proc/<pid>/net/tcp): pgfunnel's own server connections, never the fixture's.
int upstream_connections(pid_t pid, std::uint16_t port);
// The same connections as socket inodes, so a sampler can tell lasting ones from passing ones.
std::set<unsigned long> upstream_sockets(pid_t pid, std::uint16_t port);

// Samples every 10 ms while alive and keeps the largest count of server connections: sockets seen
// in two consecutive samples. A CancelRequest pgfunnel forwards is a connection to the same port
// that lives for one round trip; it is not a server connection and must not count as one.
class upstream_sampler {
 public:
  upstream_sampler(pid_t pid, std::uint16_t port);
  ~upstream_sampler();
  upstream_sampler(const upstream_sampler&) = delete;
  upstream_sampler& operator=(const upstream_sampler&) = delete;

  int max() const { return max_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> max_{0};
  std::thread thread_;  // last: starts after the counters exist
};

}  // namespace pgfunnel::test
