// bench_exhaustion: N concurrent serverless-style invocations (connect, one short transaction, disconnect) against one target.
//
// Usage: bench_exhaustion [options] CONNINFO
//   -n, --clients N     concurrent invocations (default 500)
//   --sql SQL           the transaction each one runs (default "SELECT 1")
//   --threads T         event-loop threads sharing the invocations (default 2)
//   --ramp MS           spread the invocation starts evenly over MS milliseconds (default 0: all at once)
//   --timeout S         an invocation not finished after S seconds counts as failed, "timeout" (default 30)
//   --label NAME        name printed in the report (default "target")
//
// Every invocation is driven by non-blocking libpq (PQconnectStartParams/PQconnectPoll, PQsendQuery)
// from a poll() loop; the T threads each own N/T of them. The latency of an invocation is from the
// start of its connect to its last result (connect + query; disconnect not included).
// Failures are grouped by SQLSTATE: the server's when it sent one (connection errors are read from
// libpq's verbose message), else a client-side class: 08001 (could not connect), 08006 (connection
// lost), "timeout". The last two lines (RESULT, ERRORS) are key=value for scripts.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/resource.h>

#include <libpq-fe.h>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string conninfo;
  long clients = 500;
  std::string sql = "SELECT 1";
  int threads = 2;
  double ramp_ms = 0;
  double timeout_s = 30;
  std::string label = "target";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_exhaustion: %s\n", why);
  std::fprintf(stderr,
               "usage: bench_exhaustion [-n N] [--sql SQL] [--threads T] [--ramp MS] [--timeout S] [--label NAME] "
               "CONNINFO\n");
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value after an option");
      return argv[++i];
    };
    if (a == "-n" || a == "--clients") o.clients = std::atol(value());
    else if (a == "--sql") o.sql = value();
    else if (a == "--threads") o.threads = std::atoi(value());
    else if (a == "--ramp") o.ramp_ms = std::atof(value());
    else if (a == "--timeout") o.timeout_s = std::atof(value());
    else if (a == "--label") o.label = value();
    else if (a == "-h" || a == "--help") usage("help");
    else if (!a.empty() && a[0] == '-') usage("unknown option");
    else o.conninfo = a;
  }
  if (o.conninfo.empty()) usage("no conninfo given");
  if (o.clients < 1 || o.threads < 1 || o.timeout_s <= 0) usage("clients, threads and timeout must be positive");
  o.threads = static_cast<int>(std::min<long>(o.threads, o.clients));
  return o;
}

