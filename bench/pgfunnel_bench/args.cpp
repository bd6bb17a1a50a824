// Table-driven flag parsing: each flag's help line lives next to its parser, so --help cannot miss one.
#include "args.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string_view>
#include <thread>

#include <libpq-fe.h>

namespace bench {
namespace {

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "pgfunnel-bench: %s (try --help)\n", why.c_str());
  std::exit(2);
}

double number(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || d < 0) fail(flag + ": not a non-negative number: '" + v + "'");
  return d;
}

void check_url(const std::string& flag, const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* o = PQconninfoParse(url.c_str(), &err);
  if (o == nullptr) {
    std::string m = err != nullptr ? err : "invalid connection string";
    PQfreemem(err);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    fail(flag + ": bad URL '" + url + "': " + m);
  }
  PQconninfoFree(o);
}

struct flag {
  const char* name;
  const char* arg;  // nullptr: takes no value
  const char* help;
  std::function<void(options&, const std::string&)> set;
};

const std::vector<flag>& flags() {
  static const std::vector<flag> f = {
      {"--compare", "NAME=URL...", "targets run in turn with the same seeded load, shown side by side (repeatable; "
                                   "also takes several NAME=URL after one flag)",
       [](options& o, const std::string& v) {
         const auto eq = v.find('=');
         if (eq == std::string::npos || eq == 0) fail("--compare: expected NAME=URL, got '" + v + "'");
         check_url("--compare", v.substr(eq + 1));
         o.targets.push_back({v.substr(0, eq), v.substr(eq + 1)});
       }},
      {"--admin-url", "URL", "PostgreSQL itself, for sampling backends (pg_stat_activity) and max_connections, and for "
                             "waiting between --compare runs until the previous target's backends are gone",
       [](options& o, const std::string& v) { check_url("--admin-url", v); o.admin_url = v; }},
      {"--pgfunnel-console", "URL|auto|off", "pgfunnel's admin console (database pgbouncer) for SHOW POOLS: "
                                             "cl_waiting, maxwait; auto (default) tries the target's own address",
       [](options& o, const std::string& v) { if (v != "auto" && v != "off") check_url("--pgfunnel-console", v); o.console_url = v; }},
      {"--client", "singleton|per-request", "singleton: one client per instance with a pool of --instance-pool "
                                            "connections (the default); per-request: a new connection per request",
       [](options& o, const std::string& v) { if (v != "singleton" && v != "per-request") fail("--client: singleton or per-request, got '" + v + "'"); o.client = v; }},
      {"--clients", "MODE,MODE", "run every target once per client mode (e.g. per-request,singleton), in that order, "
                                 "named TARGET/MODE",
       [](options& o, const std::string& v) {
         o.clients.clear();
         for (size_t b = 0; b <= v.size();) {
           const size_t e = std::min(v.find(',', b), v.size());
           const std::string m = v.substr(b, e - b);
           if (m != "singleton" && m != "per-request") fail("--clients: singleton or per-request, got '" + m + "'");
           o.clients.push_back(m);
           b = e + 1;
         }
       }},
      {"--instance-pool", "K", "connections in a singleton client's pool (default num_cpus*2+1, Prisma's default)",
       [](options& o, const std::string& v) { o.instance_pool = static_cast<long>(number("--instance-pool", v)); if (o.instance_pool < 1) fail("--instance-pool must be at least 1"); }},
      {"--cold-start", "MS", "delay before a new instance creates its client (default 100)",
       [](options& o, const std::string& v) { o.cold_start_ms = number("--cold-start", v); }},
      {"--instance-lifetime", "S", "an instance takes no new request after S seconds and then closes its "
                                   "connections (default 10)",
       [](options& o, const std::string& v) { o.lifetime_s = number("--instance-lifetime", v); }},
      {"--interval", "MS", "pause between an instance's requests in the closed-loop models (default 0)",
       [](options& o, const std::string& v) { o.interval_ms = number("--interval", v); }},
      {"--rate", "R", "open loop: Poisson arrivals at R requests/s; each goes to an idle instance, else to a new one",
       [](options& o, const std::string& v) { o.rate = number("--rate", v); }},
      {"--burst", "N@T", "N new instances at T seconds, each serving requests back to back (repeatable)",
       [](options& o, const std::string& v) {
         const auto at = v.find('@');
         if (at == std::string::npos) fail("--burst: expected N@T, got '" + v + "'");
         o.bursts.push_back({static_cast<long>(number("--burst", v.substr(0, at))), number("--burst", v.substr(at + 1))});
       }},
      {"--ramp", "N@S", "N instances started linearly over S seconds, each serving requests back to back",
       [](options& o, const std::string& v) {
         const auto at = v.find('@');
         if (at == std::string::npos) fail("--ramp: expected N@S, got '" + v + "'");
         o.ramp_instances = static_cast<long>(number("--ramp", v.substr(0, at)));
         o.ramp_s = number("--ramp", v.substr(at + 1));
       }},
      {"--concurrency", "N", "closed loop: N instances serving requests back to back; one that dies is replaced "
                             "(a new cold start)",
       [](options& o, const std::string& v) { o.concurrency = static_cast<long>(number("--concurrency", v)); }},
      {"--max-instances", "N", "cap on live instances for --rate (default 10000)",
       [](options& o, const std::string& v) { o.max_instances = static_cast<long>(number("--max-instances", v)); }},
      {"--workload", "select1|tpcb-like", "built-in transaction: SELECT 1, or pgbench's TPC-B-like one on "
                                          "pgbench's tables (pgbench -i) (default select1)",
       [](options& o, const std::string& v) { if (v != "select1" && v != "tpcb-like") fail("--workload: select1 or tpcb-like, got '" + v + "'"); o.workload = v; }},
      {"--sql", "FILE", "run FILE's SQL (a simple query; :aid :bid :tid :delta are substituted) as the request",
       [](options& o, const std::string& v) { o.sql_file = v; o.workload = "sql"; }},
      {"--scale", "N", "pgbench scale factor for tpcb-like's random keys (default 1)",
       [](options& o, const std::string& v) { o.scale = static_cast<long>(number("--scale", v)); }},
      {"--think", "MS", "hold each request's transaction open MS milliseconds before COMMIT (default 0)",
       [](options& o, const std::string& v) { o.think_ms = number("--think", v); }},
      {"--duration", "S", "seconds of load (default 10); in-flight requests then finish",
       [](options& o, const std::string& v) { o.duration_s = number("--duration", v); }},
      {"--requests", "N", "stop after N request attempts (and at --duration, whichever comes first)",
       [](options& o, const std::string& v) { o.requests = static_cast<long>(number("--requests", v)); }},
      {"--seed", "N", "random seed: the same seed gives the same arrivals and keys (default 1)",
       [](options& o, const std::string& v) { o.seed = static_cast<unsigned long long>(number("--seed", v)); }},
      {"--connect-timeout", "S", "a connection not up after S seconds fails as connect_timeout (default 10)",
       [](options& o, const std::string& v) { o.connect_timeout_s = number("--connect-timeout", v); }},
      {"--request-timeout", "S", "a request not done after S seconds fails as request_timeout (default 30)",
       [](options& o, const std::string& v) { o.request_timeout_s = number("--request-timeout", v); }},
      {"--pool-timeout", "S", "a singleton client's request waiting S seconds for a pool connection fails as "
                              "pool_timeout (Prisma's P2024; default 10)",
       [](options& o, const std::string& v) { o.pool_timeout_s = number("--pool-timeout", v); }},
      {"--settle-timeout", "S", "longest wait between --compare runs for the backends to go (default 30)",
       [](options& o, const std::string& v) { o.settle_timeout_s = number("--settle-timeout", v); }},
      {"--json", "FILE", "write the results (counts, errors, percentiles, time series) as JSON",
       [](options& o, const std::string& v) { o.json_file = v; }},
      {"--report", "FILE.html", "write a self-contained HTML page with SVG charts over time, one line per target",
       [](options& o, const std::string& v) { o.report_file = v; }},
      {"--quiet", nullptr, "no progress display", [](options& o, const std::string&) { o.quiet = true; }},
      {"--help", nullptr, "this help", nullptr},
  };
  return f;
}

