// Runs the real pgfunnel executable for a test: OS-picked ports, captured log, stopped at scope end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace pgfunnel::test {

// For a forked child about to exec pgfunnel: every signal at its default action and none blocked,
// as systemd, Docker and Kubernetes start a service (`env --default-signal=PIPE`), whatever this
// test process inherited. A write that raises SIGPIPE then kills pgfunnel here as it would there.
void start_as_a_service_would();

// The pgfunnel binary under test ($PGFUNNEL_EXE, else the build's).
std::string pgfunnel_executable();

class pgfunnel_process {
 public:
  // Starts `PGFUNNEL_EXE` with `args` (plus --listen-pooled/--listen-direct/--listen-http 127.0.0.1:0
  // unless the args name them) and waits until every enabled listener is up. Throws std::runtime_error with the log
  // when it exits or does not come up within 20 s.
  explicit pgfunnel_process(std::vector<std::string> args);
  ~pgfunnel_process();
  pgfunnel_process(const pgfunnel_process&) = delete;
  pgfunnel_process& operator=(const pgfunnel_process&) = delete;

  std::uint16_t pooled_port() const { return pooled_port_; }
  std::uint16_t direct_port() const { return direct_port_; }
  std::uint16_t http_port() const { return http_port_; }  // /metrics, /healthz, /readyz; 0 when off
  pid_t pid() const { return pid_; }

  // libpq conninfo for each listener.
  std::string pooled_conninfo(std::string_view user = "postgres", std::string_view password = "postgres",
                              std::string_view db = "postgres") const;
  std::string direct_conninfo(std::string_view user = "postgres", std::string_view password = "postgres",
                              std::string_view db = "postgres") const;

  std::string log() const;  // everything it wrote to stdout/stderr so far
  // Waits up to `timeout_ms` for `needle` to appear in the log.
  bool wait_for_log(std::string_view needle, int timeout_ms = 5000) const;

  // Still running: not exited or killed (a zombie not yet reaped counts as ended).
  bool alive() const;
  void signal(int sig) const;
  // Waits for exit, up to timeout_ms; returns the exit status (as waitpid) or -1 on timeout.
  int wait_exit(int timeout_ms);
  void stop();  // SIGINT (exit once no server is leased), then SIGKILL after 5 s

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::uint16_t pooled_port_ = 0;
  std::uint16_t direct_port_ = 0;
  std::uint16_t http_port_ = 0;
};

}  // namespace pgfunnel::test
