// Command-line options of pgfunnel-bench: the load model, the targets, the outputs.
#pragma once
#include <string>
#include <vector>

namespace bench {

struct burst { long instances; double at_s; };
struct target { std::string name, url; };

struct options {
  std::vector<target> targets;
  std::string admin_url, console_url = "auto";
  std::string client = "singleton";  // or per-request
  std::vector<std::string> clients;   // --clients: every target once per mode
  long instance_pool = 0;             // 0: num_cpus*2+1, Prisma's default
  double cold_start_ms = 100, lifetime_s = 10, interval_ms = 0;
  double rate = 0;                    // open loop, requests/s
  std::vector<burst> bursts;
  long ramp_instances = 0; double ramp_s = 0;
  long concurrency = 0;
  std::string workload = "select1", sql_file;
  double think_ms = 0;
  double duration_s = 10; long requests = 0;
  unsigned long long seed = 1;
  double connect_timeout_s = 10, request_timeout_s = 30, pool_timeout_s = 10, settle_timeout_s = 30;
  long scale = 1, max_instances = 10000;
  std::string json_file, report_file;
  bool quiet = false;
};

// Parses argv; on a bad flag or URL prints one line to stderr and exits 2; --help prints the help and exits 0.
options parse_args(int argc, char** argv);

}  // namespace bench
