// bench_idle_clients: opens N libpq connections (non-blocking, bounded in flight), holds them idle, closes them.
//
// Usage: bench_idle_clients [options] CONNINFO
//   -n, --count N        connections to open (default 1000)
//   --inflight K         most connection attempts in progress at once (default 200)
//   --hold SECONDS       hold for this long, then close (default: until stdin closes)
//   --connect-timeout S  give up on an attempt after this long (default 60)
//
// Prints "connected N" on stdout once every attempt has finished (N = successes), "failed M" plus the
// most common error messages on stderr when some failed. While holding, a connection the server closes
// is reported on stderr ("lost ..."). On the way out it prints "lost L" (total) and "closed N".
// Exit status: 0 when every connection was made and none was lost, 1 otherwise, 2 on a usage error.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libpq-fe.h>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::string conninfo;
  long count = 1000;
  long inflight = 200;
  double hold = -1;  // < 0: until stdin closes
  double connect_timeout = 60;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_idle_clients: %s\n", why);
  std::fprintf(stderr,
               "usage: bench_idle_clients [-n N] [--inflight K] [--hold SECONDS] [--connect-timeout S] CONNINFO\n");
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
    if (a == "-n" || a == "--count") o.count = std::atol(value());
    else if (a == "--inflight") o.inflight = std::atol(value());
    else if (a == "--hold") o.hold = std::atof(value());
    else if (a == "--connect-timeout") o.connect_timeout = std::atof(value());
    else if (a == "-h" || a == "--help") usage("help");
    else if (!a.empty() && a[0] == '-') usage("unknown option");
    else o.conninfo = a;
  }
  if (o.conninfo.empty()) usage("no conninfo given");
  if (o.count < 1 || o.inflight < 1) usage("count and inflight must be positive");
  return o;
}

// Every connection needs a descriptor: raise the soft limit as far as the hard one allows.
void raise_nofile(long want) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t need = static_cast<rlim_t>(want) + 64;
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = std::min<rlim_t>(need, rl.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < need)
    std::fprintf(stderr, "bench_idle_clients: warning: RLIMIT_NOFILE %llu < %llu needed\n",
                 static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(need));
}

std::string first_line(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

struct attempt {
  PGconn* conn;
  PostgresPollingStatusType status;
  clock_type::time_point started;
};

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  raise_nofile(opt.count);

  const char* keys[] = {"dbname", nullptr};
  const char* values[] = {opt.conninfo.c_str(), nullptr};

  std::vector<PGconn*> ready;
  ready.reserve(static_cast<size_t>(opt.count));
  std::vector<attempt> pending;
  std::map<std::string, long> errors;
  long started = 0, failed = 0;
  const auto t0 = clock_type::now();
  const auto timeout = std::chrono::duration<double>(opt.connect_timeout);

  auto fail = [&](PGconn* c, const std::string& why) {
    ++errors[why];
    ++failed;
    PQfinish(c);
  };

  while (started < opt.count || !pending.empty()) {
    while (started < opt.count && static_cast<long>(pending.size()) < opt.inflight) {
      ++started;
      PGconn* c = PQconnectStartParams(keys, values, 1);
      if (c == nullptr) {
        ++errors["out of memory"];
        ++failed;
        continue;
      }
      if (PQstatus(c) == CONNECTION_BAD) {
        fail(c, first_line(PQerrorMessage(c)));
        continue;
      }
      pending.push_back({c, PGRES_POLLING_WRITING, clock_type::now()});
    }
    if (pending.empty()) break;

    std::vector<pollfd> fds(pending.size());
    for (size_t i = 0; i < pending.size(); ++i) {
      fds[i].fd = PQsocket(pending[i].conn);
      fds[i].events = pending[i].status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      fds[i].revents = 0;
    }
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
      std::perror("poll");
      return 1;
    }
    const auto now = clock_type::now();
    std::vector<attempt> still;
    still.reserve(pending.size());
    for (size_t i = 0; i < pending.size(); ++i) {
      attempt a = pending[i];
      if (fds[i].revents != 0) a.status = PQconnectPoll(a.conn);
      if (a.status == PGRES_POLLING_OK) {
        ready.push_back(a.conn);
      } else if (a.status == PGRES_POLLING_FAILED) {
        fail(a.conn, first_line(PQerrorMessage(a.conn)));
      } else if (now - a.started > timeout) {
        fail(a.conn, "timeout: not connected after " + std::to_string(opt.connect_timeout) + "s");
      } else {
        still.push_back(a);
      }
    }
    pending.swap(still);
  }

  const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (failed > 0) {
    std::fprintf(stderr, "failed %ld\n", failed);
    for (const auto& [msg, n] : errors) std::fprintf(stderr, "  %ld x %s\n", n, msg.c_str());
  }
  std::fprintf(stderr, "bench_idle_clients: %zu of %ld connected in %.2fs\n", ready.size(), opt.count, secs);
  std::printf("connected %zu\n", ready.size());
  std::fflush(stdout);

  // Hold: wait for stdin to close (or the hold time to pass), watching for connections the server drops.
  long lost = 0;
  {
    std::vector<pollfd> fds(ready.size() + 1);
    const auto hold_until = clock_type::now() + std::chrono::duration<double>(opt.hold < 0 ? 0 : opt.hold);
    bool stdin_open = opt.hold < 0;
    for (;;) {
      int wait_ms = 1000;
      if (opt.hold >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(hold_until - clock_type::now());
        if (left.count() <= 0) break;
        wait_ms = static_cast<int>(std::min<long long>(left.count(), 1000));
      }
      fds[0] = {stdin_open ? 0 : -1, POLLIN, 0};
      for (size_t i = 0; i < ready.size(); ++i)
        fds[i + 1] = {ready[i] != nullptr ? PQsocket(ready[i]) : -1, POLLIN, 0};
      if (::poll(fds.data(), fds.size(), wait_ms) < 0) {
        if (errno == EINTR) continue;
        std::perror("poll");
        break;
      }
      if (stdin_open && fds[0].revents != 0) {
        char buf[256];
        const ssize_t n = ::read(0, buf, sizeof buf);
        if (n <= 0) break;  // stdin closed: done holding
      }
      for (size_t i = 0; i < ready.size(); ++i) {
        if (fds[i + 1].revents == 0 || ready[i] == nullptr) continue;
        PGconn* c = ready[i];
        PQconsumeInput(c);
        while (PGnotify* n = PQnotifies(c)) PQfreemem(n);
        if (PQstatus(c) == CONNECTION_BAD) {
          ++lost;
          std::fprintf(stderr, "lost connection %zu: %s\n", i, first_line(PQerrorMessage(c)).c_str());
          PQfinish(c);
          ready[i] = nullptr;
        }
      }
    }
  }

  long closed = 0;
  for (PGconn* c : ready) {
    if (c == nullptr) continue;
    PQfinish(c);
    ++closed;
  }
  std::printf("lost %ld\nclosed %ld\n", lost, closed);
  std::fflush(stdout);
  return failed == 0 && lost == 0 ? 0 : 1;
}