void print_help() {
  std::printf(
      "pgfunnel-bench: serverless load on PostgreSQL or a pooler, with libpq's non-blocking API.\n\n"
      "usage: pgfunnel-bench [options] URL\n"
      "       pgfunnel-bench [options] --compare NAME=URL NAME=URL ...\n\n"
      "Instances cold-start, create their database client, serve requests and die; requests come from\n"
      "--rate, --burst, --ramp or --concurrency (at least one; default --concurrency 10).\n"
      "Exit codes: 0 run done (failed requests are results, not errors), 1 a run could not be made,\n"
      "2 bad arguments.\n\noptions:\n");
  for (const auto& f : flags()) {
    std::string left = f.name;
    if (f.arg != nullptr) left += std::string(" ") + f.arg;
    std::printf("  %-36s %s\n", left.c_str(), f.help);
  }
}

}  // namespace

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") { print_help(); std::exit(0); }
    if (a.rfind("--", 0) != 0) {
      check_url("URL", a);
      o.targets.push_back({"target", a});
      continue;
    }
    const flag* hit = nullptr;
    for (const auto& f : flags()) if (a == f.name) hit = &f;
    if (hit == nullptr || !hit->set) fail("unknown flag '" + a + "'");
    if (hit->arg == nullptr) { hit->set(o, ""); continue; }
    if (i + 1 >= argc) fail(a + " needs a value (" + hit->arg + ")");
    hit->set(o, argv[++i]);
    // --compare takes every following NAME=URL up to the next flag.
    if (a == "--compare")
      while (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) hit->set(o, argv[++i]);
  }
  if (o.targets.empty()) fail("no target URL given");
  if (o.rate == 0 && o.bursts.empty() && o.ramp_instances == 0 && o.concurrency == 0) o.concurrency = 10;
  if (o.instance_pool == 0) o.instance_pool = static_cast<long>(std::max(1u, std::thread::hardware_concurrency())) * 2 + 1;
  return o;
}

}  // namespace bench
