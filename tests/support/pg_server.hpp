// Test fixture: a throwaway PostgreSQL 15 server (scram-sha-256 over TCP on 127.0.0.1) per test process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace pgfunnel::test {

struct pg_options {
  int max_connections = 100;
  // Extra postgresql.conf lines, e.g. "log_connections = on"; they come last, so they win.
  std::vector<std::string> extra_conf;
};

// initdb (from a per-build cached template) + pg_ctl start on a free port; stopped and removed on
// destruction. Superuser "postgres", password "postgres" (SCRAM), database "postgres". As root,
// PostgreSQL runs as the "postgres" OS user (it refuses to run as root).
class pg_server {
 public:
  // Throws std::runtime_error carrying the server log's tail when the server does not come up.
  explicit pg_server(pg_options opts = {});
  ~pg_server();
  pg_server(const pg_server&) = delete;
  pg_server& operator=(const pg_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  // The directory of the server's Unix socket ("local all all trust" applies there).
  std::string socket_dir() const { return root_; }

  // postgres://user:password@127.0.0.1:port/db (percent-encoded).
  std::string url(std::string_view user = "postgres", std::string_view password = "postgres",
                  std::string_view db = "postgres") const;
  // host=127.0.0.1 port=... user=... password=... dbname=... (values quoted where libpq needs it).
  std::string conninfo(std::string_view user = "postgres", std::string_view password = "postgres",
                       std::string_view db = "postgres") const;

  // Superuser SQL on a fresh connection each time (no fixture session lingers in
  // pg_stat_activity between calls). Both throw std::runtime_error on any error.
  void exec(std::string_view sql);
  std::string query_value(std::string_view sql);  // first column of the first row; "" for NULL

  void stop();     // pg_ctl -m fast; no-op when stopped
  void start();    // pg_ctl start on the same port
  void restart();  // stop + start, same port
  bool running() const { return running_; }

  std::string data_dir() const { return root_ + "/data"; }
  std::string log_path() const { return root_ + "/postgres.log"; }

 private:
  void start_once();
  std::string log_tail_since(long long offset, int max_lines = 60) const;

  pg_options opts_;
  pid_t owner_pid_;   // a forked child (gtest death test) must not stop its parent's server
  std::string root_;  // <base>/<pid>-<n>: data/, the socket, postgres.log
  std::uint16_t port_ = 0;
  bool running_ = false;
  int watchdog_fd_ = -1;    // write end held open; its closing (our death) wakes the watchdog
  pid_t watchdog_pid_ = -1;
};

// One server per test process, started on first use, stopped at exit.
pg_server& shared_pg();

// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (tests open thousands of
// sockets); pg_server's constructor calls it, tests without a server may call it themselves.
void raise_nofile_limit();

}  // namespace pgfunnel::test