void raise_nofile(long want) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t need = static_cast<rlim_t>(want) + 64;
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = std::min<rlim_t>(need, rl.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

std::string first_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

// "FATAL:  53300: sorry, too many clients already" (PQERRORS_VERBOSE) -> 53300; client-side errors
// carry no SQLSTATE and are classed the way JDBC/psycopg drivers report them.
std::string classify(const std::string& msg) {
  static const std::regex server_error(R"((?:FATAL|ERROR|PANIC):  ([0-9A-Z]{5}): )");
  std::smatch m;
  if (std::regex_search(msg, m, server_error)) return m[1].str();
  if (msg.find("could not connect") != std::string::npos || msg.find("Connection refused") != std::string::npos ||
      msg.find("could not translate") != std::string::npos)
    return "08001";
  return "08006";
}

std::string_view sqlstate_name(std::string_view code) {
  if (code == "53300") return "too_many_connections";
  if (code == "08006") return "connection_failure";
  if (code == "08001") return "unable_to_establish_connection";
  if (code == "57P03") return "cannot_connect_now";
  if (code == "28P01") return "invalid_password";
  if (code == "57P01") return "admin_shutdown";
  if (code == "timeout") return "no answer within --timeout";
  return "";
}

enum class phase { waiting, connecting, flushing, reading, done };

struct invocation {
  double start_offset_ms = 0;
  phase ph = phase::waiting;
  PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
  PGconn* conn = nullptr;
  clock_type::time_point started;
  std::string error_code;  // set on failure
  std::string error_msg;
  bool ok = false;
  double latency_ms = 0;  // connect + query (ok) or time to the error (failed)
  double connect_ms = 0;
};

struct shared {
  const options* opt;
  clock_type::time_point t0;
};

void run_slice(const shared& sh, std::vector<invocation>& slice) {
  const options& opt = *sh.opt;
  const char* keys[] = {"dbname", nullptr};
  const char* values[] = {opt.conninfo.c_str(), nullptr};
  const auto timeout = std::chrono::duration<double>(opt.timeout_s);
  size_t remaining = slice.size();

  auto finish = [&](invocation& inv, bool ok, std::string code = {}, std::string msg = {}) {
    const auto now = clock_type::now();
    inv.ok = ok;
    inv.latency_ms = std::chrono::duration<double, std::milli>(now - inv.started).count();
    inv.error_code = std::move(code);
    inv.error_msg = first_line(std::move(msg));
    if (inv.conn != nullptr) PQfinish(inv.conn);
    inv.conn = nullptr;
    inv.ph = phase::done;
    --remaining;
  };

  // Reads whatever results are complete; finishes the invocation when the last one is in.
  auto drain = [&](invocation& inv) {
    if (PQconsumeInput(inv.conn) == 0) {
      const std::string m = PQerrorMessage(inv.conn);
      finish(inv, false, classify(m), m);
      return;
    }
    while (PQisBusy(inv.conn) == 0) {
      PGresult* res = PQgetResult(inv.conn);
      if (res == nullptr) {
        if (inv.error_code.empty()) finish(inv, true);
        else finish(inv, false, inv.error_code, inv.error_msg);
        return;
      }
      const ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_FATAL_ERROR && inv.error_code.empty()) {
        const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        inv.error_code = code != nullptr ? code : classify(PQresultErrorMessage(res));
        inv.error_msg = PQresultErrorMessage(res);
      }
      PQclear(res);
    }
  };

  std::vector<pollfd> fds;
  std::vector<invocation*> polled;
  while (remaining > 0) {
    const auto now = clock_type::now();
    const double elapsed_ms = std::chrono::duration<double, std::milli>(now - sh.t0).count();
    double next_start_ms = -1;
    for (auto& inv : slice) {
      if (inv.ph != phase::waiting) continue;
      if (inv.start_offset_ms > elapsed_ms) {
        if (next_start_ms < 0 || inv.start_offset_ms < next_start_ms) next_start_ms = inv.start_offset_ms;
        continue;
      }
      inv.started = clock_type::now();
      inv.conn = PQconnectStartParams(keys, values, 1);
      if (inv.conn == nullptr) {
        finish(inv, false, "08001", "out of memory");
        continue;
      }
      PQsetErrorVerbosity(inv.conn, PQERRORS_VERBOSE);  // puts the SQLSTATE into connection error messages
      if (PQstatus(inv.conn) == CONNECTION_BAD) {
        const std::string m = PQerrorMessage(inv.conn);
        finish(inv, false, classify(m), m);
        continue;
      }
      inv.ph = phase::connecting;
      inv.poll_status = PGRES_POLLING_WRITING;
    }

    fds.clear();
    polled.clear();
    for (auto& inv : slice) {
      short events = 0;
      switch (inv.ph) {
        case phase::connecting: events = inv.poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT; break;
        case phase::flushing: events = POLLIN | POLLOUT; break;
        case phase::reading: events = POLLIN; break;
        default: continue;
      }
      fds.push_back({PQsocket(inv.conn), events, 0});
      polled.push_back(&inv);
    }
    int wait_ms = 50;
    if (next_start_ms >= 0) wait_ms = std::clamp(static_cast<int>(next_start_ms - elapsed_ms), 0, 50);
    if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
      std::perror("poll");
      std::exit(1);
    }

    const auto after = clock_type::now();
    for (size_t i = 0; i < polled.size(); ++i) {
      invocation& inv = *polled[i];
      const short rev = fds[i].revents;
      if (rev != 0) {
        if (inv.ph == phase::connecting) {
          inv.poll_status = PQconnectPoll(inv.conn);
          if (inv.poll_status == PGRES_POLLING_FAILED) {
            const std::string m = PQerrorMessage(inv.conn);
            finish(inv, false, classify(m), m);
            continue;
          }
          if (inv.poll_status == PGRES_POLLING_OK) {
            inv.connect_ms = std::chrono::duration<double, std::milli>(clock_type::now() - inv.started).count();
            PQsetnonblocking(inv.conn, 1);
            if (PQsendQuery(inv.conn, opt.sql.c_str()) == 0) {
              const std::string m = PQerrorMessage(inv.conn);
              finish(inv, false, classify(m), m);
              continue;
            }
            inv.ph = phase::flushing;
          }
        } else if (inv.ph == phase::reading) {
          drain(inv);
        }
        if (inv.ph == phase::flushing) {
          const int f = PQflush(inv.conn);
          if (f < 0) {
            const std::string m = PQerrorMessage(inv.conn);
            finish(inv, false, classify(m), m);
            continue;
          }
          if (f == 0) {
            inv.ph = phase::reading;
            if (rev & POLLIN) drain(inv);
          }
        }
      }
      if (inv.ph != phase::done && after - inv.started > timeout)
        finish(inv, false, "timeout", "not done after " + std::to_string(opt.timeout_s) + "s");
    }
  }
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  raise_nofile(opt.clients);

  std::vector<invocation> all(static_cast<size_t>(opt.clients));
  for (size_t i = 0; i < all.size(); ++i)
    all[i].start_offset_ms = opt.ramp_ms * static_cast<double>(i) / static_cast<double>(all.size());

  // Interleave the invocations over the threads, so a ramp is spread evenly over them.
  std::vector<std::vector<invocation>> slices(static_cast<size_t>(opt.threads));
  for (size_t i = 0; i < all.size(); ++i) slices[i % slices.size()].push_back(all[i]);

  shared sh{&opt, clock_type::now()};
  std::vector<std::thread> threads;
  for (auto& s : slices) threads.emplace_back([&sh, &s] { run_slice(sh, s); });
  for (auto& t : threads) t.join();
  const double wall_s = std::chrono::duration<double>(clock_type::now() - sh.t0).count();

  std::vector<double> ok_lat, ok_conn, fail_lat;
  std::map<std::string, std::pair<long, std::string>> errors;  // code -> (count, example)
  for (auto& s : slices)
    for (auto& inv : s) {
      if (inv.ok) {
        ok_lat.push_back(inv.latency_ms);
        ok_conn.push_back(inv.connect_ms);
      } else {
        fail_lat.push_back(inv.latency_ms);
        auto& e = errors[inv.error_code];
        if (e.first++ == 0) e.second = inv.error_msg;
      }
    }
  std::sort(ok_lat.begin(), ok_lat.end());
  std::sort(ok_conn.begin(), ok_conn.end());
  std::sort(fail_lat.begin(), fail_lat.end());

  std::printf("== %s: %ld concurrent invocations (connect, \"%s\", disconnect), %d threads, ramp %.0f ms\n",
              opt.label.c_str(), opt.clients, opt.sql.c_str(), opt.threads, opt.ramp_ms);
  std::printf("ok %zu, failed %zu, wall %.2f s\n", ok_lat.size(), fail_lat.size(), wall_s);
  if (!ok_lat.empty()) {
    std::printf("ok latency (connect+query) ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n", percentile(ok_lat, 50),
                percentile(ok_lat, 95), percentile(ok_lat, 99), ok_lat.back());
    std::printf("ok connect-only ms:            p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n", percentile(ok_conn, 50),
                percentile(ok_conn, 95), percentile(ok_conn, 99), ok_conn.back());
  }
  if (!fail_lat.empty())
    std::printf("time to failure ms:            p50 %.1f  max %.1f\n", percentile(fail_lat, 50), fail_lat.back());
  for (const auto& [code, e] : errors) {
    const auto name = sqlstate_name(code);
    std::printf("  %-7s %-31s %6ld   e.g. %s\n", code.c_str(), name.empty() ? "-" : std::string(name).c_str(),
                e.first, e.second.c_str());
  }
  std::printf(
      "RESULT label=%s n=%ld ok=%zu failed=%zu wall_s=%.3f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f "
      "fail_p50_ms=%.1f\n",
      opt.label.c_str(), opt.clients, ok_lat.size(), fail_lat.size(), wall_s, percentile(ok_lat, 50),
      percentile(ok_lat, 95), percentile(ok_lat, 99), ok_lat.empty() ? 0.0 : ok_lat.back(), percentile(fail_lat, 50));
  std::printf("ERRORS label=%s", opt.label.c_str());
  for (const auto& [code, e] : errors) std::printf(" %s=%ld", code.c_str(), e.first);
  std::printf("\n");
  return 0;
}
