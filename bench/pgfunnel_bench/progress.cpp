// Live progress: one rewritten line on a TTY, a plain line every 5 s otherwise.
#include <cstdio>

#include "outputs.hpp"

namespace bench {

void print_progress(const run_result& r, double t, bool tty) {
  const auto& s = r.series.back();
  if (!tty && static_cast<long>(t + 0.5) % 5 != 0) return;
  histogram recent;
  for (size_t i = r.series.size() >= 3 ? r.series.size() - 3 : 0; i < r.series.size(); ++i) recent.merge(r.series[i].latency);
  std::string errs;
  const char* shortname[] = {"53300", "qwt", "conn_to", "08006", "pool_to", "req_to", "other"};
  for (int k = 0; k < kind_count; ++k)
    if (r.by_kind[k] > 0) errs += std::string(" ") + shortname[k] + "=" + std::to_string(r.by_kind[k]);
  std::fprintf(stderr, "%s[%5.1fs] %s: instances %ld, in flight %ld, ok/s %ld, ok %ld, errors%s, p99 %.1f ms%s",
               tty ? "\r\033[K" : "", t, r.name.c_str(), s.instances, s.in_flight, s.ok, r.successes,
               errs.empty() ? " 0" : errs.c_str(), recent.percentile_ms(99), tty ? "" : "\n");
  std::fflush(stderr);
}

void end_progress(bool tty) {
  if (tty) std::fprintf(stderr, "\n");
}

}  // namespace bench
